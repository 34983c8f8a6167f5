"""``patchpolicy validate`` on real files: the invalid corpus (every message snapshotted
with its file:line:col), the examples, several paths, multi-document files and bundles."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from syrupy.assertion import SnapshotAssertion

from patchpolicy.cli import ExitCode, main

ROOT = Path(__file__).parents[2]
INVALID = ROOT / "tests" / "data" / "invalid"
EXAMPLES = ROOT / "examples"
CORPUS = sorted(p.name for p in INVALID.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
LOCATED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")

POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: {name}
  version: 1.0.0
spec:
  rules:
    - id: critical
      when: finding.severity == "critical"
      within: 15d
"""
EXCEPTIONS = """\
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata:
  name: approved
exceptions:
  - id: EXC-1
    policies: [{policy}]
    match: 'finding.severity == "critical"'
    justification: Vendor fix pending.
    approved_by: jane.doe@example.com
    approved_at: 2026-10-01
    expires: 2026-11-30
"""


def _validate(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["validate", *(str(a) for a in args)])


def _error_lines(output: str) -> list[re.Match[str]]:
    return [m for line in output.splitlines() if (m := LOCATED.match(line))]


# ---------------------------------------------------------------- the invalid corpus


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25


@pytest.mark.parametrize("name", CORPUS)
def test_invalid_document(
    name: str, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    # Run from the corpus folder so the snapshot holds paths relative to it.
    monkeypatch.chdir(INVALID)
    result = _validate(name)
    assert result.exit_code == ExitCode.INPUT, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    errors = _error_lines(result.output)
    assert errors, result.output
    lines = (INVALID / name).read_text(encoding="utf-8").splitlines()
    for m in errors:
        assert m["file"] == name
        line, col = int(m["line"]), int(m["col"])
        # Every position is inside the file (a line that exists, a column on it or just
        # after its end for "unexpected end of expression").
        assert 1 <= line <= len(lines), m.group(0)
        assert 1 <= col <= len(lines[line - 1]) + 1, m.group(0)
        assert m["message"][0].islower() or m["message"][0] in "'\"", m.group(0)
    assert result.output == snapshot


@pytest.mark.parametrize("name", CORPUS)
def test_invalid_document_by_absolute_path_names_that_path(name: str) -> None:
    result = _validate(INVALID / name)
    assert result.exit_code == ExitCode.INPUT
    assert all(m["file"] == str(INVALID / name) for m in _error_lines(result.output))


def test_corpus_together_reports_every_file() -> None:
    result = _validate(INVALID)
    assert result.exit_code == ExitCode.INPUT
    # Files that only make sense alone (two policies named baseline) may add cross-file
    # duplicates; every corpus file still has at least one error of its own.
    files = {Path(m["file"]).name for m in _error_lines(result.output)}
    assert files == set(CORPUS)
    assert result.output.rstrip().splitlines()[-1].endswith(f"in {len(CORPUS)} file(s)")


# ---------------------------------------------------------------- valid documents


def test_examples_are_valid_one_summary_line_per_document() -> None:
    result = _validate(EXAMPLES / "policies")
    assert result.exit_code == ExitCode.OK, result.output
    ok = [line for line in result.output.splitlines() if ": ok " in line]
    assert [line.split(": ok ")[1] for line in ok] == [
        "PatchPolicy baseline 1.2.0: 5 rule(s), 2 window(s), 1 freeze(s), 2 ring(s), 2 control(s)",
        "ExceptionSet payments-2026q4: 2 exception(s)",
        "PatchPolicy pci-dss 2.1.0: 3 rule(s), 2 control(s)",
    ]
    assert [line.split(": ok ")[0] for line in ok] == [
        f"{EXAMPLES / 'policies' / f}:2:1"
        for f in ("baseline.yaml", "exceptions-payments.yaml", "pci.yaml")
    ]
    # Anything else printed is a warning, never an error.
    others = [line for line in result.output.splitlines() if ": ok " not in line]
    assert all(": warning: " in line for line in others), others


def test_several_paths_files_and_directories(tmp_path: Path) -> None:
    result = _validate(EXAMPLES / "policies", EXAMPLES / "fleet.json")
    assert result.exit_code == ExitCode.OK, result.output
    ok = [line for line in result.output.splitlines() if ": ok " in line]
    assert len(ok) == 4
    assert ok[-1] == f"{EXAMPLES / 'fleet.json'}:1:1: ok FleetSnapshot: 7 host(s), 14 finding(s)"


def test_same_file_twice_is_validated_once() -> None:
    pci = EXAMPLES / "policies" / "pci.yaml"
    result = _validate(pci, pci)
    assert result.exit_code == ExitCode.OK, result.output
    assert result.output.count(": ok ") == 1


def test_multi_document_file(tmp_path: Path) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text(
        "# one file, three documents\n"
        + POLICY.format(name="one")
        + "---\n"
        + POLICY.format(name="two")
        + "---\n"
        + EXCEPTIONS.format(policy="two")
    )
    result = _validate(path)
    assert result.exit_code == ExitCode.OK, result.output
    assert result.output.splitlines() == [
        f"{path}:2:1: ok PatchPolicy one 1.0.0: 1 rule(s)",
        f"{path}:13:1: ok PatchPolicy two 1.0.0: 1 rule(s)",
        f"{path}:24:1: ok ExceptionSet approved: 1 exception(s)",
    ]


def test_directory_bundle_resolves_references_across_files(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "sla.yml").write_text(POLICY.format(name="sla"))
    (tmp_path / "exceptions.json").write_text(
        '{"apiVersion": "patchpolicy/v1", "kind": "ExceptionSet",\n'
        ' "metadata": {"name": "approved"},\n'
        ' "exceptions": [{"id": "EXC-1", "policies": ["sla"],\n'
        '   "match": "finding.severity == \\"critical\\"", "justification": "pending",\n'
        '   "approved_by": "jane", "approved_at": "2026-10-01", "expires": "2026-11-30"}]}\n'
    )
    (tmp_path / "README.md").write_text("not a policy file\n")
    result = _validate(tmp_path)
    assert result.exit_code == ExitCode.OK, result.output
    assert result.output.splitlines() == [
        f"{tmp_path / 'exceptions.json'}:1:1: ok ExceptionSet approved: 1 exception(s)",
        f"{tmp_path / 'policies' / 'sla.yml'}:1:1: ok PatchPolicy sla 1.0.0: 1 rule(s)",
    ]
    # Alone, the exception set names a policy that is not in the bundle.
    alone = _validate(tmp_path / "exceptions.json")
    assert alone.exit_code == ExitCode.INPUT
    assert "names unknown policy 'sla'" in alone.output


def test_every_error_is_printed_not_only_the_first(tmp_path: Path) -> None:
    path = tmp_path / "three.yaml"
    path.write_text(
        "apiVersion: patchpolicy/v1\n"
        "kind: PatchPolicy\n"
        "metadata:\n"
        "  name: three\n"
        "  version: v1\n"  # 1: semver
        "spec:\n"
        "  due_soon: 1 week\n"  # 2: duration
        "  rules:\n"
        "    - id: critical\n"
        "      when: finding.severity == 'critical'\n"
        "      within: 15d\n"
        "      cap_by_kev: true\n"  # 3: unknown key
    )
    result = _validate(path)
    assert result.exit_code == ExitCode.INPUT
    errors = _error_lines(result.output)
    assert [(int(m["line"]), int(m["col"])) for m in errors] == [(5, 12), (7, 13), (12, 7)]
    assert "invalid version 'v1'" in errors[0]["message"]
    assert "invalid duration '1 week'" in errors[1]["message"]
    assert "unknown key 'cap_by_kev' (did you mean 'cap_by_kev_due_date'?)" in errors[2]["message"]
    assert result.output.splitlines()[-1] == "3 errors in 1 file(s)"


def test_errors_in_several_files_and_layers_are_all_printed(tmp_path: Path) -> None:
    shutil.copy(INVALID / "semver-v2.yaml", tmp_path / "a.yaml")
    shutil.copy(INVALID / "cel-unknown-field-quoted.yaml", tmp_path / "b.yaml")
    (tmp_path / "b.yaml").write_text(
        (tmp_path / "b.yaml").read_text().replace("name: baseline", "name: other")
    )
    shutil.copy(INVALID / "yaml-tabs.yaml", tmp_path / "c.yaml")
    result = _validate(tmp_path)
    assert result.exit_code == ExitCode.INPUT
    files = [Path(m["file"]).name for m in _error_lines(result.output)]
    assert files == ["a.yaml", "b.yaml", "c.yaml"]
    assert result.output.splitlines()[-1] == "3 errors in 3 file(s)"


def test_no_policy_files(tmp_path: Path) -> None:
    result = _validate(tmp_path)
    assert result.exit_code == ExitCode.INPUT
    assert "no policy files found" in result.output


def test_missing_path(tmp_path: Path) -> None:
    result = _validate(tmp_path / "nope.yaml")
    assert result.exit_code == ExitCode.INPUT
    assert f"{tmp_path / 'nope.yaml'}: no such file or directory" in result.output


def test_warnings_fail_only_with_strict(tmp_path: Path) -> None:
    path = tmp_path / "exceptions.yaml"
    path.write_text(
        POLICY.format(name="sla")
        + "---\n"
        + EXCEPTIONS.format(policy="sla").replace(
            "match: 'finding.severity == \"critical\"'", "match: 'host.id.startsWith(\"pos-\")'"
        )
    )
    # An unguarded read of a high-cardinality field (a guarded `host.id == "x"` is fine).
    relaxed = _validate(path)
    assert relaxed.exit_code == ExitCode.OK, relaxed.output
    assert ": warning: " in relaxed.output
    strict = CliRunner().invoke(main, ["validate", "--strict", str(path)])
    assert strict.exit_code == ExitCode.INPUT
    assert strict.output.splitlines()[-1] == "1 error in 1 file(s)"
