"""The planner's second pass: each host's needs into window occurrences, hosts in ring
order (so that a later ring sees the windows planned for the same patch in earlier rings),
one task per (host, occurrence). It reads ``HostNeeds`` rows, never the records: what the
records had to answer was answered in the first pass (``planner.hosts``)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from patchpolicy.model.common import format_timestamp
from patchpolicy.model.plan import (
    HostNeeds,
    Need,
    PlannedFinding,
    PolicyRef,
    Priority,
    Task,
    UnscheduledReason,
)
from patchpolicy.model.results import SEVERITY_ORDER
from patchpolicy.planner.calendar import Calendar, Slot

__all__ = ["Assigner"]


@dataclass(slots=True)
class _Choice:
    slot: Slot | None
    reason: UnscheduledReason | None
    soak_delayed: bool
    soak_until: datetime | None


def _patch_key(n: Need) -> tuple[str, str]:
    return (n.vuln, n.fixed_version or "")


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


def _free(slot: Slot, blocked: tuple[int, ...]) -> bool:
    """No binding freeze overlapping the slot blocks the need."""
    return not any(i in blocked for i in slot.freezes)


def _choose(need: Need, slots: list[Slot], selected: bool, soak_until: datetime | None) -> _Choice:
    if not selected:
        return _Choice(None, UnscheduledReason.NO_WINDOW, False, soak_until)
    if not slots:
        return _Choice(None, UnscheduledReason.NONE_WITHIN_HORIZON, False, soak_until)
    blocked = need.blocked
    unconstrained = next((s for s in slots if _free(s, blocked)), None)
    if unconstrained is None:
        return _Choice(None, UnscheduledReason.FROZEN, False, soak_until)
    if soak_until is None or unconstrained.occurrence.start >= soak_until:
        return _Choice(unconstrained, None, False, soak_until)
    chosen = next(
        (s for s in slots if s.occurrence.start >= soak_until and _free(s, blocked)), None
    )
    would_meet = unconstrained.occurrence.end <= need.deadline
    if chosen is None:
        return _Choice(None, UnscheduledReason.RING_SOAK, would_meet, soak_until)
    delayed = would_meet and chosen.occurrence.end > need.deadline
    return _Choice(chosen, None, delayed, soak_until)


def _planned(members: list[tuple[Need, _Choice]]) -> tuple[PlannedFinding, ...]:
    """A task's findings, earliest deadline and worst severity first."""
    return tuple(
        sorted(
            (
                PlannedFinding(
                    id=n.id, vuln=n.vuln, package=n.package, fixed_version=n.fixed_version,
                    patch=n.patch, severity=n.severity, kev=n.kev, verdict=n.verdict,
                    deadline=n.deadline, policies=n.policies, soak_delayed=c.soak_delayed,
                )
                for n, c in members
            ),
            key=lambda f: (f.deadline, SEVERITY_ORDER.get(f.severity, 9), f.id),
        )
    )


class Assigner:
    """Turns ``HostNeeds`` rows, fed in assignment order, into tasks."""

    def __init__(self, calendar: Calendar) -> None:
        self.cal = calendar
        self.versions = {p.name: PolicyRef(p.name, p.version) for p in calendar.bundle.policies}
        # (policy index, ring index) -> patch -> latest planned window end.
        self.ring_ends: dict[tuple[int, int], dict[tuple[str, str], datetime]] = {}

    def _soak_until(self, ring: tuple[int, int, str] | None, need: Need) -> datetime | None:
        if ring is None:
            return None
        pi, ri, _ = ring
        key = _patch_key(need)
        for rj in range(ri - 1, -1, -1):
            end = self.ring_ends.get((pi, rj), {}).get(key)
            if end is not None:
                soak = self.cal.bundle.policies[pi].rings[rj].ring.soak or timedelta(0)
                return end + soak
        return None

    def tasks(self, rows: Iterable[HostNeeds]) -> Iterator[Task]:
        for row in rows:
            yield from self.host_tasks(row)

    def host_tasks(self, row: HostNeeds) -> list[Task]:
        """The tasks of one host (rows must come ring first: ``planner.hosts``)."""
        slots = self.cal.host_slots(row.windows)
        selected = bool(row.windows)
        groups: dict[object, list[tuple[Need, _Choice]]] = {}
        for need in row.needs:
            choice = _choose(need, slots, selected, self._soak_until(row.ring, need))
            key: object = choice.slot.key if choice.slot is not None else choice.reason
            groups.setdefault(key, []).append((need, choice))
        out = []
        for members in groups.values():
            out.append(self._task(row, members))
            slot = members[0][1].slot
            if row.ring is not None and slot is not None:
                ends = self.ring_ends.setdefault(row.ring[:2], {})
                for need, _ in members:
                    k = _patch_key(need)
                    if k not in ends or ends[k] < slot.occurrence.end:
                        ends[k] = slot.occurrence.end
        return out

    def _task(self, row: HostNeeds, members: list[tuple[Need, _Choice]]) -> Task:
        cal, as_of = self.cal, self.cal.as_of
        first = members[0][1]
        slot = first.slot
        findings = _planned(members)
        deadline = min(f.deadline for f in findings)
        policies = {self.versions[p] for f in findings for p in f.policies}
        soak_until = max(
            (c.soak_until for _, c in members if c.soak_until is not None), default=None
        )
        if slot is not None:
            occ = slot.occurrence
            at_risk = occ.end > deadline
            freezes_allowed = tuple(
                sorted({cal.freezes[i][1].freeze.id for i in slot.freezes if i in row.binding})
            )
        else:
            at_risk = first.reason == UnscheduledReason.NO_WINDOW or deadline <= cal.end
            freezes_allowed = ()
        priority = _priority(at_risk, findings, deadline, as_of)
        highest = min((f.severity for f in findings), key=lambda sev: SEVERITY_ORDER.get(sev, 9))
        n = len(findings)
        flags = ", ".join([highest, *(["KEV"] if any(f.kev for f in findings) else []),
                           *(["at risk"] if at_risk else [])])
        where = f"in {slot.policy}/{slot.window} {slot.occurrence.local_start.date().isoformat()}" \
            if slot else "unscheduled"
        summary = (f"{priority.value} patch {row.host}: {n} finding{'s' if n != 1 else ''} "
                   f"({flags}) by {format_timestamp(deadline)[:10]}, {where}")
        names = sorted({p for f in findings for p in f.policies})
        return Task(
            id=_task_id(policies, row.host, (f.id for f in findings)),
            host=row.host,
            owner=row.owner,
            ring=row.ring[2] if row.ring is not None else None,
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
            controls=tuple(sorted({c for p in names for c in cal.controls.get(p, ())})),
        )
