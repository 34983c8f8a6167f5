"""Machine-readable errors: --error-format json prints every input error as one JSON object
a line on stderr (file, line, column, json_path, code, severity, message), check's
--format json implies it, github prints workflow annotations; and one error style: the
same malformed snapshot gives the same file:line:col and message from check and validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"
FLEET = ROOT / "examples" / "fleet.json"
INVALID = ROOT / "tests" / "data" / "invalid"
KEYS = ["file", "line", "column", "json_path", "code", "severity", "message"]

MALFORMED = (
    '{"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",\n'
    ' "taken_at": "2026-11-20T06:00:00Z",\n'
    ' "hosts": [\n'
    '  {"id": "a", x}\n'
    ' ]}\n'
)
WRONG_TYPE = MALFORMED.replace('{"id": "a", x}', '{"id": "a", "findings": 3}')


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["--no-config", *args], input=stdin, catch_exceptions=False)


def records(stderr: str) -> list[dict[str, object]]:
    lines = stderr.splitlines()
    assert lines, "no error printed"
    out = [json.loads(line) for line in lines]  # every line is one JSON object
    for r in out:
        assert list(r) == KEYS
    return out


@pytest.fixture()
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.json").write_text(MALFORMED)
    (tmp_path / "wrong.json").write_text(WRONG_TYPE)
    return tmp_path


def test_one_style_for_a_malformed_snapshot(here: Path) -> None:
    checked = run("check", "-p", str(POLICIES), "-s", "bad.json")
    validated = run("validate", "bad.json")
    piped = run("check", "-p", str(POLICIES), "-s", "-", stdin=MALFORMED)
    message = "malformed JSON: object keys must be strings"
    assert checked.exit_code == validated.exit_code == piped.exit_code == 2
    assert checked.stderr == f"error: bad.json:4:15: {message}\n"
    assert validated.stderr == f"bad.json:4:15: {message}\n1 error in 1 file(s)\n"
    assert piped.stderr == f"error: <stdin>:4:15: {message}\n"
    # As JSON, the same record from both commands.
    a = records(run("check", "-p", str(POLICIES), "-s", "bad.json", "--error-format", "json").stderr)
    b = records(run("validate", "--error-format", "json", "bad.json").stderr)
    assert a == b == [{"file": "bad.json", "line": 4, "column": 15, "json_path": None,
                       "code": "snapshot", "severity": "error", "message": message}]


def test_schema_errors_point_at_the_value_in_both(here: Path) -> None:
    checked = records(run("check", "-p", str(POLICIES), "-s", "wrong.json",
                          "--error-format", "json").stderr)
    validated = records(run("validate", "--error-format", "json", "wrong.json").stderr)
    assert checked[0]["json_path"] == "$.hosts[0].findings"
    assert validated[0]["json_path"] == "$.hosts[0].findings"
    assert (checked[0]["file"], checked[0]["line"]) == (validated[0]["file"], validated[0]["line"]) \
        == ("wrong.json", 4)


def test_check_format_json_implies_json_errors(here: Path) -> None:
    implied = run("check", "-p", str(POLICIES), "-s", "bad.json", "--format", "json")
    assert implied.exit_code == 2 and implied.stdout == ""
    assert records(implied.stderr)[0]["code"] == "snapshot"
    chosen = run("check", "-p", str(POLICIES), "-s", "bad.json", "--format", "json",
                 "--error-format", "text")
    assert chosen.stderr.startswith("error: bad.json:4:15: ")
    # Before the command too.
    group = run("--error-format", "json", "check", "-p", str(POLICIES), "-s", "bad.json")
    assert records(group.stderr)[0]["line"] == 4


def test_policy_errors_as_json_with_their_json_path() -> None:
    result = run("validate", "--error-format", "json", str(INVALID))
    assert result.exit_code == 2
    found = records(result.stderr)
    assert len(found) >= 25
    assert all(r["severity"] in ("error", "warning") for r in found)
    by_file = {Path(str(r["file"])).name: r for r in found}
    typo = by_file["typo-key-whithin.yaml"]
    assert typo["line"] and typo["column"] and typo["code"] == "invalid"
    assert str(typo["json_path"]).startswith("$.spec.rules[")
    assert "unknown key 'whithin'" in str(typo["message"])
    # Each record says what the text form says, at the same place.
    text = run("validate", str(INVALID)).stderr
    for r in found:
        assert f"{r['file']}:{r['line']}:{r['column']}: " in text or f"{r['file']}: " in text


def test_expression_and_file_errors_as_json(tmp_path: Path) -> None:
    missing = records(run("check", "-p", str(POLICIES), "-s", str(tmp_path / "nope.json"),
                          "--error-format", "json").stderr)
    assert missing == [{"file": str(tmp_path / "nope.json"), "line": None, "column": None,
                        "json_path": None, "code": "snapshot", "severity": "error",
                        "message": "cannot read snapshot: No such file or directory"}]
    cel = records(run("check", "-p", str(INVALID / "cel-non-bool.yaml"), "-s", str(FLEET),
                      "--error-format", "json").stderr)
    assert cel[0]["line"] == 9 and cel[0]["column"] == 13
    assert "expression must return bool" in str(cel[0]["message"])


def test_usage_errors_as_json() -> None:
    for args in (["check", "-p", str(POLICIES), "--bogus", "--error-format", "json"],
                 ["--error-format", "json", "check", "-p", str(POLICIES)],
                 ["--error-format=json", "nosuchcommand"],
                 ["check", "--format", "json", "-p", str(POLICIES)]):
        result = run(*args)
        assert result.exit_code == 2
        (record,) = records(result.stderr)
        assert record["code"] == "usage" and record["file"] is None
    assert "Usage:" in run("check", "--bogus").stderr  # the text form stays click's


def test_warnings_are_records_too(tmp_path: Path) -> None:
    # A policy whose scope matches no host: with --allow-empty-scope a warning, not an
    # error, and on stderr a record like the errors, not a bare text line.
    policies = tmp_path / "policies"
    policies.mkdir()
    pci = (POLICIES / "pci.yaml").read_text()
    assert "scope: '\"cde\" in host.tags'" in pci
    (policies / "pci.yaml").write_text(pci.replace('"cde" in host.tags', '"nowhere" in host.tags'))
    text = run("check", "-p", str(policies), "-s", str(FLEET), "--allow-empty-scope",
               "--format", "sarif")
    assert text.stderr.strip(), "the empty scope is said"
    result = run("check", "-p", str(policies), "-s", str(FLEET), "--allow-empty-scope",
                 "--format", "json")
    warnings = records(result.stderr)
    assert [w["severity"] for w in warnings] == ["warning"] * len(text.stderr.splitlines())
    assert all("pci-dss" in str(w["message"]) for w in warnings)


def test_github_annotations(here: Path) -> None:
    result = run("check", "-p", str(POLICIES), "-s", "bad.json", "--error-format", "github")
    assert result.stderr == ("::error file=bad.json,line=4,col=15,title=patchpolicy snapshot::"
                             "malformed JSON: object keys must be strings\n")


def test_no_terminal_escape_from_input_in_records(tmp_path: Path) -> None:
    evil = tmp_path / "evil\x1b[2Jname.json"
    evil.write_text(MALFORMED)
    result = run("check", "-p", str(POLICIES), "-s", str(evil), "--error-format", "json")
    assert "\x1b" not in result.stderr
    assert records(result.stderr)[0]["file"] == str(evil)  # decoded, the name is exact
    github = run("check", "-p", str(POLICIES), "-s", str(evil), "--error-format", "github")
    assert "\x1b" not in github.stderr
