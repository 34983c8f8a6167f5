"""Every verdict and host check of FORMATS.md section 3, one focused case each."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpolicy.errors import SnapshotError
from patchpolicy.evaluator import Evaluation, evaluate
from patchpolicy.loader import check_bundle, load_bundle
from patchpolicy.model.fleet import HostRecord
from patchpolicy.model.results import Bucket, CheckVerdict, ExceptionStatus, Item, Verdict

AS_OF = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)

POLICY = """
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: sla
  version: 1.0.0
  controls:
    - {framework: ISO-27001, version: "2022", id: A.8.8}
spec:
  due_soon: 7d
  clock: [fix_released, published, first_seen]
  rules:
    - id: kev
      when: finding.kev != null
      within: 14d
      clock: [kev_added, first_seen]
      cap_by_kev_due_date: true
      controls: [A.8.8]
    - id: critical
      when: finding.severity == "critical"
      within: 15d
      controls: [A.8.8]
    - id: high
      when: finding.severity == "high"
      within: 30d
      controls: [A.8.8]
    - id: scored
      when: finding.severity == "medium" && finding.cvss >= 6.0
      within: 60d
      controls: [A.8.8]
  hygiene:
    max_scan_age: 7d
    max_reboot_pending: 72h
    controls: [A.8.8]
  exceptions:
    max_lifetime: 90d
"""


def bundle_of(tmp_path: Path, *docs: str) -> Any:
    for i, doc in enumerate(docs):
        (tmp_path / f"doc{i}.yaml").write_text(textwrap.dedent(doc))
    return load_bundle([tmp_path])


def finding(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "CVE-2026-0001/pkg",
        "vuln": "CVE-2026-0001",
        "severity": "high",
        "fix_released_at": "2026-11-01T00:00:00Z",
        "status": "open",
    }
    base.update(kw)
    return base


def host(*findings: dict[str, Any], **kw: Any) -> HostRecord:
    data: dict[str, Any] = {
        "id": "h1",
        "env": "prod",
        "last_scan": "2026-11-20T00:00:00Z",
        "findings": list(findings),
    }
    data.update(kw)
    return msgspec.convert(data, HostRecord, strict=False)


def run(bundle: Any, *hosts: HostRecord, as_of: datetime = AS_OF) -> Evaluation:
    return evaluate(bundle, hosts, as_of=as_of, taken_at=as_of)


def only_item(ev: Evaluation, policy: str = "sla") -> Item:
    items = [i for i in ev.items if i.policy == policy]
    assert len(items) == 1, items
    return items[0]


@pytest.fixture()
def sla(tmp_path: Path) -> Any:
    return bundle_of(tmp_path, POLICY)


def test_open_when_deadline_beyond_due_soon(sla: Any) -> None:
    item = only_item(run(sla, host(finding())))
    assert item.verdict == Verdict.OPEN
    assert item.bucket == Bucket.PASS
    assert item.binding_rule == "high"
    assert item.clock_source == "fix_released"
    assert item.deadline == datetime(2026, 12, 1, tzinfo=UTC)
    assert item.days_left == 10


def test_due_soon_inclusive_at_both_ends(sla: Any) -> None:
    # deadline == as-of is due_soon (not yet overdue) ...
    start = AS_OF - timedelta(days=30)
    item = only_item(run(sla, host(finding(fix_released_at=start.isoformat()))))
    assert item.verdict == Verdict.DUE_SOON
    assert item.days_left == 0
    # ... and deadline == as-of + due_soon is due_soon too.
    start = AS_OF - timedelta(days=23)
    item = only_item(run(sla, host(finding(fix_released_at=start.isoformat()))))
    assert item.verdict == Verdict.DUE_SOON
    assert item.days_left == 7


def test_overdue_one_second_after_deadline(sla: Any) -> None:
    start = AS_OF - timedelta(days=30, seconds=1)
    item = only_item(run(sla, host(finding(fix_released_at=start.isoformat()))))
    assert item.verdict == Verdict.OVERDUE
    assert item.bucket == Bucket.FAIL
    assert item.days_left == 0  # overdue by less than a day
    start = AS_OF - timedelta(days=37, hours=6)
    item = only_item(run(sla, host(finding(fix_released_at=start.isoformat()))))
    assert item.days_left == -7  # overdue by 7d6h: "7 days overdue"


def test_remediated_and_remediated_late(sla: Any) -> None:
    ok = only_item(run(sla, host(finding(status="fixed", fixed_at="2026-12-01T00:00:00Z"))))
    assert ok.verdict == Verdict.REMEDIATED and ok.bucket == Bucket.PASS
    late = only_item(run(sla, host(finding(status="fixed", fixed_at="2026-12-01T00:00:01Z"))))
    assert late.verdict == Verdict.REMEDIATED_LATE and late.bucket == Bucket.WARN


def test_fixed_without_fixed_at_is_error(sla: Any) -> None:
    item = only_item(run(sla, host(finding(status="fixed"))))
    assert item.verdict == Verdict.ERROR
    assert "fixed_at" in (item.message or "")


@pytest.mark.parametrize("status", ["pending_reboot", "failed"])
def test_pending_reboot_and_failed_are_not_remediated(sla: Any, status: str) -> None:
    start = AS_OF - timedelta(days=40)
    item = only_item(run(sla, host(finding(status=status, fix_released_at=start.isoformat()))))
    assert item.verdict == Verdict.OVERDUE
    assert "not remediated" in (item.message or "")


def test_not_affected_is_reported_never_failing(sla: Any) -> None:
    item = only_item(
        run(sla, host(finding(status="not_affected", status_reason="code_not_reachable")))
    )
    assert item.verdict == Verdict.NOT_AFFECTED and item.bucket == Bucket.PASS
    assert item.message == "code_not_reachable"


def test_untracked_when_no_rule_matches(sla: Any) -> None:
    item = only_item(run(sla, host(finding(severity="low"))))
    assert item.verdict == Verdict.UNTRACKED and item.bucket == Bucket.PASS
    assert item.deadline is None


def test_runtime_error_fails_closed(sla: Any) -> None:
    # medium && null >= 6.0: CEL has no overload for null >= double.
    item = only_item(run(sla, host(finding(severity="medium", cvss=None))))
    assert item.verdict == Verdict.ERROR
    assert item.bucket == Bucket.FAIL
    assert 'rule "scored"' in (item.message or "")


def test_missing_clock_is_error(sla: Any) -> None:
    item = only_item(run(sla, host(finding(fix_released_at=None))))
    assert item.verdict == Verdict.ERROR
    assert "no clock start" in (item.message or "")


def test_clock_falls_back_in_order(sla: Any) -> None:
    item = only_item(
        run(sla, host(finding(fix_released_at=None, published_at=None,
                              first_seen_at="2026-11-10T00:00:00Z")))
    )
    assert item.clock_source == "first_seen"
    assert item.deadline == datetime(2026, 12, 10, tzinfo=UTC)


def test_earliest_deadline_binds_and_others_are_recorded(sla: Any) -> None:
    item = only_item(
        run(sla, host(finding(kev={"date_added": "2026-11-15", "due_date": "2026-12-06"})))
    )
    assert [m.rule for m in item.matches] == ["kev", "high"]
    assert item.binding_rule == "kev"
    assert item.clock_source == "kev_added"
    assert item.deadline == datetime(2026, 11, 29, tzinfo=UTC)


def test_kev_due_date_caps_the_deadline_through_end_of_day(sla: Any) -> None:
    item = only_item(
        run(sla, host(finding(kev={"date_added": "2026-11-15", "due_date": "2026-11-20"})))
    )
    assert item.binding_rule == "kev"
    assert item.matches[0].capped_by_kev
    assert item.deadline == datetime(2026, 11, 21, tzinfo=UTC)
    assert item.verdict == Verdict.DUE_SOON


EXCEPTIONS = """
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata: {name: approvals}
exceptions:
  - id: EXC-VALID
    match: finding.vuln == "CVE-2026-0001"
    justification: vendor fix pending
    approved_by: a@example.com
    approved_at: 2026-11-01
    expires: 2027-01-15
  - id: EXC-EXPIRED
    match: finding.vuln == "CVE-2026-0002"
    justification: old
    approved_by: a@example.com
    approved_at: 2026-09-01
    expires: 2026-11-19
  - id: EXC-SOON
    match: finding.vuln == "CVE-2026-0003"
    justification: ending
    approved_by: a@example.com
    approved_at: 2026-10-01
    expires: 2026-11-24
  - id: EXC-ORPHAN
    match: finding.vuln == "CVE-1999-0001"
    justification: nothing matches
    approved_by: a@example.com
    approved_at: 2026-10-01
    expires: 2026-12-24
  - id: EXC-FUTURE
    match: finding.vuln == "CVE-2026-0004"
    justification: not yet
    approved_by: a@example.com
    approved_at: 2026-12-01
    expires: 2026-12-24
"""


def test_exceptions(tmp_path: Path) -> None:
    b = bundle_of(tmp_path, POLICY, EXCEPTIONS)
    old = (AS_OF - timedelta(days=40)).isoformat()
    ev = run(
        b,
        host(
            finding(id="a", vuln="CVE-2026-0001", fix_released_at=old),
            finding(id="b", vuln="CVE-2026-0002", fix_released_at=old),
            finding(id="c", vuln="CVE-2026-0003", fix_released_at=old),
            finding(id="d", vuln="CVE-2026-0004", fix_released_at=old),
        ),
    )
    by_id = {i.finding: i for i in ev.items}
    assert by_id["a"].verdict == Verdict.EXCEPTED and by_id["a"].bucket == Bucket.WAIVED
    assert by_id["a"].exception == "EXC-VALID"
    assert by_id["b"].verdict == Verdict.OVERDUE
    assert by_id["b"].expired_exceptions == ("EXC-EXPIRED",)
    assert by_id["c"].verdict == Verdict.EXCEPTED
    assert by_id["d"].verdict == Verdict.OVERDUE
    status = {e.id: e for e in ev.exceptions}
    assert status["EXC-VALID"].status == ExceptionStatus.VALID
    assert status["EXC-EXPIRED"].status == ExceptionStatus.EXPIRED
    assert status["EXC-SOON"].status == ExceptionStatus.EXPIRING_SOON
    assert status["EXC-FUTURE"].status == ExceptionStatus.NOT_YET_VALID
    assert status["EXC-ORPHAN"].orphaned and not status["EXC-VALID"].orphaned
    assert status["EXC-VALID"].items_covered == 1
    assert ev.gate({"expired_exception"}).failing == ev.gate().failing + 1


def test_fixed_finding_is_judged_on_its_fix_even_when_excepted(tmp_path: Path) -> None:
    b = bundle_of(tmp_path, POLICY, EXCEPTIONS)
    item = only_item(run(b, host(finding(status="fixed", fixed_at="2026-11-02T00:00:00Z"))))
    assert item.verdict == Verdict.REMEDIATED


def test_broken_exception_is_an_error_never_orphaned(tmp_path: Path) -> None:
    broken = """
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata: {name: broken}
exceptions:
  - id: EXC-BROKEN
    match: finding.vuln == "CVE-2026-0001" && finding.cvss > 5.0
    justification: cvss is missing on the finding, so the comparison fails at run time
    approved_by: a@example.com
    approved_at: 2026-11-01
    expires: 2027-01-15
"""
    b = bundle_of(tmp_path, POLICY, broken)
    ev = run(b, host(finding()))
    (report,) = ev.exceptions
    assert report.status == ExceptionStatus.ERROR
    assert report.error is not None and "EXC-BROKEN" in report.error
    assert not report.orphaned and report.items_covered == 0
    assert only_item(ev).verdict == Verdict.ERROR
    assert ev.gate().exit_code == 1


def test_items_covered_counts_coverage_and_items_matched_counts_matches(tmp_path: Path) -> None:
    b = bundle_of(tmp_path, POLICY, EXCEPTIONS)
    ev = run(b, host(finding(id="b", vuln="CVE-2026-0002"), finding(id="b2", vuln="CVE-2026-0002")))
    status = {e.id: e for e in ev.exceptions}
    expired = status["EXC-EXPIRED"]
    assert expired.items_covered == 0 and expired.items_matched == 2 and not expired.orphaned


def test_stale_scan_message_supports_its_verdict(sla: Any) -> None:
    ev = run(sla, host(last_scan="2026-11-13T05:59:59Z", reboot_pending_since="2026-11-17T05:59:59Z"))
    got = {c.check: c for c in ev.checks}
    assert got["scan_freshness"].verdict == CheckVerdict.SCAN_STALE
    assert got["scan_freshness"].detail.endswith("is 7d1s old, limit 7d")
    assert got["reboot"].verdict == CheckVerdict.REBOOT_OVERDUE
    assert got["reboot"].detail.endswith("(3d1s), limit 3d")


@pytest.mark.parametrize(
    "kw",
    [
        {"fix_released_at": "9999-12-31T00:00:00Z"},
        {"kev": {"date_added": "9999-12-31", "due_date": "9999-12-31"}, "fix_released_at": None,
         "first_seen_at": "9999-12-30T00:00:00Z"},
    ],
)
def test_unrepresentable_deadline_is_an_error_item(sla: Any, kw: dict[str, Any]) -> None:
    ev = run(sla, host(finding(**kw), finding(id="ok")))
    by_id = {i.finding: i for i in ev.items}
    assert by_id["ok"].verdict == Verdict.OPEN
    bad = by_id["CVE-2026-0001/pkg"]
    assert bad.verdict == Verdict.ERROR and "beyond year 9999" in (bad.message or "")


def test_hygiene_checks(sla: Any) -> None:
    ev = run(
        sla,
        host(id="fresh"),
        host(id="stale", last_scan="2026-11-13T05:59:59Z"),
        host(id="never", last_scan=None),
        host(id="reboot", reboot_pending_since="2026-11-17T05:59:59Z"),
        host(id="reboot-ok", reboot_pending_since="2026-11-17T06:00:00Z"),
    )
    got = {(c.host, c.check): c.verdict for c in ev.checks}
    assert got[("fresh", "scan_freshness")] == CheckVerdict.OK
    assert got[("stale", "scan_freshness")] == CheckVerdict.SCAN_STALE
    assert got[("never", "scan_freshness")] == CheckVerdict.NEVER_SCANNED
    assert got[("reboot", "reboot")] == CheckVerdict.REBOOT_OVERDUE
    assert got[("reboot-ok", "reboot")] == CheckVerdict.OK
    assert ev.tally.checks_by_bucket[Bucket.FAIL] == 3
    assert ev.gate().exit_code == 1


def test_scope_limits_hosts_and_counts_them(tmp_path: Path) -> None:
    scoped = POLICY.replace("spec:\n", 'spec:\n  scope: \'"cde" in host.tags\'\n', 1)
    b = bundle_of(tmp_path, scoped)
    ev = run(b, host(finding(), id="in", tags=["cde"]), host(finding(), id="out"))
    assert [i.host for i in ev.items] == ["in"]
    assert ev.tally.hosts_read == 2 and ev.tally.findings_read == 2
    assert ev.tally.hosts_in_scope["sla"] == 1


def test_effective_from_turns_failures_into_warnings(tmp_path: Path) -> None:
    future = POLICY.replace("  version: 1.0.0\n", "  version: 1.0.0\n  effective_from: 2027-01-01\n")
    b = bundle_of(tmp_path, future)
    old = (AS_OF - timedelta(days=40)).isoformat()
    ev = run(b, host(finding(fix_released_at=old), last_scan=None))
    item = only_item(ev)
    assert item.verdict == Verdict.OVERDUE
    assert item.bucket == Bucket.WARN and item.before_effective
    assert ev.gate().exit_code == 0
    assert ev.policies[0].in_effect is False


def test_control_rollup(sla: Any) -> None:
    old = (AS_OF - timedelta(days=40)).isoformat()
    ev = run(sla, host(finding(fix_released_at=old)))
    (control,) = ev.controls
    assert control.control == "A.8.8" and control.status == "not_satisfied"
    assert control.failing_total == 1
    assert control.failing == ("sla/h1/CVE-2026-0001/pkg",)
    ok = run(sla, host(finding()))
    assert ok.controls[0].status == "satisfied"


def test_duplicate_finding_id_is_one_error_naming_every_record(sla: Any) -> None:
    ev = run(sla, host(finding(), finding(id="other"), finding(severity="low")))
    by_id = {i.finding: i for i in ev.items}
    assert len(ev.items) == 2 and by_id["other"].verdict == Verdict.OPEN
    dup = by_id["CVE-2026-0001/pkg"]
    assert dup.verdict == Verdict.ERROR and dup.deadline is None
    assert dup.message == "duplicate finding id 'CVE-2026-0001/pkg' on host 'h1': findings[0], findings[2]"
    # Every record was read; the two with one id give one verdict.
    assert ev.tally.findings_read == 3 and ev.tally.items == 2


def test_duplicate_host_is_bad_input(sla: Any) -> None:
    with pytest.raises(SnapshotError, match="duplicate host id 'h1'"):
        run(sla, host(), host())


def test_rule_outcomes_are_memoised(sla: Any) -> None:
    hosts = [host(*(finding(id=f"f{i}", severity=s) for i, s in enumerate(["high", "low"] * 50)),
                  id=f"h{n}") for n in range(20)]
    ev = run(sla, *hosts)
    assert ev.tally.items == 2000
    # 2000 findings, two distinct severities: the `high` rule runs twice, not 2000 times.
    rule = ev.bundle.policies[0].rules[2].when
    assert rule.cache_info()[1] == 2


# ---------------------------------------------------------------- properties

_starts = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(a=_starts, b=_starts)
def test_earlier_clock_start_never_gives_later_deadline(tmp_path_factory: Any, a: datetime, b: datetime) -> None:
    sla = _cached_bundle(tmp_path_factory)
    early, late = sorted([a, b])
    d_early = only_item(run(sla, host(finding(fix_released_at=early.isoformat())))).deadline
    d_late = only_item(run(sla, host(finding(fix_released_at=late.isoformat())))).deadline
    assert d_early is not None and d_late is not None and d_early <= d_late


@settings(max_examples=40, deadline=None)
@given(start=_starts, within=st.integers(min_value=1, max_value=400))
def test_adding_a_matching_rule_never_makes_a_deadline_later(
    tmp_path_factory: Any, start: datetime, within: int
) -> None:
    base = _cached_bundle(tmp_path_factory)
    extra = POLICY.replace(
        "  hygiene:",
        f"    - id: extra\n      when: finding.severity == \"high\"\n      within: {within}d\n  hygiene:",
    )
    d = tmp_path_factory.mktemp("extra")
    (d / "p.yaml").write_text(extra)
    more = load_bundle([d])
    f = finding(fix_released_at=start.isoformat())
    before = only_item(run(base, host(f))).deadline
    after = only_item(run(more, host(f))).deadline
    assert before is not None and after is not None and after <= before


_BUNDLES: dict[str, Any] = {}


def _cached_bundle(tmp_path_factory: Any) -> Any:
    if "sla" not in _BUNDLES:
        d = tmp_path_factory.mktemp("sla")
        (d / "p.yaml").write_text(POLICY)
        _BUNDLES["sla"] = load_bundle([d])
    return _BUNDLES["sla"]


def test_timestamps_print_with_four_digit_years() -> None:
    from patchpolicy.model.common import format_timestamp

    assert format_timestamp(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00Z"
    assert format_timestamp(datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC)) == "0999-03-04T05:06:07.000008Z"


@pytest.mark.parametrize("when", ["9999-12-31", "0001-01-01"])
def test_unusable_as_of_is_exit_2_naming_it(when: str) -> None:
    from click.testing import CliRunner

    from patchpolicy.cli import main

    root = Path(__file__).resolve().parents[2]
    result = CliRunner().invoke(main, ["check", "-p", str(root / "examples" / "policies"),
                                       "-s", str(root / "examples" / "fleet.json"), "--as-of", when])
    assert result.exit_code == 2
    assert "--as-of" in result.stderr and "outside the usable range" in result.stderr


def test_first_seen_in_year_one_is_judged(sla: Any) -> None:
    item = only_item(run(sla, host(finding(fix_released_at="0001-01-01T00:00:00Z"))))
    assert item.verdict == Verdict.OVERDUE and item.clock_start is not None


def test_over_lifetime_for_one_policy_stays_valid_for_another(tmp_path: Path) -> None:
    strict = POLICY.replace("name: sla", "name: strict").replace("max_lifetime: 90d", "max_lifetime: 30d")
    loose = POLICY.replace("max_lifetime: 90d", "max_lifetime: 365d")
    exc = """
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata: {name: long}
exceptions:
  - id: EXC-LONG
    match: finding.vuln == "CVE-2026-0001"
    justification: sixty days is over the strict policy's limit
    approved_by: a@example.com
    approved_at: 2026-11-01
    expires: 2026-12-31
"""
    for i, doc in enumerate((strict, loose, exc)):
        (tmp_path / f"doc{i}.yaml").write_text(doc)
    # validate fails on it (the PR is where it belongs); evaluation still judges everything.
    b, diags = check_bundle([tmp_path])
    assert [d.severity for d in diags] == ["error"] and "max_lifetime 30d" in diags[0].message
    ev = run(b, host(finding()))
    by_policy = {i.policy: i for i in ev.items}
    assert by_policy["sla"].verdict == Verdict.EXCEPTED
    assert by_policy["strict"].verdict != Verdict.EXCEPTED and by_policy["strict"].deadline is not None
    (report,) = ev.exceptions
    assert report.over_lifetime_for == ("strict",)
    assert report.status == ExceptionStatus.VALID and report.items_covered == 1


def test_over_lifetime_fails_validate_but_not_evaluate(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from patchpolicy.cli import main

    (tmp_path / "p.yaml").write_text(POLICY.replace("max_lifetime: 90d", "max_lifetime: 30d"))
    (tmp_path / "x.yaml").write_text(textwrap.dedent(EXCEPTIONS))
    fleet = tmp_path / "f.json"
    fleet.write_text(msgspec.json.encode({
        "apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": AS_OF.isoformat(),
        "hosts": [{"id": "h1", "last_scan": AS_OF.isoformat(), "findings": [
            finding(id="a", vuln="CVE-2026-0001", fix_released_at="2026-10-01T00:00:00Z")]}],
    }).decode())
    runner = CliRunner()
    validate = runner.invoke(main, ["validate", str(tmp_path / "p.yaml"), str(tmp_path / "x.yaml")])
    assert validate.exit_code == 2 and "max_lifetime 30d" in validate.stderr
    base = ["check", "-p", str(tmp_path / "p.yaml"), "-p", str(tmp_path / "x.yaml"), "-s", str(fleet),
            "--format", "json"]
    result = runner.invoke(main, base)
    evidence = msgspec.json.decode(result.stdout)
    status = {e["id"]: e["status"] for e in evidence["exceptions"]}
    assert status["EXC-VALID"] == "over_lifetime"  # 75 days against a 30-day limit
    (item,) = evidence["items"]
    assert item["verdict"] == "overdue" and item["exception"] is None  # it covers nothing
    tightened = runner.invoke(main, [*base, "--fail-on", "invalid_exception"])
    assert msgspec.json.decode(tightened.stdout)["summary"]["gate"]["failing"] == (
        evidence["summary"]["gate"]["failing"] + sum(1 for s in status.values() if s == "over_lifetime"))
