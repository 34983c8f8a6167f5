"""The hostile-input corpus (issue 12 #10): tests/data/hostile/ holds one small file per
hostile case; each is run the way a user would meet it and its exit code and whole output
are pinned, one syrupy snapshot per case.

``policy-*`` files go through ``validate``; ``snapshot-*`` files through
``check -p support/policy.yaml -s FILE`` (the support policy has a KEV rule with
``cap_by_kev_due_date``, a rule with three nested ``all()`` over the host's tags, and a
catch-all rule). Every case ends in a result (exit 0/1) or an exit-2 message: never a
traceback (exit 3) and never a hang.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from patchpolicy.cli import ExitCode, main

HOSTILE = Path(__file__).parents[1] / "data" / "hostile"
CASES = sorted(p.name for p in HOSTILE.iterdir() if p.is_file() and p.name != "README.md")

# Cases that are not bad input: they must give a result, the way the issue asks.
EXPECTED_EXIT = {
    "policy-date-9999-12-31.yaml": ExitCode.OK,  # effective in the far future: valid
    "policy-json-bom.json": ExitCode.OK,  # a BOM is read, as YAML's is
    "snapshot-bom.json": ExitCode.FAILED,
    "snapshot-escapes-in-ids.json": ExitCode.FAILED,  # shown escaped, on one line
    "snapshot-finding-dated-0001-01-01.json": ExitCode.FAILED,
    "snapshot-finding-dated-9999-12-31.json": ExitCode.FAILED,  # an error verdict, not a crash
    "snapshot-kev-due-9999-12-31.json": ExitCode.FAILED,
    "snapshot-nested-all-1000-tags.json": ExitCode.FAILED,  # the comprehension budget
}


def _run(name: str) -> tuple[int, str]:
    if name.startswith("policy-"):
        args = ["validate", name]
    else:
        assert name.startswith("snapshot-"), name
        args = ["check", "-p", "support/policy.yaml", "-s", name]
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result.exit_code, result.output


def test_corpus_covers_the_issue() -> None:
    assert len(CASES) >= 30
    assert set(EXPECTED_EXIT) <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_hostile_case(name: str, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion) -> None:
    monkeypatch.chdir(HOSTILE)
    code, output = _run(name)
    assert code == EXPECTED_EXIT.get(name, ExitCode.INPUT), output
    if code == ExitCode.INPUT:
        # An exit-2 message says where: file:line:col, or file: for whole-file problems.
        assert f"{name}:" in output, output
    # Nothing from the input reaches the terminal raw, and no value spans lines.
    assert "\x1b" not in output and "\x07" not in output and "\x00" not in output
    assert "result: PASS (0 failing)" not in [line.strip() for line in output.splitlines()]
    assert {"exit": code, "output": output} == snapshot
