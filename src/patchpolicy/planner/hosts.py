"""The planner's first pass: per host, what needs remediation and what the host's records
say about where it may go (ring, windows, freezes, and which freezes admit which finding).

It runs while hosts are judged, in whichever process judges them (the evaluator calls
``HostPlanning.add_host`` after each host), because only there are the host's and its
findings' records at hand: the selectors of windows, freezes and rings and a freeze's
``allow`` are CEL over them. What it keeps is small and sorted on disk (``spill``): one
``HostNeeds`` row per host with something to plan, in the order the second pass
(``planner.assign``) needs, ring first. So planning 10^6 findings never holds the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from patchpolicy.model.fleet import FindingRecord, HostRecord
from patchpolicy.model.plan import HostNeeds, Need, Remediation
from patchpolicy.model.results import OPEN_VERDICTS, Item, Verdict
from patchpolicy.planner.calendar import Calendar
from patchpolicy.spill import SortedSpill

if TYPE_CHECKING:
    from patchpolicy.model.bundle import Bundle

__all__ = ["PLANNED_VERDICTS", "HostPlanning", "is_planned"]

PLANNED_VERDICTS = OPEN_VERDICTS
"""Verdicts whose items are planned (when they carry a deadline)."""

_VERDICT_RANK = {Verdict.OVERDUE: 0, Verdict.DUE_SOON: 1, Verdict.OPEN: 2}
_ENCODE = msgspec.json.Encoder().encode


def is_planned(item: Item) -> bool:
    """Whether the planner plans this item."""
    return item.verdict in PLANNED_VERDICTS and item.deadline is not None


class _Open:
    """A need being gathered from the items of one finding under several policies."""

    __slots__ = ("deadline", "finding", "kev", "policies", "verdict")

    def __init__(self, finding: FindingRecord, deadline: datetime, verdict: Verdict) -> None:
        self.finding = finding
        self.deadline = deadline
        self.verdict = verdict
        self.policies: set[str] = set()
        self.kev = False


class HostPlanning:
    """Collects ``HostNeeds`` rows for one plan (bundle, as-of, horizon), in bounded memory.

    ``spill_dir``: where sorted runs go (worker processes use their parent's, which then
    ``absorb``s them)."""

    def __init__(self, bundle: Bundle, as_of: datetime, horizon: timedelta, *,
                 spill_dir: Path | None = None, memory_bytes: int | None = None) -> None:
        self.calendar = Calendar(bundle, as_of, horizon)
        kw: dict[str, Any] = {} if memory_bytes is None else {"memory_bytes": memory_bytes}
        self.rows = SortedSpill(spill_dir=spill_dir, prefix="needs", **kw)
        # Per window: the freezes overlapping any of its occurrences.
        self._window_freezes = [
            frozenset(i for s in slots for i in s.freezes) for slots in self.calendar.slots
        ]

    @property
    def horizon(self) -> timedelta:
        return self.calendar.end - self.calendar.as_of

    def add_host(self, host: HostRecord, judged: Sequence[tuple[Item, FindingRecord]]) -> None:
        """The planned items of one host (any policy; ``is_planned``) with their records."""
        gathered: dict[str, _Open] = {}
        for item, record in judged:
            assert item.deadline is not None
            need = gathered.get(item.finding)
            if need is None:
                need = gathered[item.finding] = _Open(record, item.deadline, item.verdict)
            elif item.deadline < need.deadline:
                need.deadline = item.deadline
            if _VERDICT_RANK[item.verdict] < _VERDICT_RANK[need.verdict]:
                need.verdict = item.verdict
            need.policies.add(item.policy)
            need.kev = need.kev or item.kev or record.kev is not None
        if not gathered:
            return
        cal = self.calendar
        ring = self._ring_of(host)
        windows = tuple(
            i for i, (p, w) in enumerate(cal.windows)
            if cal.selects(f'window "{w.window.id}" (policy "{p.name}")', w.hosts, host, False)
        )
        binding = tuple(
            i for i, (p, fz) in enumerate(cal.freezes)
            if cal.selects(f'freeze "{fz.freeze.id}" (policy "{p.name}")', fz.hosts, host, True)
        )
        # Only freezes that bind the host and overlap one of its occurrences can block.
        reach = frozenset().union(*(self._window_freezes[i] for i in windows))
        relevant = [i for i in binding if i in reach]
        needs = [
            Need(
                id=fid, vuln=n.finding.vuln,
                package=n.finding.package.name if n.finding.package else None,
                fixed_version=n.finding.fixed_version, patch=n.finding.patch,
                severity=n.finding.severity, kev=n.kev, verdict=str(n.verdict),
                deadline=n.deadline, policies=tuple(sorted(n.policies)),
                blocked=tuple(
                    i for i in relevant
                    if not cal.allowed(cal.freezes[i][1], cal.freezes[i][0].name, host, n.finding)
                ),
            )
            for fid, n in gathered.items()
        ]
        needs.sort(key=lambda n: (n.deadline, n.id))
        row = HostNeeds(host.id, host.owner, ring, windows, binding, tuple(needs))
        rank = (ring[0], ring[1]) if ring is not None else (-1, -1)
        self.rows.add((*rank, host.id), _ENCODE(row))

    def _ring_of(self, host: HostRecord) -> tuple[int, int, str] | None:
        cal = self.calendar
        for pi, ri, p, r in cal.rings:
            if cal.selects(f'ring "{r.ring.id}" (policy "{p.name}")', r.hosts, host, False):
                return (pi, ri, r.ring.id)
        return None

    # ------------------------------------------------------------ across processes

    def export(self) -> tuple[list[Path], int, set[str]]:
        """This process's part: its sorted runs, their row count, the CEL failures met."""
        runs, count = self.rows.export_runs()
        return runs, count, set(self.calendar.problems)

    def absorb(self, runs: Iterable[Path], count: int, problems: Iterable[str]) -> None:
        """Take over another process's part (``export``)."""
        self.rows.absorb_runs(runs, count)
        self.calendar.problems.update(problems)

    def run_directory(self) -> Path:
        return self.rows.run_directory()

    def discard(self) -> None:
        self.rows.discard()

    def finish(self) -> Remediation:
        rows = self.rows.finish()
        return Remediation(rows, len(rows), self.calendar.end, frozenset(self.calendar.problems))
