"""The period metrics, each defined once (docs/history.md gives the same definitions with
an example): pure functions of plain facts, so each is tested on hand-computed data.

Durations are whole seconds; renderers show them as days with two decimals.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from patchpolicy.model.results import OPEN_VERDICTS

__all__ = ["OPEN_VERDICTS"]  # re-exported: the verdicts of the open backlog, one set everywhere
#: Ageing buckets of the open backlog: (label, lowest age in days, highest or None).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30d", 0, 30), ("31-60d", 31, 60), ("61-90d", 61, 90), (">90d", 91, None),
)


@dataclass(frozen=True)
class ItemFacts:
    """One (policy, host, finding) as known at the end of the period."""

    policy: str
    host: str
    finding: str
    severity: str
    clock_start: datetime | None
    deadline: datetime | None
    fixed_at: datetime | None
    controls: tuple[str, ...] = ()
    waived_at_deadline: bool = False
    """Its state in its last evaluation at or before the deadline was ``excepted``."""


@dataclass(frozen=True)
class Attainment:
    due: int
    met: int
    waived: int
    late: tuple[ItemFacts, ...]
    pending: int = 0
    """Deadline in the window but after the last evaluation: not judged yet."""

    @property
    def share(self) -> float | None:
        """met / due; None when nothing was due."""
        return self.met / self.due if self.due else None


def sla_outcome(deadline: datetime, fixed_at: datetime | None, waived_at_deadline: bool,
                known_until: datetime | None) -> str:
    """How an item whose deadline falls in the window counts: ``pending`` (not fixed in
    time, deadline after ``known_until``: not judged yet), ``waived``, ``met`` or ``late``."""
    in_time = fixed_at is not None and fixed_at <= deadline
    if known_until is not None and deadline > known_until and not in_time:
        return "pending"
    if waived_at_deadline:
        return "waived"
    return "met" if in_time else "late"


def late_order(it: ItemFacts) -> tuple[Any, ...]:
    """The order late items are listed in."""
    return (it.deadline, it.host, it.finding, it.policy)


def sla_attainment(items: Iterable[ItemFacts], lo: datetime, hi: datetime,
                   known_until: datetime | None = None) -> Attainment:
    """Of the items whose deadline falls in [lo, hi) and that no exception waived at the
    deadline, the share fixed at or before the deadline. An item not fixed (or fixed
    after its deadline) is late; one waived is counted apart; one not fixed whose deadline
    is after ``known_until`` (the last evaluation's as-of) is pending, not yet judged."""
    counts = dict.fromkeys(("pending", "waived", "met", "late"), 0)
    late: list[ItemFacts] = []
    for it in items:
        if it.deadline is None or not lo <= it.deadline < hi:
            continue
        outcome = sla_outcome(it.deadline, it.fixed_at, it.waived_at_deadline, known_until)
        counts[outcome] += 1
        if outcome == "late":
            late.append(it)
    late.sort(key=late_order)
    return Attainment(counts["met"] + counts["late"], counts["met"], counts["waived"],
                      tuple(late), counts["pending"])


@dataclass(frozen=True)
class Mttr:
    count: int
    mean_s: float | None
    median_s: float | None
    p90_s: int | None


def percentile_nearest_rank(values: Sequence[int], p: float) -> int:
    """The smallest value with at least p% of the values at or below it (nearest rank)."""
    s = sorted(values)
    return s[max(1, math.ceil(p / 100 * len(s))) - 1]


def remediation_s(fixed_at: datetime, clock_start: datetime) -> int:
    """Time to remediate one item, whole seconds."""
    return int((fixed_at - clock_start).total_seconds())


def mttr_of(durations: Iterable[int]) -> Mttr:
    """Mean, median (mean of the middle two for an even count) and p90 by nearest rank of
    the remediation times ``durations``."""
    ds = sorted(durations)
    if not ds:
        return Mttr(0, None, None, None)
    n = len(ds)
    median = ds[n // 2] if n % 2 else (ds[n // 2 - 1] + ds[n // 2]) / 2
    return Mttr(n, sum(ds) / n, float(median), percentile_nearest_rank(ds, 90))


def mttr(items: Iterable[ItemFacts], lo: datetime, hi: datetime) -> Mttr:
    """Time to remediate, fixed_at minus clock start, over the items fixed in [lo, hi)
    that have a clock start: mean, median (mean of the middle two for an even count),
    p90 by nearest rank."""
    return mttr_of(remediation_s(it.fixed_at, it.clock_start) for it in items
                   if it.fixed_at is not None and it.clock_start is not None
                   and lo <= it.fixed_at < hi)


def age_bucket(age: timedelta) -> str:
    """The ageing bucket of an open item ``age`` after its clock start (whole days)."""
    days = max(0, age.days)
    for label, low, high in AGE_BUCKETS:
        if days >= low and (high is None or days <= high):
            return label
    raise AssertionError(days)  # pragma: no cover - the last bucket is open-ended


def ageing(clock_starts: Iterable[datetime | None], at: datetime) -> dict[str, int]:
    """Open-backlog items at instant ``at`` by age since clock start; an item without a
    clock start is counted under ``no clock start``."""
    return ageing_counts(((cs, 1) for cs in clock_starts), at)


def ageing_counts(clock_starts: Iterable[tuple[datetime | None, int]], at: datetime
                  ) -> dict[str, int]:
    """``ageing`` of (clock start, how many open items have it)."""
    out = {label: 0 for label, _, _ in AGE_BUCKETS}
    out["no clock start"] = 0
    for cs, n in clock_starts:
        out[age_bucket(at - cs) if cs is not None else "no clock start"] += n
    return out


@dataclass(frozen=True)
class Cadence:
    largest_gap_s: int | None
    """None for a host never scanned before ``hi``."""
    missed: bool


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """Microseconds since the epoch: the store's unit for scan times (exact)."""
    return (at - _EPOCH) // _US


def scan_cadence(scans: Sequence[datetime], lo: datetime, hi: datetime,
                 limit: timedelta | None) -> Cadence:
    """The largest time without a scan within [lo, hi]: gaps between consecutive scans,
    counting from the last scan at or before ``lo`` (or from ``lo`` when there is none) and
    up to ``hi``. Missed when that gap exceeds ``limit``, or when the host was never
    scanned by ``hi``."""
    return scan_cadence_us(sorted(micros(s) for s in scans), micros(lo), micros(hi),
                           None if limit is None else limit.total_seconds())


def scan_cadence_us(ordered: Sequence[int], lo: int, hi: int, limit_s: float | None) -> Cadence:
    """``scan_cadence`` with instants in microseconds since the epoch and the scan times
    already in order (a report asks it of each host's scans once per bucket)."""
    i = bisect.bisect_right(ordered, lo)
    j = bisect.bisect_right(ordered, hi)
    if not i and i == j:
        return Cadence(None, True)
    points = [ordered[i - 1] if i else lo, *ordered[i:j], hi]
    # Whole seconds of the largest gap, as timedelta.total_seconds() would give them.
    gap = int(max(b - a for a, b in zip(points, points[1:], strict=False)) / 1_000_000)
    return Cadence(gap, limit_s is not None and gap > limit_s)


def exception_counts(states: Iterable[tuple[str, str, int, int]]) -> tuple[list[str], list[str]]:
    """From (id, status, items_covered, items_matched) over the evaluations of a bucket:
    the exceptions active (valid or expiring soon, covering at least one item) and those
    expired while open (status expired while still matching at least one item)."""
    active: set[str] = set()
    expired: set[str] = set()
    for eid, status, covered, matched in states:
        if status in ("valid", "expiring_soon") and covered > 0:
            active.add(eid)
        elif status == "expired" and matched > 0:
            expired.add(eid)
    return sorted(active), sorted(expired)
