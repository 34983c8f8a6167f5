"""The planner on hand-built bundles: fake CEL selectors, items built directly."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpolicy.errors import EvaluationError, Location
from patchpolicy.expr.interface import EvalFailure
from patchpolicy.model.bundle import (
    Bundle,
    CompiledFreeze,
    CompiledPolicy,
    CompiledRing,
    CompiledRule,
    CompiledWindow,
)
from patchpolicy.model.fleet import FindingRecord, HostRecord, KevRecord, PackageRecord
from patchpolicy.model.plan import Plan, Priority, UnscheduledReason
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.model.results import BUCKET_OF, Item, Verdict
from patchpolicy.planner import plan, plan_summary, write_plan
from patchpolicy.render.tasks import tasks_csv, tasks_json
from patchpolicy.windows import freeze_intervals


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


AS_OF = utc("2026-11-20T06:00:00Z")  # a Friday


class FakeExpr:
    """A stand-in for CompiledExpression: a Python predicate, or a failure."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fn = _fake(text)

    def evaluate(self, host: HostRecord, finding: FindingRecord | None) -> bool:
        return self.fn(host, finding)

    def evaluate_host(self, host: HostRecord) -> bool:
        return self.fn(host, None)

    def evaluate_uncached(self, host: HostRecord, finding: FindingRecord | None) -> bool:
        return self.fn(host, finding)

    def key(self, host: HostRecord | None, finding: FindingRecord | None) -> tuple[bytes, bytes]:
        """The whole records: a fake does not know which fields it reads."""
        return msgspec.json.encode(host), msgspec.json.encode(finding)


def _fake(text: str) -> Callable[[HostRecord, FindingRecord | None], bool]:
    if text == "true":
        return lambda h, f: True
    if text == "false":
        return lambda h, f: False
    if text == "boom":
        def fail(h: HostRecord, f: FindingRecord | None) -> bool:
            raise EvalFailure("no such key: 'boom'")
        return fail
    if m := re.fullmatch(r'host\.env == "(\w+)"', text):
        env = m.group(1)
        return lambda h, f: h.env == env
    if m := re.fullmatch(r'host\.labels\["ring"\] == "(\w+)"', text):
        ring = m.group(1)
        return lambda h, f: h.labels.get("ring") == ring
    if text == "finding.kev != null":
        return lambda h, f: f is not None and f.kev is not None
    if text == 'finding.severity == "critical"':
        return lambda h, f: f is not None and f.severity == "critical"
    raise AssertionError(f"the fake does not know {text!r}")


def _expr(text: str | None) -> Any:
    return None if text is None else cast(Any, FakeExpr(text))


def policy(
    name: str = "baseline",
    version: str = "1.0.0",
    windows: Sequence[dict[str, Any]] = (),
    freezes: Sequence[dict[str, Any]] = (),
    rings: Sequence[dict[str, Any]] = (),
) -> CompiledPolicy:
    model = PatchPolicy.model_validate(
        {
            "apiVersion": "patchpolicy/v1",
            "kind": "PatchPolicy",
            "metadata": {"name": name, "version": version},
            "spec": {
                "rules": [{"id": "all", "when": "true", "within": "30d"}],
                "windows": list(windows),
                "freezes": list(freezes),
                "rings": list(rings),
            },
        }
    )
    where = Location(f"{name}.yaml", 1, 1)
    spec = model.spec
    return CompiledPolicy(
        policy=model,
        where=where,
        scope=None,
        rules=tuple(CompiledRule(r, _expr(r.when), where) for r in spec.rules),
        windows=tuple(CompiledWindow(w, _expr(w.hosts), where) for w in spec.windows),
        freezes=tuple(
            CompiledFreeze(f, _expr(f.hosts), _expr(f.allow), where) for f in spec.freezes
        ),
        rings=tuple(CompiledRing(r, _expr(r.hosts), where) for r in spec.rings),
    )


def bundle(*policies: CompiledPolicy) -> Bundle:
    return Bundle(policies=tuple(policies), exceptions=(), tests=(), files=())


def finding(
    fid: str, severity: str = "high", kev: bool = False, vuln: str | None = None,
    fixed_version: str = "2.0",
) -> FindingRecord:
    return FindingRecord(
        id=fid,
        vuln=vuln or fid.split("/")[0],
        package=PackageRecord(name=fid.split("/")[-1], version="1.0"),
        fixed_version=fixed_version,
        severity=cast(Any, severity),
        kev=KevRecord(date_added=datetime(2026, 1, 1).date()) if kev else None,
    )


def host(hid: str, env: str = "prod", ring: str | None = None, *findings: FindingRecord) -> HostRecord:
    return HostRecord(
        id=hid, env=env, owner=f"team-{env}", labels={"ring": ring} if ring else {},
        findings=tuple(findings),
    )


def item(
    h: HostRecord, f: FindingRecord, deadline: str | None, verdict: Verdict = Verdict.OPEN,
    policy_name: str = "baseline",
) -> Item:
    return Item(
        policy=policy_name, host=h.id, finding=f.id, vuln=f.vuln,
        package=f.package.name if f.package else None, severity=f.severity, status=f.status,
        verdict=verdict, bucket=BUCKET_OF[verdict],
        deadline=utc(deadline) if deadline else None, kev=f.kev is not None, owner=h.owner,
        fixed_version=f.fixed_version, patch=f.patch,
    )


PROD_SUNDAY = {
    "id": "prod-sunday", "hosts": 'host.env == "prod"', "rrule": "FREQ=WEEKLY;BYDAY=SU",
    "start": "02:00", "duration": "4h", "timezone": "Europe/Berlin",
}
YEAR_END = {
    "id": "year-end", "yearly": {"from": "12-15", "until": "01-05"}, "timezone": "Europe/Berlin",
    "hosts": 'host.env == "prod"', "allow": "finding.kev != null",
}
H90 = timedelta(days=90)


def run(b: Bundle, hosts: Sequence[HostRecord], items: Sequence[Item],
        as_of: datetime = AS_OF, horizon: timedelta = H90) -> Plan:
    return plan(b, items, hosts, as_of=as_of, horizon=horizon)


# ---------------------------------------------------------------- scheduling


def test_one_task_in_the_first_window_with_local_times() -> None:
    f1, f2 = finding("CVE-1/openssl"), finding("CVE-2/curl", severity="medium")
    h = host("web-1", "prod", None, f1, f2)
    p = run(bundle(policy(windows=[PROD_SUNDAY])), [h],
            [item(h, f1, "2026-12-15T00:00:00Z"), item(h, f2, "2027-02-01T00:00:00Z")])
    (t,) = p.tasks
    assert (t.host, t.owner, t.window, t.window_policy, t.timezone) == (
        "web-1", "team-prod", "prod-sunday", "baseline", "Europe/Berlin")
    assert (t.start, t.end) == (utc("2026-11-22T01:00:00Z"), utc("2026-11-22T05:00:00Z"))
    assert (t.start_local, t.end_local) == ("2026-11-22T02:00:00+01:00", "2026-11-22T06:00:00+01:00")
    assert t.deadline == utc("2026-12-15T00:00:00Z")
    assert [f.id for f in t.findings] == ["CVE-1/openssl", "CVE-2/curl"]
    assert t.patches == ("curl 2.0", "openssl 2.0")
    assert not t.at_risk and not t.unscheduled and t.reason is None
    assert t.priority == Priority.P3  # high, deadline 25 days out
    assert re.fullmatch(r"[0-9a-f]{16}", t.id)


def test_window_ending_after_the_deadline_is_at_risk_and_p1() -> None:
    f = finding("CVE-1/openssl", severity="low")
    h = host("web-1", "prod", None, f)
    (t,) = run(bundle(policy(windows=[PROD_SUNDAY])), [h],
               [item(h, f, "2026-11-22T03:00:00Z", Verdict.DUE_SOON)]).tasks
    assert t.at_risk and t.priority == Priority.P1


@pytest.mark.parametrize(
    ("severity", "kev", "deadline", "expected"),
    [
        ("low", True, "2027-02-01T00:00:00Z", Priority.P1),
        ("low", False, "2026-11-19T00:00:00Z", Priority.P1),  # overdue (and at risk)
        ("critical", False, "2027-02-01T00:00:00Z", Priority.P2),
        ("low", False, "2026-11-26T00:00:00Z", Priority.P2),
        ("high", False, "2027-02-01T00:00:00Z", Priority.P3),
        ("low", False, "2026-12-15T00:00:00Z", Priority.P3),
        ("medium", False, "2027-02-01T00:00:00Z", Priority.P4),
    ],
)
def test_priority(severity: str, kev: bool, deadline: str, expected: Priority) -> None:
    f = finding("CVE-1/x", severity=severity, kev=kev)
    h = host("h", "prod", None, f)
    (t,) = run(bundle(policy(windows=[PROD_SUNDAY])), [h], [item(h, f, deadline)]).tasks
    assert t.priority == expected


def test_only_items_needing_remediation_are_planned() -> None:
    fs = [finding(f"CVE-{i}/p{i}") for i in range(8)]
    h = host("h", "prod", None, *fs)
    items = [
        item(h, fs[0], "2026-12-01T00:00:00Z", Verdict.OVERDUE),
        item(h, fs[1], "2026-12-01T00:00:00Z", Verdict.DUE_SOON),
        item(h, fs[2], "2026-12-01T00:00:00Z", Verdict.OPEN),
        item(h, fs[3], "2026-12-01T00:00:00Z", Verdict.EXCEPTED),
        item(h, fs[4], None, Verdict.NOT_AFFECTED),
        item(h, fs[5], None, Verdict.ERROR),
        item(h, fs[6], "2026-10-01T00:00:00Z", Verdict.REMEDIATED),
        item(h, fs[7], None, Verdict.UNTRACKED),
    ]
    (t,) = run(bundle(policy(windows=[PROD_SUNDAY])), [h], items).tasks
    assert [f.id for f in t.findings] == ["CVE-0/p0", "CVE-1/p1", "CVE-2/p2"]
    assert [f.verdict for f in t.findings] == ["overdue", "due_soon", "open"]


def test_a_finding_in_several_policies_is_planned_once_at_its_earliest_deadline() -> None:
    f = finding("CVE-1/openssl")
    h = host("h", "prod", None, f)
    b = bundle(policy(windows=[PROD_SUNDAY]), policy("pci", "2.1.0"))
    items = [
        item(h, f, "2027-01-01T00:00:00Z", Verdict.OPEN, "baseline"),
        item(h, f, "2026-11-25T00:00:00Z", Verdict.DUE_SOON, "pci"),
    ]
    (t,) = run(b, [h], items).tasks
    (pf,) = t.findings
    assert pf.deadline == utc("2026-11-25T00:00:00Z")
    assert pf.verdict == "due_soon"
    assert pf.policies == ("baseline", "pci")
    # Excepted under one policy but open under another: still planned.
    items[0] = item(h, f, "2027-01-01T00:00:00Z", Verdict.EXCEPTED, "baseline")
    (t,) = run(b, [h], items).tasks
    assert t.findings[0].policies == ("pci",)


def test_earliest_window_across_windows_and_policies() -> None:
    f = finding("CVE-1/x")
    h = host("h", "prod", None, f)
    saturday = {**PROD_SUNDAY, "id": "sat", "rrule": "FREQ=WEEKLY;BYDAY=SA", "timezone": "UTC"}
    b = bundle(policy(windows=[PROD_SUNDAY]), policy("other", windows=[saturday]))
    (t,) = run(b, [h], [item(h, f, "2026-12-15T00:00:00Z")]).tasks
    assert (t.window, t.window_policy, t.start) == ("sat", "other", utc("2026-11-21T02:00:00Z"))


def test_window_at_as_of_counts_and_earlier_does_not() -> None:
    f = finding("CVE-1/x")
    h = host("h", "prod", None, f)
    b = bundle(policy(windows=[PROD_SUNDAY]))
    (t,) = run(b, [h], [item(h, f, "2026-12-15T00:00:00Z")], as_of=utc("2026-11-22T01:00:00Z")).tasks
    assert t.start == utc("2026-11-22T01:00:00Z")
    (t,) = run(b, [h], [item(h, f, "2026-12-15T00:00:00Z")], as_of=utc("2026-11-22T01:00:01Z")).tasks
    assert t.start == utc("2026-11-29T01:00:00Z")


# ---------------------------------------------------------------- freezes


def test_freeze_swallows_several_windows_and_splits_allowed_findings() -> None:
    kev, plain = finding("CVE-K/openssh", kev=True), finding("CVE-P/curl")
    h = host("h", "prod", None, kev, plain)
    as_of = utc("2026-12-14T00:00:00Z")
    p = run(bundle(policy(windows=[PROD_SUNDAY], freezes=[YEAR_END])), [h],
            [item(h, kev, "2026-12-24T00:00:00Z"), item(h, plain, "2027-01-31T00:00:00Z")],
            as_of=as_of)
    first, second = p.tasks
    # The KEV fix may go into the frozen 20 December window; the rest waits for 10 January
    # (20 Dec, 27 Dec and 3 Jan are frozen).
    assert ([f.id for f in first.findings], first.start, first.freezes_allowed) == (
        ["CVE-K/openssh"], utc("2026-12-20T01:00:00Z"), ("year-end",))
    assert ([f.id for f in second.findings], second.start, second.freezes_allowed) == (
        ["CVE-P/curl"], utc("2027-01-10T01:00:00Z"), ())
    assert first.id != second.id


def test_freeze_not_selecting_the_host_does_not_bind() -> None:
    f = finding("CVE-1/x")
    h = host("h", "staging", None, f)
    every_day = {**PROD_SUNDAY, "hosts": None, "rrule": "FREQ=DAILY"}
    (t,) = run(bundle(policy(windows=[every_day], freezes=[YEAR_END])), [h],
               [item(h, f, "2027-01-31T00:00:00Z")], as_of=utc("2026-12-20T00:00:00Z")).tasks
    assert t.start == utc("2026-12-20T01:00:00Z")


def test_occurrence_touching_a_freeze_partly_is_frozen() -> None:
    f = finding("CVE-1/x")
    h = host("h", "prod", None, f)
    # 22:00-02:00 UTC the night before the freeze starts at 00:00 UTC on 20 December.
    late = {"id": "late", "rrule": "FREQ=DAILY", "start": "22:00", "duration": "4h"}
    fz = {"id": "fz", "from": "2026-12-20T00:00:00Z", "until": "2026-12-21T00:00:00Z"}
    (t,) = run(bundle(policy(windows=[late], freezes=[fz])), [h],
               [item(h, f, "2027-01-31T00:00:00Z")], as_of=utc("2026-12-19T12:00:00Z")).tasks
    assert t.start == utc("2026-12-21T22:00:00Z")


# ---------------------------------------------------------------- unscheduled


def test_no_window_selects_the_host() -> None:
    f = finding("CVE-1/x", severity="low")
    h = host("h", "dev", None, f)
    (t,) = run(bundle(policy(windows=[PROD_SUNDAY])), [h], [item(h, f, "2027-12-01T00:00:00Z")]).tasks
    assert (t.unscheduled, t.reason, t.window, t.start) == (True, UnscheduledReason.NO_WINDOW, None, None)
    assert t.at_risk and t.priority == Priority.P1


def test_no_window_within_the_horizon() -> None:
    f = finding("CVE-1/x", severity="low")
    h = host("h", "prod", None, f)
    leap = {**PROD_SUNDAY, "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"}
    (t,) = run(bundle(policy(windows=[leap])), [h], [item(h, f, "2027-12-01T00:00:00Z")]).tasks
    assert (t.unscheduled, t.reason, t.at_risk) == (True, UnscheduledReason.NONE_WITHIN_HORIZON, False)
    (t,) = run(bundle(policy(windows=[leap])), [h], [item(h, f, "2026-12-01T00:00:00Z")]).tasks
    assert t.at_risk  # the deadline falls inside the horizon


def test_all_windows_frozen() -> None:
    f = finding("CVE-1/x")
    h = host("h", "prod", None, f)
    fz = {"id": "long", "from": "2026-11-01", "until": "2027-06-01"}
    (t,) = run(bundle(policy(windows=[PROD_SUNDAY], freezes=[fz])), [h],
               [item(h, f, "2026-12-01T00:00:00Z")]).tasks
    assert (t.unscheduled, t.reason) == (True, UnscheduledReason.FROZEN)


def test_a_host_can_have_scheduled_and_unscheduled_tasks() -> None:
    kev, plain = finding("CVE-K/a", kev=True), finding("CVE-P/b")
    h = host("h", "prod", None, kev, plain)
    fz = {**YEAR_END, "yearly": None, "from": "2026-11-01", "until": "2027-06-01"}
    p = run(bundle(policy(windows=[PROD_SUNDAY], freezes=[fz])), [h],
            [item(h, kev, "2026-12-01T00:00:00Z"), item(h, plain, "2026-12-01T00:00:00Z")])
    assert [(t.unscheduled, [f.id for f in t.findings]) for t in p.tasks] == [
        (False, ["CVE-K/a"]), (True, ["CVE-P/b"]),
    ]
    assert p.counts.by_reason == {"frozen": 1}


# ---------------------------------------------------------------- rings

RINGS = [
    {"id": "canary", "hosts": 'host.labels["ring"] == "canary"', "soak": "2d"},
    {"id": "broad", "hosts": 'host.labels["ring"] == "broad"'},
]
DAILY = {"id": "nightly", "rrule": "FREQ=DAILY", "start": "01:00", "duration": "2h"}


def test_later_ring_waits_for_the_soak_after_the_earlier_rings_window() -> None:
    canary_f = finding("CVE-1/openssl", vuln="CVE-1")
    broad_f = finding("CVE-1/openssl", vuln="CVE-1")
    other = finding("CVE-9/zlib")
    c = host("c1", "prod", "canary", canary_f)
    b = host("b1", "prod", "broad", broad_f, other)
    p = run(bundle(policy(windows=[DAILY], rings=RINGS)), [b, c],
            [item(b, broad_f, "2027-01-31T00:00:00Z"), item(b, other, "2027-01-31T00:00:00Z"),
             item(c, canary_f, "2027-01-31T00:00:00Z")])
    by = {(t.host, t.findings[0].id): t for t in p.tasks}
    canary = by[("c1", "CVE-1/openssl")]
    assert (canary.ring, canary.start, canary.end) == ("canary", utc("2026-11-21T01:00:00Z"), utc("2026-11-21T03:00:00Z"))
    broad = by[("b1", "CVE-1/openssl")]
    # Canary window ends 21 Nov 03:00; +2d soak = 23 Nov 03:00; the next nightly is 24 Nov 01:00.
    assert (broad.ring, broad.soak_until, broad.start) == ("broad", utc("2026-11-23T03:00:00Z"), utc("2026-11-24T01:00:00Z"))
    assert not broad.soak_delayed and not broad.at_risk
    # A patch the canary ring does not carry is not held back.
    assert by[("b1", "CVE-9/zlib")].start == utc("2026-11-21T01:00:00Z")


def test_soak_that_pushes_past_the_deadline_is_flagged() -> None:
    cf, bf = finding("CVE-1/openssl"), finding("CVE-1/openssl")
    c, b = host("c1", "prod", "canary", cf), host("b1", "prod", "broad", bf)
    p = run(bundle(policy(windows=[DAILY], rings=RINGS)), [c, b],
            [item(c, cf, "2026-11-30T00:00:00Z"), item(b, bf, "2026-11-22T00:00:00Z", Verdict.DUE_SOON)])
    broad = next(t for t in p.tasks if t.host == "b1")
    assert broad.soak_delayed and broad.at_risk and broad.priority == Priority.P1
    assert broad.findings[0].soak_delayed
    assert p.counts.soak_delayed == 1


def test_soak_beyond_the_horizon_leaves_the_later_ring_unscheduled() -> None:
    cf, bf = finding("CVE-1/openssl"), finding("CVE-1/openssl")
    c, b = host("c1", "prod", "canary", cf), host("b1", "prod", "broad", bf)
    rings = [{**RINGS[0], "soak": "30d"}, RINGS[1]]
    p = run(bundle(policy(windows=[DAILY], rings=rings)), [c, b],
            [item(c, cf, "2026-12-30T00:00:00Z"), item(b, bf, "2026-11-25T00:00:00Z")],
            horizon=timedelta(days=14))
    broad = next(t for t in p.tasks if t.host == "b1")
    assert (broad.unscheduled, broad.reason, broad.soak_delayed) == (True, UnscheduledReason.RING_SOAK, True)


def test_soak_skips_an_intermediate_ring_without_the_patch() -> None:
    cf, bf = finding("CVE-1/openssl"), finding("CVE-1/openssl")
    c, b = host("c1", "prod", "canary", cf), host("b1", "prod", "broad", bf)
    rings = [RINGS[0], {"id": "early", "hosts": 'host.labels["ring"] == "early"', "soak": "5d"}, RINGS[1]]
    p = run(bundle(policy(windows=[DAILY], rings=rings)), [c, b],
            [item(c, cf, "2027-01-30T00:00:00Z"), item(b, bf, "2027-01-30T00:00:00Z")])
    broad = next(t for t in p.tasks if t.host == "b1")
    assert broad.soak_until == utc("2026-11-23T03:00:00Z")


# ---------------------------------------------------------------- fail closed


def test_cel_failures_fail_closed_and_are_reported() -> None:
    f = finding("CVE-1/x")
    h = host("h", "prod", None, f)
    boom_window = {**PROD_SUNDAY, "id": "bad", "hosts": "boom"}
    p = run(bundle(policy(windows=[boom_window])), [h], [item(h, f, "2027-01-01T00:00:00Z")])
    assert p.tasks[0].reason == UnscheduledReason.NO_WINDOW
    assert p.problems == ('window "bad" (policy "baseline"): hosts: no such key: \'boom\' (host "h")',)
    # A freeze whose selector fails binds; an allow that fails does not admit.
    fz = {"id": "fz", "from": "2026-11-01", "until": "2026-11-30", "hosts": "boom", "allow": "boom"}
    p = run(bundle(policy(windows=[PROD_SUNDAY], freezes=[fz])), [h], [item(h, f, "2027-01-01T00:00:00Z")])
    assert p.tasks[0].start == utc("2026-12-06T01:00:00Z")
    assert len(p.problems) == 2


def test_results_must_match_the_snapshot() -> None:
    f = finding("CVE-1/x")
    h = host("h", "prod", None, f)
    b = bundle(policy(windows=[PROD_SUNDAY]))
    with pytest.raises(EvaluationError, match='host "h" in the results is not in the snapshot'):
        run(b, [], [item(h, f, "2027-01-01T00:00:00Z")])
    with pytest.raises(EvaluationError, match='finding "CVE-1/x"'):
        run(b, [host("h", "prod")], [item(h, f, "2027-01-01T00:00:00Z")])
    with pytest.raises(ValueError, match="horizon"):
        run(b, [h], [], horizon=timedelta(0))


# ---------------------------------------------------------------- ids and outputs


def test_task_ids_are_stable_and_depend_on_policy_versions_host_and_findings() -> None:
    f1, f2 = finding("CVE-1/a"), finding("CVE-2/b")
    h = host("h", "prod", None, f1, f2)
    items = [item(h, f1, "2027-01-01T00:00:00Z"), item(h, f2, "2027-01-01T00:00:00Z")]
    one = run(bundle(policy(windows=[PROD_SUNDAY])), [h], items).tasks[0].id
    assert run(bundle(policy(windows=[PROD_SUNDAY])), [h], list(reversed(items))).tasks[0].id == one
    # Another window or as-of: same ticket.
    later = run(bundle(policy(windows=[PROD_SUNDAY])), [h], items, as_of=utc("2026-12-01T00:00:00Z"))
    assert later.tasks[0].id == one
    assert run(bundle(policy(version="1.0.1", windows=[PROD_SUNDAY])), [h], items).tasks[0].id != one
    assert run(bundle(policy(windows=[PROD_SUNDAY])), [h], items[:1]).tasks[0].id != one


def _sample_plan() -> Plan:
    kev, plain = finding("CVE-K/openssh", kev=True), finding("CVE-P/curl", severity="critical")
    h = host("h", "prod", None, kev, plain)
    d = host("=cmd", "dev", None, plain)
    return run(bundle(policy(windows=[PROD_SUNDAY], freezes=[YEAR_END])), [h, d],
               [item(h, kev, "2026-12-24T00:00:00Z"), item(h, plain, "2027-01-31T00:00:00Z"),
                item(d, plain, "2027-01-31T00:00:00Z")],
               as_of=utc("2026-12-14T00:00:00Z"))


def test_outputs_are_deterministic_and_parse_back(tmp_path: Path) -> None:
    p = _sample_plan()
    written = write_plan(p, tmp_path / "out")
    assert [w.name for w in written] == ["tasks.json", "tasks.csv"]
    assert written[0].read_bytes() == tasks_json(_sample_plan())
    assert written[1].read_bytes() == tasks_csv(_sample_plan())
    doc = json.loads(written[0].read_text())
    assert doc["kind"] == "RemediationPlan" and doc["as_of"] == "2026-12-14T00:00:00Z"
    assert [t["id"] for t in doc["tasks"]] == [t.id for t in p.tasks]
    rows = list(csv.DictReader(io.StringIO(written[1].read_text())))
    assert [r["id"] for r in rows] == [t.id for t in p.tasks]
    assert rows[0]["start"] == "2026-12-20T01:00:00Z" and rows[0]["freezes_allowed"] == "year-end"
    # A cell that a spreadsheet would run as a formula is quoted.
    assert "'=cmd" in {r["host"] for r in rows}
    assert not list(tmp_path.glob("out/.*"))
    # Ready for a ticket import: one-line summary, highest severity, policies, controls.
    first = rows[0]
    task = p.tasks[0]
    assert first["summary"] == task.summary == \
        "P1 patch h: 1 finding (high, KEV) by 2026-12-24, in baseline/prod-sunday 2026-12-20"
    assert first["highest_severity"] == "high" == task.highest_severity
    assert first["policies"] == "baseline" and task.policies == ("baseline",)
    assert first["controls"] == "" and task.controls == ()  # the test policy names none


def test_summary_names_counts_and_urgent_tasks() -> None:
    text = plan_summary(_sample_plan())
    assert text.splitlines()[0] == "plan at 2026-12-14T00:00:00Z, horizon 90d: 3 tasks for 2 hosts, 3 findings"
    assert "unscheduled: 1 (no_window 1)" in text
    assert "P1 h: 1 finding, deadline 2026-12-24T00:00:00Z, prod-sunday 2026-12-20T01:00:00Z" in text


# ---------------------------------------------------------------- property

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    as_of=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    rule=st.sampled_from(["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU", "FREQ=WEEKLY;BYDAY=TU,SA"]),
    hour=st.integers(0, 23),
    hours=st.integers(1, 12),
    freezes=st.lists(
        st.one_of(
            st.tuples(st.just("yearly"), st.integers(1, 12), st.integers(1, 28),
                      st.integers(1, 12), st.integers(1, 28)),
            st.tuples(st.just("absolute"), st.integers(-10, 80), st.integers(1, 40),
                      st.just(0), st.just(0)),
        ),
        max_size=3,
    ),
    kev=st.booleans(),
    allow=st.booleans(),
)
def test_planned_task_never_starts_before_as_of_or_inside_a_binding_freeze(
    as_of: datetime, zone: str, rule: str, hour: int, hours: int,
    freezes: list[tuple[str, int, int, int, int]], kev: bool, allow: bool,
) -> None:
    w = {"id": "w", "rrule": rule, "start": f"{hour:02d}:00", "duration": f"{hours}h", "timezone": zone}
    fzs: list[dict[str, Any]] = []
    for i, (kind, a, b, c, d) in enumerate(freezes):
        spec: dict[str, Any] = {"id": f"f{i}", "timezone": zone}
        if allow:
            spec["allow"] = "finding.kev != null"
        if kind == "yearly":
            spec["yearly"] = {"from": f"{a:02d}-{b:02d}", "until": f"{c:02d}-{d:02d}"}
        else:
            start = as_of + timedelta(days=a)
            spec["from"] = start.isoformat()
            spec["until"] = (start + timedelta(days=b)).isoformat()
        fzs.append(spec)
    pol = policy(windows=[w], freezes=fzs)
    f = finding("CVE-1/x", kev=kev)
    h = host("h", "prod", None, f)
    p = run(bundle(pol), [h], [item(h, f, (as_of + timedelta(days=20)).isoformat())], as_of=as_of)
    (t,) = p.tasks
    if t.unscheduled:
        assert t.reason in (UnscheduledReason.FROZEN, UnscheduledReason.NONE_WITHIN_HORIZON)
        return
    assert t.start is not None and t.end is not None
    assert t.start >= as_of and t.start < as_of + H90
    admitted = allow and kev
    for cf in pol.freezes:
        if freeze_intervals(cf.freeze, t.start, t.end):
            assert admitted and cf.freeze.id in t.freezes_allowed


# ---------------------------------------------------------------- upcoming windows


def test_upcoming_windows_for_a_host_mark_binding_freezes() -> None:
    from patchpolicy.upcoming import format_upcoming, upcoming_windows

    b = bundle(policy(windows=[PROD_SUNDAY, {**DAILY, "hosts": 'host.env == "dev"'}],
                      freezes=[YEAR_END]))
    prod, dev = host("p", "prod"), host("d", "dev")
    after = utc("2026-12-14T00:00:00Z")
    got, problems = upcoming_windows(b, after, 2, prod)
    assert problems == []
    assert [(u.window, u.occurrence.start) for u in got] == [
        ("prod-sunday", utc("2026-12-20T01:00:00Z")), ("prod-sunday", utc("2026-12-27T01:00:00Z")),
    ]
    assert [(n.freeze, n.binds) for n in got[0].freezes] == [("year-end", True)]
    text = format_upcoming(got)
    assert text.splitlines()[0] == (
        "2026-12-20T01:00:00Z .. 2026-12-20T05:00:00Z  baseline/prod-sunday  "
        "(2026-12-20 02:00 CET .. 2026-12-20 06:00 CET, Europe/Berlin)  "
        "[FROZEN year-end: allowed: finding.kev != null]"
    )
    got, _ = upcoming_windows(b, utc("2026-12-16T00:00:00Z"), 1, dev)
    assert [(u.window, [(n.freeze, n.binds) for n in u.freezes]) for u in got] == [
        ("nightly", [("year-end", False)]),
    ]
    assert "[freeze year-end: not this host]" in format_upcoming(got)
    everything, _ = upcoming_windows(b, after, 1)
    assert [u.window for u in everything] == ["nightly", "prod-sunday"]
    assert everything[1].freezes[0].binds is None
    assert format_upcoming([]) == ""


def test_tasks_json_streamed_is_the_whole_document_formatted() -> None:
    import msgspec

    from patchpolicy.render import tasks as render_tasks

    p = _sample_plan()
    whole = msgspec.json.format(msgspec.json.encode(p), indent=2) + b"\n"
    assert tasks_json(p) == whole
    saved = render_tasks._TASK_BATCH
    try:
        render_tasks._TASK_BATCH = 1  # every task its own chunk
        chunks = list(render_tasks.tasks_json_chunks(p))
    finally:
        render_tasks._TASK_BATCH = saved
    # each task its own chunk (the first with the head), then the tail
    assert len(chunks) == len(p.tasks) + 1 and b"".join(chunks) == whole
    empty = msgspec.structs.replace(p, tasks=())
    assert tasks_json(empty) == msgspec.json.format(msgspec.json.encode(empty), indent=2) + b"\n"


def test_streamed_plan_from_the_evaluators_first_pass_equals_the_in_memory_plan(
    tmp_path: Path,
) -> None:
    """The evidence bundle's path (the first pass fed by the evaluator, rows and tasks
    spilled to disk) gives the bytes of ``plan`` on the same inputs."""
    from patchpolicy.evaluator import evaluate
    from patchpolicy.loader import load_bundle
    from patchpolicy.planner import HostPlanning, stream_plan
    from patchpolicy.snapshot import open_snapshot

    root = Path(__file__).resolve().parents[2]
    bundle = load_bundle([root / "examples" / "policies"])
    snap = open_snapshot(root / "examples" / "fleet.json", retain_hosts=True)
    as_of = snap.header.taken_at.astimezone(UTC)
    horizon = timedelta(days=90)
    first = HostPlanning(bundle, as_of, horizon, spill_dir=tmp_path, memory_bytes=200)
    ev = evaluate(bundle, snap.hosts(), as_of=as_of, taken_at=snap.header.taken_at,
                  planning=first)
    assert ev.remediation is not None and ev.remediation.count > 1
    assert ev.remediation.hosts.spilled  # type: ignore[attr-defined]
    streamed = stream_plan(bundle, ev.remediation, as_of=as_of, horizon=horizon,
                           spill_dir=tmp_path, memory_bytes=200)
    whole = plan(bundle, ev, snap.hosts(), as_of=as_of, horizon=horizon)
    assert whole.tasks and len(streamed.tasks) == len(whole.tasks)  # type: ignore[arg-type]
    assert tasks_json(streamed) == tasks_json(whole)
    assert tasks_csv(streamed) == tasks_csv(whole)
    assert plan_summary(streamed) == plan_summary(whole)
    with pytest.raises(ValueError, match="another as-of or horizon"):
        stream_plan(bundle, ev.remediation, as_of=as_of, horizon=timedelta(days=30))
