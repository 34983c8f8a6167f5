"""Exit codes tell the truth: 2 for unusable output paths, 3 with a bug line for a bug."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = str(ROOT / "examples" / "policies")
FLEET = str(ROOT / "examples" / "fleet.json")


def test_plan_into_an_existing_file_is_exit_2_naming_it(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.write_text("keep me")
    result = CliRunner().invoke(main, ["plan", "-p", POLICIES, "-s", FLEET, "-o", str(target)])
    assert result.exit_code == 2, result.output
    assert str(target) in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "keep me"


def test_output_under_a_missing_root_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plan", "-p", POLICIES, "-s", FLEET, "-o", "/proc/no/such"])
    assert result.exit_code == 2 and "/proc/no" in result.stderr


def test_an_unexpected_exception_is_exit_3_saying_it_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    import patchpolicy.api

    def boom(*_a: object, **_k: object) -> None:
        raise KeyError("unexpected")

    monkeypatch.setattr(patchpolicy.api, "evaluate_files", boom)
    result = CliRunner().invoke(main, ["check", "-p", POLICIES, "-s", FLEET])
    assert result.exit_code == 3
    assert "this is a bug in patchpolicy" in result.stderr
    assert "Traceback" in result.stderr and "KeyError" in result.stderr


def test_a_reader_that_goes_away_is_not_a_bug() -> None:
    """`patchpolicy check ... | head -1`: the pipe closes early; no traceback, status 141
    (128 + SIGPIPE), not 3."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    with subprocess.Popen(
        [sys.executable, "-m", "patchpolicy", "check", "-p", "examples/policies", "-s", "examples/fleet.json"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the interpreter has even started: every write fails
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=60)
    assert code == 141, err
    assert "Traceback" not in err and "bug" not in err
