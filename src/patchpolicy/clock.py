"""The SLA clock: when a finding's clock starts, when its deadline falls, how far away.

Semantics are FORMATS.md section 3.2: a rule's clock is an ordered list of sources and the
first one set on the finding starts it; the deadline is start + ``within``, capped by the
CISA KEV due date when the rule asks; the earliest deadline of every matching rule binds.
Pure functions of their arguments: nothing here reads the wall clock.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from patchpolicy.model.fleet import FindingRecord
from patchpolicy.model.policy import ClockSource

__all__ = [
    "CLOCK_FIELDS",
    "CLOCK_GETTERS",
    "DAY",
    "Deadline",
    "NoClockStart",
    "RuleClock",
    "age_text",
    "days_between",
    "deadline_for",
    "check_as_of",
    "day_start",
    "exceeds",
    "kev_due_instant",
]

DAY = timedelta(days=1)

# The largest instant whose arithmetic stays representable: a deadline or a clock start
# beyond it (year 9999, or year 1 minus a duration) is an error verdict, not a crash.
_MIN = datetime(1, 1, 1, tzinfo=UTC)
_MAX = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


AS_OF_MIN = datetime(1900, 1, 1, tzinfo=UTC)
AS_OF_MAX = datetime(9000, 1, 1, tzinfo=UTC)
"""An as-of must fall in [AS_OF_MIN, AS_OF_MAX): room for due-soon limits, plan horizons and
window searches on either side, which a year-9999 as-of would overflow."""


def check_as_of(as_of: datetime) -> None:
    """Raise ValueError when ``as_of`` is outside the usable range (see AS_OF_MAX)."""
    if not AS_OF_MIN <= as_of < AS_OF_MAX:
        raise ValueError(
            f"{as_of.isoformat()} is outside the usable range for an as-of "
            f"({AS_OF_MIN:%Y-%m-%d} to {AS_OF_MAX:%Y-%m-%d})"
        )


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def _kev_added(f: FindingRecord) -> datetime | None:
    return day_start(f.kev.date_added) if f.kev is not None else None


CLOCK_GETTERS: dict[ClockSource, Callable[[FindingRecord], datetime | None]] = {
    ClockSource.FIX_RELEASED: operator.attrgetter("fix_released_at"),
    ClockSource.PUBLISHED: operator.attrgetter("published_at"),
    ClockSource.FIRST_SEEN: operator.attrgetter("first_seen_at"),
    ClockSource.KEV_ADDED: _kev_added,
}
CLOCK_FIELDS = {
    ClockSource.FIX_RELEASED: "finding.fix_released_at",
    ClockSource.PUBLISHED: "finding.published_at",
    ClockSource.FIRST_SEEN: "finding.first_seen_at",
    ClockSource.KEV_ADDED: "finding.kev.date_added",
}


class RuleClock(NamedTuple):
    """What the hot loop needs of one rule: its clock sources in order, within, cap."""

    sources: tuple[tuple[ClockSource, Callable[[FindingRecord], datetime | None]], ...]
    within: timedelta
    cap_by_kev_due_date: bool

    @classmethod
    def of(cls, sources: Sequence[ClockSource], within: timedelta, cap: bool) -> RuleClock:
        return cls(tuple((s, CLOCK_GETTERS[s]) for s in sources), within, cap)


Deadline = tuple[ClockSource, datetime, datetime, bool]
"""(clock source, clock start, deadline, capped by the KEV due date). A plain tuple, not a
NamedTuple: one is built per judged item, and a NamedTuple costs several times more."""


class NoClockStart(Exception):
    """No clock source of the rule is set on the finding, or the deadline is unrepresentable."""


def deadline_for(clock: RuleClock, f: FindingRecord) -> Deadline:
    """The clock start and deadline one rule gives ``f``; raises NoClockStart."""
    source = start = None
    for src, getter in clock.sources:
        start = getter(f)
        if start is not None:
            source = src
            break
    if start is None or source is None:
        fields = ", ".join(CLOCK_FIELDS[s] for s, _ in clock.sources)
        raise NoClockStart(f"no clock start: none of {fields} is set")
    if start.tzinfo is not UTC:
        try:
            start = start.astimezone(UTC)
        except OverflowError:
            raise NoClockStart(
                f"clock start {source.value} {start.isoformat()} is outside the representable range"
            ) from None
    try:
        deadline = start + clock.within
    except OverflowError:
        raise NoClockStart(
            f"deadline {source.value} {start.isoformat()} + {age_text(clock.within)} "
            "is beyond year 9999"
        ) from None
    capped = False
    if clock.cap_by_kev_due_date:
        kev = f.kev
        if kev is not None and kev.due_date is not None:
            due = kev_due_instant(kev.due_date)
            if due < deadline:
                deadline, capped = due, True
    return source, start, deadline, capped


def kev_due_instant(due: date) -> datetime:
    """A KEV due date is met through the end of that day UTC: the exclusive bound.

    The end of 9999-12-31 is not representable; the last microsecond stands in for it.
    """
    start = day_start(due)
    return _MAX if start.date() == date.max else start + DAY


def days_between(as_of: datetime, deadline: datetime) -> int:
    """Whole days from as-of to the deadline, truncated toward zero.

    6d18h left is 6; overdue by 7d6h is -7 ("7 days overdue"); 0 means less than a day
    either way (the verdict says which side).
    """
    return int((deadline - as_of) / DAY)


def age_text(td: timedelta, *, exact: bool = False) -> str:
    """A human duration: ``19d2h``, ``6h50m``, ``30d``; minutes dropped beyond a day.

    With ``exact`` nothing is dropped (``7d0h0m1s``): for messages that state a verdict
    against a limit, so that the number read supports the verdict ("7d old, limit 7d" for a
    scan 7d 1s old that is stale would contradict itself).
    """
    secs_f = td.total_seconds()
    secs = max(0, int(secs_f))
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if exact:
        parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
        text = "".join(f"{n}{unit}" for n, unit in parts if n)
        if secs_f > secs:  # a fraction of a second beyond the whole seconds
            text = (text or "0s") + "+"
        return text or "0s"
    parts = [(days, "d"), (hours, "h")] + ([] if days else [(minutes, "m")])
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    return text or "0m"


def exceeds(age: timedelta, limit: timedelta) -> tuple[str, str]:
    """``age`` and ``limit`` as texts precise enough to show that ``age > limit``.

    Coarse text when the coarse numbers already differ, exact text otherwise.
    """
    coarse = age_text(age), age_text(limit)
    if coarse[0] != coarse[1]:
        return coarse
    return age_text(age, exact=True), age_text(limit, exact=True)
