"""The conventions a command-line user expects: ``-`` for standard input and output,
``--quiet`` everywhere, colour only on a terminal and never with NO_COLOR,
``windows --from now``, and an Examples section in every ``--help``."""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"
FLEET = ROOT / "examples" / "fleet.json"
CHECK = ["check", "-p", str(POLICIES), "-s", str(FLEET)]


def invoke(args: list[str], stdin: bytes | str | None = None, env: dict[str, str] | None = None
           ) -> Result:
    return CliRunner().invoke(main, ["--no-config", *args], input=stdin, env=env,
                              catch_exceptions=False)


# ---------------------------------------------------------------- - for stdin and stdout


def test_validate_reads_standard_input() -> None:
    policy = (POLICIES / "baseline.yaml").read_bytes()
    result = invoke(["validate", "-"], stdin=policy)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("<stdin>:2:1: ok PatchPolicy baseline 1.2.0: 5 rule(s)")
    snapshot = invoke(["validate", "-"], stdin=FLEET.read_bytes())
    assert snapshot.stdout == "<stdin>:1:1: ok FleetSnapshot: 7 host(s), 14 finding(s)\n"


def test_validate_refuses_standard_input_twice() -> None:
    result = invoke(["validate", "-", "-"], stdin="kind: PatchPolicy\n")
    assert result.exit_code == 2
    assert "<stdin>: standard input given twice: - reads it once" in result.stderr


def test_validate_jsonl_snapshot_with_the_snapshot_reader(tmp_path: Path) -> None:
    lines = [
        '{"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": "2026-01-01T00:00:00Z"}',
        '{"id": "a", "findings": []}',
    ]
    good = tmp_path / "fleet.jsonl"
    good.write_text("\n".join(lines) + "\n")
    result = invoke(["validate", str(good)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{good}: ok FleetSnapshot: 1 host(s), 0 finding(s)\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([*lines, '{"id": "b", x}']) + "\n")
    validated = invoke(["validate", str(bad)])
    checked = invoke(["check", "-p", str(POLICIES), "-s", str(bad)])
    assert validated.exit_code == checked.exit_code == 2
    message = f"{bad}:3:13: malformed JSON: object keys must be strings"
    assert validated.stderr == f"{message}\n1 error in 1 file(s)\n"
    assert checked.stderr == f"error: {message}\n"


def test_plan_ics_to_standard_output(tmp_path: Path) -> None:
    args = ["plan", "-p", str(POLICIES), "-s", str(FLEET)]
    to_file = invoke([*args, "-o", str(tmp_path / "a"), "--ics", str(tmp_path / "tasks.ics")])
    to_stdout = invoke([*args, "-o", str(tmp_path / "b"), "--ics", "-"])
    assert to_file.exit_code == to_stdout.exit_code == 0, to_stdout.stderr
    assert to_stdout.stdout_bytes == (tmp_path / "tasks.ics").read_bytes()
    assert to_stdout.stdout_bytes.startswith(b"BEGIN:VCALENDAR\r\n")
    assert to_stdout.stdout_bytes.endswith(b"END:VCALENDAR\r\n")
    assert "BEGIN:VEVENT" in to_stdout.stdout
    # The summary moves to stderr; the tasks are still written; no file named "-".
    assert "wrote " in to_stdout.stderr and str(tmp_path / "b" / "tasks.json") in to_stdout.stderr
    assert (tmp_path / "b" / "tasks.csv").is_file() and not Path("-").exists()


def test_windows_ics_to_standard_output(tmp_path: Path) -> None:
    args = ["windows", "-p", str(POLICIES), "--from", "2026-12-01", "--count", "2"]
    to_file = invoke([*args, "--ics", str(tmp_path / "w.ics")])
    to_stdout = invoke([*args, "--ics", "-"])
    assert to_file.exit_code == to_stdout.exit_code == 0
    assert to_stdout.stdout_bytes == (tmp_path / "w.ics").read_bytes()
    assert "baseline/prod-sunday" in to_file.stdout  # the listing, only without --ics -


def test_windows_from_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = invoke(["windows", "-p", str(POLICIES), "--from", "now", "--count", "1"])
    after = datetime.now(UTC)
    assert result.exit_code == 0, result.stderr
    starts = [datetime.fromisoformat(line.split(" .. ")[0].replace("Z", "+00:00"))
              for line in result.stdout.splitlines()]
    assert starts
    # Occurrences in progress at "now" may have started up to a window's length before.
    assert all(s >= before - timedelta(days=1) for s in starts)
    assert min(s for s in starts) <= after + timedelta(days=31)
    fixed = invoke(["windows", "-p", str(POLICIES), "--from", "2020-01-01", "--count", "1"])
    assert fixed.stdout != result.stdout


# ---------------------------------------------------------------- --quiet


def test_every_command_takes_quiet_and_error_format() -> None:
    for name, command in main.commands.items():
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {"-q", "--quiet", "--error-format"} <= opts, name


def test_quiet_check_prints_its_result_line_and_keeps_the_exit_code() -> None:
    loud = invoke(CHECK)
    for args in (["-q", *CHECK], [*CHECK, "--quiet"]):
        quiet = invoke(args)
        assert quiet.exit_code == loud.exit_code == 1
        assert quiet.stdout == loud.stdout.splitlines()[-1] + "\n"
        assert quiet.stdout.startswith("result: FAIL (")


def test_quiet_drops_what_is_not_the_product(tmp_path: Path) -> None:
    assert invoke(["validate", "-q", str(POLICIES)]).stdout == ""
    assert invoke(["validate", str(POLICIES)]).stdout.count(": ok ") == 3
    evaluated = invoke(["evaluate", "-q", "-p", str(POLICIES), "-s", str(FLEET),
                        "-o", str(tmp_path / "ev")])
    assert evaluated.exit_code == 1 and evaluated.stdout == ""
    assert (tmp_path / "ev" / "evidence.json").is_file()
    verified = invoke(["verify", "-q", str(tmp_path / "ev")])
    assert verified.exit_code == 0 and verified.stdout == ""
    keys = invoke(["keygen", "-q", "-o", str(tmp_path / "k")], env={"PATCHPOLICY_KEY_PASSWORD": ""})
    assert keys.exit_code == 0 and keys.stdout == ""
    assert (tmp_path / "k.pub.pem").is_file()
    # Errors are never quiet.
    bad = invoke(["validate", "-q", str(ROOT / "tests" / "data" / "invalid" / "rules-empty.yaml")])
    assert bad.exit_code == 2 and "rules-empty.yaml:" in bad.stderr


def test_quiet_test_lists_only_failures() -> None:
    pack = ROOT / "policies" / "pci"
    loud, quiet = invoke(["test", str(pack)]), invoke(["test", "-q", str(pack)])
    assert loud.exit_code == quiet.exit_code == 0
    assert "  PASS " in loud.stdout and "  PASS " not in quiet.stdout
    assert quiet.stdout.splitlines()[-2:] == loud.stdout.splitlines()[-2:]


# ---------------------------------------------------------------- colour


def _on_a_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """Run the CLI with its stdout on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "patchpolicy", "--no-config", *args],
                                stdout=follower, stderr=subprocess.DEVNULL, env=env)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 1
    finally:
        os.close(leader)
    return b"".join(chunks)


def test_gate_summary_in_colour_on_a_terminal_only() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal(CHECK, env)
    assert b"\x1b[31m" in coloured  # red: the fail bucket, the result
    assert b"result: \x1b[31m\x1b[1mFAIL\x1b[0m" in coloured
    plain = _on_a_terminal(CHECK, {**env, "NO_COLOR": "1"})
    assert b"\x1b[" not in plain
    assert b"result: FAIL (" in plain
    # Not a terminal (a pipe, a file): no colour either; the same words.
    piped = invoke(CHECK, env={"NO_COLOR": ""})
    assert "\x1b[" not in piped.stdout
    assert re.sub(rb"\x1b\[[0-9;]*m", b"", coloured).replace(b"\r\n", b"\n") == piped.stdout_bytes


# ---------------------------------------------------------------- --help


def _examples(command: click.Command) -> list[str]:
    doc = command.help or ""
    assert "\b\nExamples:\n" in doc.replace("    ", ""), command.name
    block = doc.split("Examples:\n", 1)[1]
    return [line.strip() for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_help_has_examples_that_use_real_options(name: str) -> None:
    command = main.commands[name]
    shown = invoke([name, "--help"]).stdout
    assert "\n  Examples:\n" in shown
    examples = _examples(command)
    assert examples
    opts = {o for p in command.params for o in getattr(p, "opts", [])}
    group_opts = {o for p in main.params for o in getattr(p, "opts", [])}
    for example in examples:
        assert example in shown, "\\b keeps each example on its own line"
        words = shlex.split(example.split("#")[0].split("|")[-1].split(">")[0], posix=True)
        words = [w for w in words if "=" not in w or w.startswith("-")]
        at = words.index("patchpolicy")
        assert words[at + 1] == name, example
        for word in words[at + 2:]:
            if word.startswith("-") and word != "-":
                assert word.split("=")[0] in opts | group_opts, f"{name}: {example}: {word}"


def test_group_help_has_examples() -> None:
    assert "Examples:" in invoke(["--help"]).stdout


def test_policies_from_standard_input_and_stdin_read_once() -> None:
    policy = (POLICIES / "baseline.yaml").read_bytes()
    piped = invoke(["check", "-p", "-", "-s", str(FLEET)], stdin=policy)
    from_file = invoke(["check", "-p", str(POLICIES / "baseline.yaml"), "-s", str(FLEET)])
    assert piped.exit_code == from_file.exit_code == 1
    assert piped.stdout.splitlines()[0] == from_file.stdout.splitlines()[0]
    twice = invoke(["check", "-p", "-", "-s", "-"], stdin=policy)
    assert twice.exit_code == 2
    assert twice.stderr == "error: <stdin>: standard input given twice: - reads it once\n"


def test_diff_impact_on_a_snapshot_from_standard_input(tmp_path: Path) -> None:
    new = tmp_path / "new"
    shutil.copytree(POLICIES, new)
    baseline = new / "baseline.yaml"
    text = baseline.read_text()
    assert "within: 15d" in text and "version: 1.2.0" in text
    baseline.write_text(text.replace("within: 15d", "within: 60d", 1)
                        .replace("version: 1.2.0", "version: 2.0.0", 1))
    args = ["diff", str(POLICIES), str(new), "--format", "json"]
    from_file = invoke([*args, "-s", str(FLEET)])
    piped = invoke([*args, "-s", "-"], stdin=FLEET.read_bytes())
    assert piped.exit_code == from_file.exit_code == 0, piped.stderr
    a, b = json.loads(from_file.stdout), json.loads(piped.stdout)
    assert a["impact"]["items"] and a["impact"]["snapshot"] == str(FLEET)
    assert b["impact"]["snapshot"] == "-"
    b["impact"]["snapshot"] = a["impact"]["snapshot"]
    assert a == b


def test_keys_from_standard_input(tmp_path: Path) -> None:
    env = {"PATCHPOLICY_KEY_PASSWORD": ""}
    assert invoke(["keygen", "-o", str(tmp_path / "k")], env=env).exit_code == 0
    out = tmp_path / "ev"
    signed = invoke(["evaluate", "-p", str(POLICIES), "-s", str(FLEET), "-o", str(out),
                     "--sign", "-"], stdin=(tmp_path / "k.key.pem").read_bytes(), env=env)
    assert signed.exit_code == 1, signed.stderr  # the example fleet fails the gate
    assert (out / "attestation.intoto.jsonl").is_file()
    verified = invoke(["verify", str(out), "--key", "-"],
                      stdin=(tmp_path / "k.pub.pem").read_bytes())
    assert verified.exit_code == 0, verified.stdout
    assert "signature verified" in verified.stdout
    # Standard input once: the snapshot and the key cannot both be -.
    twice = invoke(["evaluate", "-p", str(POLICIES), "-s", "-", "-o", str(tmp_path / "x"),
                    "--sign", "-"], stdin=b"")
    assert twice.exit_code == 2 and "standard input given twice" in twice.stderr


def test_import_to_standard_output_pipes_into_check(tmp_path: Path) -> None:
    report = ROOT / "tests" / "data" / "realdata" / "scanners" / "trivy" / "trivy-alpine-310.json"
    to_file = invoke(["import", "trivy", str(report), "-o", str(tmp_path / "fleet.jsonl")])
    piped = invoke(["import", "trivy", str(report), "-o", "-"])
    assert to_file.exit_code == piped.exit_code == 0, piped.stderr
    # The snapshot (JSON Lines) alone on stdout, the summary on stderr; no file named "-".
    assert piped.stdout_bytes == (tmp_path / "fleet.jsonl").read_bytes()
    assert piped.stderr.endswith("wrote <stdout>\n")
    assert not Path("-").exists()
    checked = invoke(["check", "-p", str(POLICIES), "-s", "-"], stdin=piped.stdout_bytes)
    direct = invoke(["check", "-p", str(POLICIES), "-s", str(tmp_path / "fleet.jsonl")])
    assert checked.exit_code == direct.exit_code == 1
    assert checked.stdout == direct.stdout
