"""Remediation plan: evaluation results + windows, freezes and rings -> tasks per host and window.

Pure apart from ``write_plan``: the same bundle, results, hosts, as-of and horizon give the
same plan and the same bytes. The rules (also in docs/windows.md):

* What is planned: every item whose verdict is ``overdue``, ``due_soon`` or ``open`` and
  that has a deadline. ``excepted``, ``not_affected``, ``error``, ``untracked`` and
  remediated items are not. A finding judged by several policies is planned once, under
  its earliest deadline among the items that need it.
* Windows, freezes and rings come from every policy of the bundle: a window is a property
  of the hosts it selects, not of one policy's findings.
* Each finding goes into the first occurrence, among all windows selecting its host,
  that starts at or after as-of and before as-of + horizon, that no binding freeze
  blocks, and that the ring soak allows. A freeze binds when it overlaps the occurrence
  at all and selects the host; it blocks a finding its ``allow`` does not admit. So
  findings a freeze admits (e.g. KEV) may go into a frozen window while the others wait:
  tasks are split by occurrence. One task per (host, occurrence).
* Rings: a host belongs to the first ring (policies in bundle order, rings in listed
  order) whose selector matches; a host in no ring is not held back. A patch (the
  finding's ``vuln`` and ``fixed_version``) goes to a host of ring k only into an
  occurrence starting at or after the latest END of the windows planned for the same
  patch in the nearest earlier ring of the same policy that has any, plus that ring's
  ``soak``. Earlier-ring hosts the plan could not schedule impose no wait.
* ``at_risk``: the window ends after the task's earliest deadline. An unscheduled task is
  at risk when no window selects the host at all or its deadline falls inside the
  horizon. ``soak_delayed``: without the soak wait the finding would have met its
  deadline and with it it does not (or it became unscheduled).
* Priority: ``P1`` at risk, overdue or KEV; ``P2`` critical or deadline within 7 days;
  ``P3`` high or deadline within 30 days; ``P4`` otherwise.
* Task ids: the first 16 hex digits of sha256 over the names and versions of the policies
  that need the task's findings, the host and the sorted finding ids. A re-run with the
  same policies keeps the ids even if the task moves to another window.

CEL failures never pass silently (fail closed): a window selector that fails does not
select the host, a freeze selector that fails binds, an ``allow`` that fails does not
admit; each failure is listed in ``Plan.problems``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from patchpolicy.errors import EvaluationError
from patchpolicy.model.common import format_duration, format_timestamp
from patchpolicy.model.fleet import API_VERSION, FindingRecord, HostRecord
from patchpolicy.model.plan import (
    Plan,
    PlanCounts,
    PlannedFinding,
    PolicyRef,
    Priority,
    Task,
    UnscheduledReason,
)
from patchpolicy.model.results import OPEN_VERDICTS, SEVERITY_ORDER, Item, Verdict
from patchpolicy.selection import BundleSelectors
from patchpolicy.snapshot import atomic_write
from patchpolicy.windows import Occurrence, freeze_intervals, iter_occurrences

if TYPE_CHECKING:
    from patchpolicy.evaluator import Evaluation
    from patchpolicy.model.bundle import Bundle, CompiledPolicy, CompiledRing

__all__ = ["PLANNED_VERDICTS", "plan", "plan_summary", "write_plan"]

PLANNED_VERDICTS = OPEN_VERDICTS
"""Verdicts whose items are planned (when they carry a deadline)."""

_VERDICT_RANK = {Verdict.OVERDUE: 0, Verdict.DUE_SOON: 1, Verdict.OPEN: 2}


# ---------------------------------------------------------------- planning


@dataclass(slots=True)
class _Need:
    finding: FindingRecord
    deadline: datetime
    verdict: Verdict
    policies: set[str] = field(default_factory=set)
    kev: bool = False


@dataclass(frozen=True)
class _Slot:
    """A window occurrence with where it came from and the freezes that overlap it."""

    occurrence: Occurrence
    policy: str
    window: str
    freezes: tuple[int, ...]

    @property
    def key(self) -> tuple[datetime, datetime, str, str]:
        return (self.occurrence.start, self.occurrence.end, self.policy, self.window)


@dataclass(slots=True)
class _Choice:
    slot: _Slot | None
    reason: UnscheduledReason | None
    soak_delayed: bool
    soak_until: datetime | None


def _patch_key(f: FindingRecord) -> tuple[str, str]:
    return (f.vuln, f.fixed_version or "")


def _patch_label(f: PlannedFinding) -> str:
    if f.patch:
        return f.patch
    if f.package and f.fixed_version:
        return f"{f.package} {f.fixed_version}"
    return f.package or f.vuln


def _task_id(policies: Iterable[PolicyRef], host: str, finding_ids: Iterable[str]) -> str:
    h = hashlib.sha256()
    parts = [
        "patchpolicy-task/v1",
        *sorted(f"{p.name}@{p.version}" for p in policies),
        "host",
        host,
        "findings",
        *sorted(finding_ids),
    ]
    h.update("\n".join(parts).encode())
    return h.hexdigest()[:16]


def _priority(
    at_risk: bool, findings: Sequence[PlannedFinding], deadline: datetime, as_of: datetime
) -> Priority:
    if at_risk or deadline < as_of or any(f.kev for f in findings):
        return Priority.P1
    if any(f.severity == "critical" for f in findings) or deadline <= as_of + timedelta(days=7):
        return Priority.P2
    if any(f.severity == "high" for f in findings) or deadline <= as_of + timedelta(days=30):
        return Priority.P3
    return Priority.P4


class _Planner(BundleSelectors):
    def __init__(
        self, bundle: Bundle, as_of: datetime, horizon: timedelta
    ) -> None:
        super().__init__(bundle)
        self.bundle = bundle
        self.as_of = as_of
        self.end = as_of + horizon
        #: Policy name -> the controls it evidences, as ``PCI-DSS 4.0.1 6.3.3``.
        self.controls: dict[str, tuple[str, ...]] = {
            p.name: tuple(f"{c.framework} {c.version} {c.id}" for c in p.policy.metadata.controls)
            for p in bundle.policies
        }
        self.rings: list[tuple[int, int, CompiledPolicy, CompiledRing]] = [
            (pi, ri, p, r)
            for pi, p in enumerate(bundle.policies)
            for ri, r in enumerate(p.rings)
        ]
        longest = max((w.window.duration for _, w in self.windows), default=timedelta(0))
        intervals = [
            freeze_intervals(f.freeze, as_of, self.end + longest) for _, f in self.freezes
        ]
        self.slots: list[list[_Slot]] = []
        for p, w in self.windows:
            slots = []
            for occ in iter_occurrences(w.window, as_of, self.end):
                overlapping = tuple(
                    i
                    for i, ivs in enumerate(intervals)
                    if any(iv.start < occ.end and occ.start < iv.end for iv in ivs)
                )
                slots.append(_Slot(occ, p.name, w.window.id, overlapping))
            self.slots.append(slots)
        # (policy index, ring index) -> patch -> latest planned window end.
        self.ring_ends: dict[tuple[int, int], dict[tuple[str, str], datetime]] = {}

    # ------------------------------------------------------------ per host

    def ring_of(self, host: HostRecord) -> tuple[int, int, str] | None:
        for pi, ri, p, r in self.rings:
            if self.selects(f'ring "{r.ring.id}" (policy "{p.name}")', r.hosts, host, False):
                return (pi, ri, r.ring.id)
        return None

    def host_slots(self, host: HostRecord) -> tuple[list[_Slot], bool]:
        """The occurrences of windows selecting the host, sorted; and whether any selects."""
        selected = False
        slots: list[_Slot] = []
        for (p, w), ws in zip(self.windows, self.slots, strict=True):
            what = f'window "{w.window.id}" (policy "{p.name}")'
            if self.selects(what, w.hosts, host, False):
                selected = True
                slots.extend(ws)
        slots.sort(key=lambda s: s.key)
        return slots, selected

    def binding_freezes(self, host: HostRecord) -> set[int]:
        return {
            i
            for i, (p, fz) in enumerate(self.freezes)
            if self.selects(f'freeze "{fz.freeze.id}" (policy "{p.name}")', fz.hosts, host, True)
        }

    def soak_until(self, ring: tuple[int, int, str] | None, f: FindingRecord) -> datetime | None:
        if ring is None:
            return None
        pi, ri, _ = ring
        key = _patch_key(f)
        for rj in range(ri - 1, -1, -1):
            end = self.ring_ends.get((pi, rj), {}).get(key)
            if end is not None:
                soak = self.bundle.policies[pi].rings[rj].ring.soak or timedelta(0)
                return end + soak
        return None

    def choose(
        self,
        host: HostRecord,
        need: _Need,
        slots: list[_Slot],
        selected: bool,
        binding: set[int],
        soak_until: datetime | None,
    ) -> _Choice:
        if not selected:
            return _Choice(None, UnscheduledReason.NO_WINDOW, False, soak_until)
        if not slots:
            return _Choice(None, UnscheduledReason.NONE_WITHIN_HORIZON, False, soak_until)
        allowed: dict[int, bool] = {}

        def free(slot: _Slot) -> bool:
            for i in slot.freezes:
                if i not in binding:
                    continue
                if i not in allowed:
                    p, fz = self.freezes[i]
                    allowed[i] = self.allowed(fz, p.name, host, need.finding)
                if not allowed[i]:
                    return False
            return True

        unconstrained = next((s for s in slots if free(s)), None)
        if unconstrained is None:
            return _Choice(None, UnscheduledReason.FROZEN, False, soak_until)
        if soak_until is None or unconstrained.occurrence.start >= soak_until:
            return _Choice(unconstrained, None, False, soak_until)
        chosen = next(
            (s for s in slots if s.occurrence.start >= soak_until and free(s)), None
        )
        would_meet = unconstrained.occurrence.end <= need.deadline
        if chosen is None:
            return _Choice(None, UnscheduledReason.RING_SOAK, would_meet, soak_until)
        delayed = would_meet and chosen.occurrence.end > need.deadline
        return _Choice(chosen, None, delayed, soak_until)


def _needs(results: Evaluation | Sequence[Item], hosts: dict[str, HostRecord]) -> dict[str, dict[str, _Need]]:
    items: Iterable[Item] = results if isinstance(results, Sequence) else results.items
    findings: dict[str, dict[str, FindingRecord]] = {}
    needs: dict[str, dict[str, _Need]] = {}
    for item in items:
        if item.verdict not in PLANNED_VERDICTS or item.deadline is None:
            continue
        host = hosts.get(item.host)
        if host is None:
            raise EvaluationError(f'host "{item.host}" in the results is not in the snapshot')
        by_id = findings.get(host.id)
        if by_id is None:
            # A duplicated finding id is one error item in the results: never planned, so
            # which record setdefault keeps does not matter.
            by_id = findings[host.id] = {}
            for f in host.findings:
                by_id.setdefault(f.id, f)
        record = by_id.get(item.finding)
        if record is None:
            raise EvaluationError(
                f'finding "{item.finding}" of host "{item.host}" in the results is not in the snapshot'
            )
        per_host = needs.setdefault(item.host, {})
        need = per_host.get(item.finding)
        if need is None:
            need = per_host[item.finding] = _Need(record, item.deadline, item.verdict)
        elif item.deadline < need.deadline:
            need.deadline = item.deadline
        if _VERDICT_RANK[item.verdict] < _VERDICT_RANK[need.verdict]:
            need.verdict = item.verdict
        need.policies.add(item.policy)
        need.kev = need.kev or item.kev or record.kev is not None
    return needs


def plan(
    bundle: Bundle,
    results: Evaluation | Sequence[Item],
    hosts: Iterable[HostRecord],
    *,
    as_of: datetime,
    horizon: timedelta,
) -> Plan:
    """Plan every item that needs remediation into the hosts' windows (module docstring).

    ``results`` is an evaluation kept with its items (``keep_items=True``) or its item
    list; ``hosts`` the snapshot's hosts (their records feed window, freeze and ring
    selectors). Raises ``EvaluationError`` when the results name a host or finding the
    snapshot does not have, ``WindowError`` for a recurrence that cannot be expanded.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    as_of = as_of.astimezone(UTC)
    if horizon <= timedelta(0):
        raise ValueError(f"horizon must be positive, got {horizon}")
    host_map = {h.id: h for h in hosts}
    needs = _needs(results, host_map)
    planner = _Planner(bundle, as_of, horizon)
    versions = {p.name: PolicyRef(p.name, p.version) for p in bundle.policies}

    rings = {hid: planner.ring_of(host_map[hid]) for hid in needs}
    # Earlier rings first, so that later rings see their windows; no-ring hosts anywhere.
    order = sorted(needs, key=lambda hid: ((rings[hid] or (-1, -1, ""))[:2], hid))
    tasks: list[Task] = []
    for hid in order:
        host = host_map[hid]
        ring = rings[hid]
        slots, selected = planner.host_slots(host)
        binding = planner.binding_freezes(host)
        groups: dict[object, list[tuple[_Need, _Choice]]] = {}
        for fid in sorted(needs[hid], key=lambda k: (needs[hid][k].deadline, k)):
            need = needs[hid][fid]
            choice = planner.choose(
                host, need, slots, selected, binding, planner.soak_until(ring, need.finding)
            )
            key: object = choice.slot.key if choice.slot is not None else choice.reason
            groups.setdefault(key, []).append((need, choice))
        for members in groups.values():
            tasks.append(_task(host, ring, members, planner, binding, versions, as_of))
            slot = members[0][1].slot
            if ring is not None and slot is not None:
                ends = planner.ring_ends.setdefault(ring[:2], {})
                for need, _ in members:
                    k = _patch_key(need.finding)
                    if k not in ends or ends[k] < slot.occurrence.end:
                        ends[k] = slot.occurrence.end
    far = datetime.max.replace(tzinfo=UTC)
    tasks.sort(key=lambda t: (t.unscheduled, t.start or far, t.host, t.window or "", t.id))
    return Plan(
        apiVersion=API_VERSION,
        kind="RemediationPlan",
        as_of=as_of,
        horizon=format_duration(horizon),
        horizon_end=as_of + horizon,
        policies=tuple(sorted(versions.values(), key=lambda p: p.name)),
        counts=_counts(tasks),
        tasks=tuple(tasks),
        problems=tuple(sorted(planner.problems)),
    )


def _task(
    host: HostRecord,
    ring: tuple[int, int, str] | None,
    members: list[tuple[_Need, _Choice]],
    planner: _Planner,
    binding: set[int],
    versions: dict[str, PolicyRef],
    as_of: datetime,
) -> Task:
    first = members[0][1]
    slot = first.slot
    findings = tuple(
        sorted(
            (
                PlannedFinding(
                    id=n.finding.id,
                    vuln=n.finding.vuln,
                    package=n.finding.package.name if n.finding.package else None,
                    fixed_version=n.finding.fixed_version,
                    patch=n.finding.patch,
                    severity=n.finding.severity,
                    kev=n.kev,
                    verdict=str(n.verdict),
                    deadline=n.deadline,
                    policies=tuple(sorted(n.policies)),
                    soak_delayed=c.soak_delayed,
                )
                for n, c in members
            ),
            key=lambda f: (f.deadline, SEVERITY_ORDER.get(f.severity, 9), f.id),
        )
    )
    deadline = min(f.deadline for f in findings)
    policies = {versions[p] for f in findings for p in f.policies}
    soak_until = max(
        (c.soak_until for _, c in members if c.soak_until is not None), default=None
    )
    if slot is not None:
        occ = slot.occurrence
        at_risk = occ.end > deadline
        freezes_allowed = tuple(
            sorted({planner.freezes[i][1].freeze.id for i in slot.freezes if i in binding})
        )
    else:
        at_risk = first.reason == UnscheduledReason.NO_WINDOW or deadline <= planner.end
        freezes_allowed = ()
    priority = _priority(at_risk, findings, deadline, as_of)
    highest = min((f.severity for f in findings), key=lambda sev: SEVERITY_ORDER.get(sev, 9))
    n = len(findings)
    flags = ", ".join([highest, *(["KEV"] if any(f.kev for f in findings) else []),
                       *(["at risk"] if at_risk else [])])
    where = f"in {slot.policy}/{slot.window} {slot.occurrence.local_start.date().isoformat()}" \
        if slot else "unscheduled"
    summary = (f"{priority.value} patch {host.id}: {n} finding{'s' if n != 1 else ''} ({flags}) "
               f"by {format_timestamp(deadline)[:10]}, {where}")
    names = sorted({p for f in findings for p in f.policies})
    return Task(
        id=_task_id(policies, host.id, (f.id for f in findings)),
        host=host.id,
        owner=host.owner,
        ring=ring[2] if ring is not None else None,
        priority=priority,
        deadline=deadline,
        window=slot.window if slot else None,
        window_policy=slot.policy if slot else None,
        timezone=slot.occurrence.timezone if slot else None,
        start=slot.occurrence.start if slot else None,
        end=slot.occurrence.end if slot else None,
        start_local=slot.occurrence.local_start.isoformat() if slot else None,
        end_local=slot.occurrence.local_end.isoformat() if slot else None,
        at_risk=at_risk,
        soak_delayed=any(f.soak_delayed for f in findings),
        soak_until=soak_until,
        unscheduled=slot is None,
        reason=first.reason,
        freezes_allowed=freezes_allowed,
        patches=tuple(sorted({_patch_label(f) for f in findings})),
        findings=findings,
        summary=summary,
        highest_severity=highest,
        policies=tuple(names),
        controls=tuple(sorted({c for p in names for c in planner.controls.get(p, ())})),
    )


def _counts(tasks: Sequence[Task]) -> PlanCounts:
    by_priority = {p.value: 0 for p in Priority}
    by_reason: dict[str, int] = {}
    for t in tasks:
        by_priority[t.priority.value] += 1
        if t.reason is not None:
            by_reason[t.reason.value] = by_reason.get(t.reason.value, 0) + 1
    return PlanCounts(
        tasks=len(tasks),
        hosts=len({t.host for t in tasks}),
        findings=sum(len(t.findings) for t in tasks),
        at_risk=sum(t.at_risk for t in tasks),
        soak_delayed=sum(t.soak_delayed for t in tasks),
        unscheduled=sum(t.unscheduled for t in tasks),
        by_priority=by_priority,
        by_reason=dict(sorted(by_reason.items())),
    )


# ---------------------------------------------------------------- outputs

def write_plan(p: Plan, directory: str | Path) -> list[Path]:
    """Write ``tasks.json`` and ``tasks.csv`` into ``directory`` atomically; return them."""
    from patchpolicy.render.tasks import tasks_csv, tasks_json

    d = Path(directory)
    written = []
    for name, data in (("tasks.json", tasks_json(p)), ("tasks.csv", tasks_csv(p))):
        path = d / name
        atomic_write(path, [data])
        written.append(path)
    return written


def plan_summary(p: Plan, limit: int = 10) -> str:
    """A terminal summary: counts, then the most urgent tasks (at most ``limit``)."""
    from patchpolicy.render.sanitize import text as _t

    c = p.counts
    lines = [
        f"plan at {format_timestamp(p.as_of)}, horizon {p.horizon}: "
        f"{c.tasks} task{'s' if c.tasks != 1 else ''} for {c.hosts} host"
        f"{'s' if c.hosts != 1 else ''}, {c.findings} finding{'s' if c.findings != 1 else ''}",
        "  priority: " + ", ".join(f"{k} {v}" for k, v in c.by_priority.items()),
        f"  at risk: {c.at_risk}, soak-delayed: {c.soak_delayed}, unscheduled: {c.unscheduled}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in c.by_reason.items()) + ")"
            if c.by_reason
            else ""
        ),
    ]
    urgent = sorted(
        p.tasks, key=lambda t: (t.priority.value, t.deadline, t.host, t.id)
    )[:limit]
    if urgent:
        lines.append("  most urgent:")
    for t in urgent:
        when = (
            f"{_t(t.window)} {format_timestamp(t.start)}" if t.start is not None
            else f"unscheduled ({t.reason.value if t.reason else '?'})"
        )
        flags = "".join(
            f" {flag}" for flag, on in (("at-risk", t.at_risk), ("soak-delayed", t.soak_delayed)) if on
        )
        lines.append(
            f"    {t.priority.value} {_t(t.host)}: {len(t.findings)} finding"
            f"{'s' if len(t.findings) != 1 else ''}, deadline {format_timestamp(t.deadline)}, "
            f"{when}{flags} [{t.id}]"
        )
    if p.problems:
        lines.append(f"  problems: {len(p.problems)} (see tasks.json)")
    return "\n".join(lines)
