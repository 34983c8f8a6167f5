"""``patchpolicy test`` through the real CLI: pass, fail with a diff, coverage and its
minimum, tests without rules, the default bundle (the test's folder), and bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main

POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata: {name: sla, version: 1.0.0}
spec:
  rules:
    - {id: critical, when: 'finding.severity == "critical"', within: 15d}
    - {id: high, when: 'finding.severity == "high"', within: 30d}
    - {id: low, when: 'finding.severity == "low"', within: 180d}
  windows:
    - {id: sunday, rrule: FREQ=WEEKLY;BYDAY=SU, start: "02:00", duration: 4h}
"""
EXCEPTIONS = """\
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata: {name: approved}
exceptions:
  - {id: EXC-1, match: 'finding.vuln == "CVE-1"', justification: isolated,
     approved_by: a@example.com, approved_at: 2026-01-01, expires: 2026-03-31}
"""
SNAPSHOT = """\
{"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": "2026-03-04T12:00:00Z",
 "hosts": [{"id": "h1", "findings": [
   {"id": "f1", "vuln": "CVE-1", "severity": "critical", "fix_released_at": "2026-02-20T00:00:00Z"},
   {"id": "f2", "vuln": "CVE-2", "severity": "high", "fix_released_at": "2026-02-20T00:00:00Z"}]}]}
"""


def _test_doc(expect: str, *, extra: str = "") -> str:
    return f"""\
apiVersion: patchpolicy/v1
kind: PolicyTest
metadata: {{name: t}}
spec:
{extra}  snapshot: fleet.json
  cases:
    - name: c1
      expect:
{expect}"""


PASSING = (
    "        - {policy: sla, host: h1, finding: f1, verdict: due_soon, rule: critical,"
    " deadline: '2026-03-07T00:00:00Z'}\n"
)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "sla.yaml").write_text(POLICY)
    (tmp_path / "fleet.json").write_text(SNAPSHOT)
    return tmp_path


def test_passing_test_exits_0_and_uses_the_test_folder_as_bundle(bundle: Path) -> None:
    (bundle / "sla.test.yaml").write_text(_test_doc(PASSING))
    code, out, err = run("test", str(bundle))
    assert code == 0, out + err
    assert "PASS c1 (1 expectation)" in out
    assert "1 case in 1 file (1 expectations): 1 passed, 0 failed" in out


def test_wrong_verdict_prints_expected_and_actual_with_the_reason(bundle: Path) -> None:
    (bundle / "sla.test.yaml").write_text(_test_doc(PASSING.replace("due_soon", "overdue")))
    code, out, _ = run("test", str(bundle))
    assert code == 1
    assert "FAIL c1" in out
    assert (
        f"{bundle / 'sla.test.yaml'}:9:11: sla/h1/f1: expected verdict overdue, got due_soon "
        '[binding rule "critical" (15d from fix_released 2026-02-20T00:00:00Z); '
        "deadline 2026-03-07T00:00:00Z; days left 2]"
    ) in out


def test_wrong_rule_deadline_and_schedule_are_each_reported(bundle: Path) -> None:
    expect = (
        "        - {policy: sla, host: h1, finding: f2, rule: critical, deadline: '2026-03-01T00:00:00Z',"
        " window: sunday, window_start: '2026-03-15T02:00:00Z', at_risk: false}\n"
    )
    (bundle / "sla.test.yaml").write_text(_test_doc(expect))
    code, out, _ = run("test", str(bundle))
    assert code == 1
    assert 'expected binding rule "critical", got "high"' in out
    assert "expected deadline 2026-03-01T00:00:00Z, got 2026-03-22T00:00:00Z" in out
    assert 'expected window start 2026-03-15T02:00:00Z, got window "sunday" at 2026-03-08T02:00:00Z' in out
    # f1 shares the task, and its deadline (7 March) is before the window: the task is at risk.
    assert "task deadline 2026-03-07T00:00:00Z, at_risk true" in out
    assert "expected at_risk false, got" in out


def test_unknown_policy_host_and_finding_are_failures_and_tests_without_rules(bundle: Path) -> None:
    expect = (
        "        - {policy: nope, host: h1, finding: f1, verdict: open}\n"
        "        - {policy: sla, host: h9, finding: f1, verdict: open}\n"
        "        - {policy: sla, host: h1, finding: f9, verdict: open}\n"
    )
    (bundle / "sla.test.yaml").write_text(_test_doc(expect))
    code, out, _ = run("test", str(bundle), "--coverage")
    assert code == 1
    assert "unknown policy 'nope' (the bundle has: sla)" in out
    assert "unknown host 'h9' (the snapshot has: h1)" in out
    assert "unknown finding 'f9' on host 'h1' (it has: f1, f2)" in out
    section = out.split("tests without rules")[1]
    assert section.count("\n  ") == 3


def test_coverage_lists_what_no_test_exercises_and_min_coverage_fails(bundle: Path) -> None:
    (bundle / "exceptions.yaml").write_text(EXCEPTIONS.replace("CVE-1", "CVE-404"))
    (bundle / "sla.test.yaml").write_text(_test_doc(PASSING))
    code, out, _ = run("test", str(bundle), "--coverage")
    assert code == 0, out
    assert "coverage: 3/5 (60.0%): rules 2/3, windows 1/1, freezes 0/0, exceptions 0/1" in out
    assert f'{bundle / "sla.yaml"}:8:7: policy "sla": rule "low"' in out
    assert 'exception set "approved": exception "EXC-1"' in out
    code, out, _ = run("test", str(bundle), "--min-coverage", "70")
    assert code == 1
    assert "coverage 60.0% is below the minimum 70%" in out
    code, _, _ = run("test", str(bundle), "--min-coverage", "60")
    assert code == 0


def test_an_exception_is_exercised_when_it_covers_an_item(bundle: Path) -> None:
    (bundle / "exceptions.yaml").write_text(EXCEPTIONS)
    expect = PASSING.replace("due_soon", "excepted").replace("}", ", exception: EXC-1}")
    expect += "        - {policy: sla, host: h1, finding: f2, verdict: open}\n"
    (bundle / "sla.test.yaml").write_text(_test_doc(expect))
    code, out, _ = run("test", str(bundle), "--coverage")
    assert code == 0, out
    assert "exceptions 1/1" in out


def test_inline_fixture_exceptions_join_only_this_test(bundle: Path) -> None:
    fixture = (
        "  exceptions:\n"
        "    - {id: FIX-1, match: 'finding.id == \"f1\"', justification: test,"
        " approved_by: a@example.com, approved_at: 2026-01-01, expires: 2026-12-31}\n"
    )
    expect = PASSING.replace("due_soon", "excepted")
    (bundle / "sla.test.yaml").write_text(_test_doc(expect, extra=fixture))
    code, out, _ = run("test", str(bundle), "--coverage")
    assert code == 0, out
    assert "exceptions 0/0" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_test_doc("").rstrip() + " []\n", "spec.cases.0.expect: must not be empty"),
        (_test_doc("        - {policy: sla, host: h1, verdict: open}\n"), "an item expectation needs a finding"),
        (_test_doc("        - {policy: sla, host: h1, check: scan_freshness, verdict: overdue}\n"),
         "host-check verdict 'overdue' is not one of"),
        (_test_doc(PASSING, extra="  exceptions:\n    - {id: X, match: 'finding.sevrity == 1',"
                   " justification: j, approved_by: a, approved_at: 2026-01-01, expires: 2026-02-01}\n"),
         'test "t": exception "X": match:'),
    ],
)
def test_bad_test_documents_exit_2_with_a_place(bundle: Path, content: str, message: str) -> None:
    (bundle / "sla.test.yaml").write_text(content)
    code, out, err = run("test", str(bundle))
    assert code == 2, out + err
    assert f"{bundle / 'sla.test.yaml'}:" in err
    assert message in err


def test_missing_snapshot_and_no_tests_exit_2(bundle: Path, tmp_path: Path) -> None:
    (bundle / "sla.test.yaml").write_text(_test_doc(PASSING).replace("fleet.json", "gone.json"))
    code, _, err = run("test", str(bundle))
    assert code == 2
    assert "gone.json: cannot read snapshot" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "sla.yaml").write_text(POLICY)
    code, _, err = run("test", str(empty))
    assert code == 2
    assert "no PolicyTest documents found" in err


def test_other_tests_and_their_snapshots_stay_out_of_the_bundle(bundle: Path) -> None:
    # A second test with an inline snapshot beside the first: neither joins the bundle.
    (bundle / "sla.test.yaml").write_text(_test_doc(PASSING))
    other = _test_doc(PASSING).replace("metadata: {name: t}", "metadata: {name: t2}")
    (bundle / "other.test.yaml").write_text(other)
    code, out, _ = run("test", str(bundle), "--coverage")
    assert code == 0, out
    assert "2 cases in 2 files" in out


def test_a_dangling_symlink_in_the_test_directory_is_an_error(tmp_path: Path) -> None:
    import os

    from click.testing import CliRunner

    from patchpolicy.cli import main

    os.symlink(tmp_path / "gone.yaml", tmp_path / "case.yaml")
    result = CliRunner().invoke(main, ["test", str(tmp_path)])
    assert result.exit_code == 2
    assert "dangling symlink" in result.stderr
