"""When windows occur (RFC 5545 recurrences in IANA zones) and freezes hold, as pure time.

Every function here is a pure function of its arguments: no I/O, no wall clock, no CEL.
Host selection (``Window.hosts``, ``Freeze.hosts``) and freeze exemptions
(``Freeze.allow``) are decided by the caller (the planner); this module answers "when".

How an occurrence is computed (see also docs/windows.md):

1. The rule is expanded by ``dateutil.rrule`` from an aware ``zoneinfo`` start: the local
   date of ``not_before`` if set, otherwise the fixed anchor ``ANCHOR_DATE`` (Monday
   2000-01-03), at the window's local ``start`` time. Rules that depend on their start
   date (``COUNT``, ``INTERVAL`` > 1, a ``FREQ`` without the ``BY*`` parts that pin the
   day) count from that anchor; ``checks.check_windows`` warns about them.
2. ``offset`` shifts the local wall-clock date and time (Patch Tuesday 22:00 + 4d is
   Saturday 22:00 local, whatever DST did in between).
3. The local wall time is turned into an instant by the RFC 5545 section 3.3.5 rule:
   a local time skipped by a spring-forward gap is read with the UTC offset from before
   the gap (02:30 on a day when 02:00 jumps to 03:00 becomes 03:30 local); a local time
   repeated by a fall-back is the FIRST of the two (fold=0), and fires once.
4. The end is ``start + duration`` in absolute time: a 4h window that spans a DST change
   lasts four real hours, so its local end moves by the DST shift.
5. ``not_before``/``not_after`` bound whole occurrences: one is used only if
   ``not_before <= start`` and ``end <= not_after``.

Freezes are half-open intervals ``[start, end)`` of instants. An absolute freeze is
``[from, until)``. A yearly freeze ``{from: MM-DD, until: MM-DD}`` runs from local
midnight of ``from`` through the end of ``until`` (inclusive) in the freeze's zone, each
year, spanning the year end when ``until`` comes before ``from`` (12-15..01-05). In a year
without 29 February, ``from: 02-29`` starts on 1 March and ``until: 02-29`` ends with
28 February.
"""

from __future__ import annotations

import calendar
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from patchpolicy.errors import InputError
from patchpolicy.model.policy import Freeze, Window

__all__ = [
    "ANCHOR_DATE",
    "FrozenInterval",
    "Occurrence",
    "WindowError",
    "blocking_freezes",
    "first_occurrence",
    "freeze_intervals",
    "frozen_intervals",
    "iter_occurrences",
    "next_windows",
    "overlaps",
    "resolve_local",
]

ANCHOR_DATE = date(2000, 1, 3)
"""The local start date of a window without ``not_before`` (a Monday, RFC 5545's WKST)."""


class WindowError(InputError):
    """A window's recurrence cannot be expanded (bad rule text, UNTIL together with COUNT)."""


@dataclass(frozen=True, order=True)
class Occurrence:
    """One occurrence of a window: ``[start, end)`` in UTC, with the window's zone.

    Ordered by start, then end, then window id.
    """

    start: datetime
    end: datetime
    window_id: str
    timezone: str

    @property
    def local_start(self) -> datetime:
        """The start in the window's zone (a resolved, existing local time)."""
        return self.start.astimezone(ZoneInfo(self.timezone))

    @property
    def local_end(self) -> datetime:
        """The end in the window's zone."""
        return self.end.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True, order=True)
class FrozenInterval:
    """One period of a freeze: ``[start, end)`` in UTC."""

    start: datetime
    end: datetime
    freeze_id: str


# ---------------------------------------------------------------- local time -> instant


def resolve_local(wall: datetime, zone: ZoneInfo) -> datetime:
    """Turn a naive local wall time into a UTC instant by the RFC 5545 section 3.3.5 rule.

    A nonexistent local time (in a spring-forward gap) uses the UTC offset from before
    the gap, so it lands ``gap`` later in local time (02:30 -> 03:30 with a one-hour gap).
    An ambiguous local time (repeated by a fall-back) is the first of the two instants.
    zoneinfo gives exactly this for ``fold=0`` (PEP 495); the explicit ``fold=0`` keeps it
    so whatever fold the input carried.
    """
    if wall.tzinfo is not None:
        wall = wall.replace(tzinfo=None)
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _as_utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got {instant!r}")
    return instant.astimezone(UTC)


# ---------------------------------------------------------------- recurrence rules


def _rule_parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        if not chunk.strip():
            continue
        name, sep, value = chunk.partition("=")
        if not sep:
            raise WindowError(f"invalid rrule part {chunk!r}: expected NAME=VALUE")
        parts[name.strip().upper()] = value.strip().upper()
    return parts


def _normalise_rule(text: str, zone: ZoneInfo) -> str:
    """Return the rule text ready for an aware dtstart.

    * ``WKST=MO`` is made explicit: dateutil's default is ``calendar.firstweekday()``,
      process-global state.
    * A local ``UNTIL`` (no ``Z``) is read in the window's zone and rewritten in UTC, as
      RFC 5545 requires alongside a zoned DTSTART. A date-only UNTIL means the end of
      that local day.
    """
    text = text.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    if "\n" in text or ":" in text:
        raise WindowError(f"invalid rrule {text!r}: expected one RRULE value, without DTSTART")
    parts = _rule_parts(text)
    if "COUNT" in parts and "UNTIL" in parts:
        raise WindowError(f"invalid rrule {text!r}: COUNT and UNTIL must not occur together")
    parts.setdefault("WKST", "MO")
    until = parts.get("UNTIL")
    if until is not None and not until.endswith("Z"):
        try:
            if "T" in until:
                wall = datetime.strptime(until, "%Y%m%dT%H%M%S")
            else:
                wall = datetime.combine(
                    datetime.strptime(until, "%Y%m%d").date(), time(23, 59, 59)
                )
        except ValueError as e:
            raise WindowError(f"invalid rrule UNTIL {until!r}: expected YYYYMMDD[THHMMSS][Z]") from e
        parts["UNTIL"] = resolve_local(wall, zone).strftime("%Y%m%dT%H%M%SZ")
    return ";".join(f"{k}={v}" for k, v in parts.items())


def _expand(text: str, occurrences: Iterator[datetime]) -> Iterator[datetime]:
    """dateutil checks some combinations only when it starts expanding
    (``FREQ=MINUTELY;BYHOUR=25``): its ValueError becomes a WindowError naming the rule.

    The failed expansion leaves the (cached, ``cache=True``) rrule half-filled: iterating
    it again raises TypeError inside dateutil. So the rule cache is emptied on failure
    (the next use rebuilds the rule and fails the same clear way), and a TypeError from
    dateutil is the same clear error."""
    while True:
        try:
            yield next(occurrences)
        except StopIteration:
            return
        except (ValueError, TypeError) as e:
            _build_rule.cache_clear()
            raise WindowError(f"invalid rrule {text!r}: {_lower(str(e)).rstrip('.')}") from e


@functools.lru_cache(maxsize=512)
def _build_rule(text: str, timezone: str, start: time, anchor: date) -> rrule:
    zone = ZoneInfo(timezone)
    normalised = _normalise_rule(text, zone)
    dtstart = datetime.combine(anchor, start).replace(tzinfo=zone, fold=0)
    try:
        built = rrulestr(normalised, dtstart=dtstart, cache=True)
    except (ValueError, TypeError) as e:
        raise WindowError(f"invalid rrule {text!r}: {e}") from e
    if not isinstance(built, rrule):  # pragma: no cover - one line never makes a set
        raise WindowError(f"invalid rrule {text!r}: expected a single RRULE")
    return built


def _anchor(window: Window) -> date:
    if window.not_before is None:
        return ANCHOR_DATE
    return window.not_before.astimezone(ZoneInfo(window.timezone)).date()


_MAX_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def _impossible(text: str) -> str | None:
    """Why the rule can never match a day, found without expanding it, or None.

    dateutil only notices that a rule matches no day by iterating to year 9999 (seconds
    for a DAILY rule), so the common impossible combination, a BYMONTHDAY that no
    BYMONTH has (30 February, 31 April), is caught here.
    """
    parts = _rule_parts(text.strip().removeprefix("RRULE:").removeprefix("rrule:"))
    if "BYMONTHDAY" not in parts:
        return None
    try:
        months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
        days = [int(d) for d in parts["BYMONTHDAY"].split(",")]
    except ValueError:
        return None
    months = months or list(range(1, 13))
    if any(abs(d) <= _MAX_DAYS.get(m, 31) for m in months for d in days):
        return None
    return "no month of BYMONTH has a day BYMONTHDAY"


# ---------------------------------------------------------------- occurrences


def iter_occurrences(
    window: Window, after: datetime, before: datetime | None = None
) -> Iterator[Occurrence]:
    """Yield the window's occurrences with ``after <= start`` (and ``start < before``).

    In ascending order of start, each instant once (two local times that resolve to one
    instant, as in an HOURLY rule across a spring-forward gap, give one occurrence).
    Occurrences outside ``not_before``/``not_after`` are skipped; the iterator ends when
    the rule, ``not_after`` or ``before`` ends. Raises ``WindowError`` for a rule that
    cannot be expanded. ``after`` and ``before`` must be aware.
    """
    for _, occurrence in _iter_with_wall(window, after, before):
        yield occurrence


def _iter_with_wall(
    window: Window, after: datetime, before: datetime | None
) -> Iterator[tuple[datetime, Occurrence]]:
    """``iter_occurrences`` with each occurrence's unresolved local wall start."""
    after = _as_utc(after, "after")
    limit = _as_utc(before, "before") if before is not None else None
    if window.not_after is not None and (limit is None or window.not_after < limit):
        # An occurrence must end by not_after, so none starts at or after it.
        limit = window.not_after
    if _impossible(window.rrule) is not None:
        return
    zone = ZoneInfo(window.timezone)
    rule = _build_rule(window.rrule, window.timezone, window.start, _anchor(window))
    offset = window.offset or timedelta(0)
    # dateutil compares same-zone datetimes by wall time; a day of slack covers any DST
    # or resolution difference, and the exact filter is on the resolved instant below.
    search_from = after.astimezone(zone).replace(tzinfo=None) - offset - timedelta(days=1)
    last: datetime | None = None
    for local in _expand(window.rrule, rule.xafter(search_from.replace(tzinfo=zone), inc=True)):
        wall = local.replace(tzinfo=None) + offset
        start = resolve_local(wall, zone)
        if limit is not None and start >= limit:
            return
        if start < after or (last is not None and start <= last):
            continue
        last = start
        end = start + window.duration
        if window.not_before is not None and start < window.not_before:
            continue
        if window.not_after is not None and end > window.not_after:
            continue
        yield wall, Occurrence(start, end, window.id, window.timezone)


def next_windows(
    window: Window, after: datetime, count: int, before: datetime | None = None
) -> list[Occurrence]:
    """The first ``count`` occurrences with ``after <= start`` (fewer if the rule ends).

    Pass ``before`` to bound the search: without it, a rule that has no further
    occurrence is expanded to the end of its ``UNTIL``/``COUNT``/``not_after``.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    return list(itertools.islice(iter_occurrences(window, after, before), count))


def first_occurrence(
    window: Window,
    after: datetime,
    before: datetime,
    usable: Callable[[Occurrence], bool] = lambda _: True,
) -> Occurrence | None:
    """The earliest occurrence with ``after <= start < before`` that ``usable`` accepts."""
    for occurrence in iter_occurrences(window, after, before):
        if usable(occurrence):
            return occurrence
    return None


# ---------------------------------------------------------------- freezes


def _month_day(text: str) -> tuple[int, int]:
    return int(text[:2]), int(text[3:])


def _day_in_year(year: int, month: int, day: int, *, is_end: bool) -> date:
    if month == 2 and day == 29 and not calendar.isleap(year):
        # From 02-29 starts on 1 March; until 02-29 ends with 28 February.
        return date(year, 2, 28) if is_end else date(year, 3, 1)
    return date(year, month, day)


def freeze_intervals(freeze: Freeze, start: datetime, end: datetime) -> list[FrozenInterval]:
    """The freeze's periods that overlap ``[start, end)``, whole (not clipped), sorted."""
    start = _as_utc(start, "start")
    end = _as_utc(end, "end")
    if end <= start:
        return []
    if freeze.yearly is None:
        if freeze.from_ is None or freeze.until is None:  # pragma: no cover - model rule
            raise WindowError(f"freeze {freeze.id!r} needs from and until, or yearly")
        if freeze.from_ < end and start < freeze.until and freeze.from_ < freeze.until:
            return [FrozenInterval(freeze.from_, freeze.until, freeze.id)]
        return []
    zone = ZoneInfo(freeze.timezone)
    fm, fd = _month_day(freeze.yearly.from_)
    um, ud = _month_day(freeze.yearly.until)
    wraps = (um, ud) < (fm, fd)
    first_year = start.astimezone(zone).year - 1
    last_year = end.astimezone(zone).year
    out: list[FrozenInterval] = []
    for year in range(max(first_year, 1), min(last_year, 9998) + 1):
        first_day = _day_in_year(year, fm, fd, is_end=False)
        last_day = _day_in_year(year + 1 if wraps else year, um, ud, is_end=True)
        lo = resolve_local(datetime.combine(first_day, time(0)), zone)
        hi = resolve_local(datetime.combine(last_day + timedelta(days=1), time(0)), zone)
        if lo < hi and lo < end and start < hi:
            out.append(FrozenInterval(lo, hi, freeze.id))
    return out


def frozen_intervals(
    freeze: Freeze, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``freeze_intervals`` as plain ``(start, end)`` UTC pairs."""
    return [(i.start, i.end) for i in freeze_intervals(freeze, start, end)]


def overlaps(occurrence: Occurrence, freeze: Freeze) -> bool:
    """Whether the occurrence overlaps the freeze at all (half-open intervals)."""
    return bool(freeze_intervals(freeze, occurrence.start, occurrence.end))


def blocking_freezes(
    occurrence: Occurrence,
    freezes: Iterable[Freeze],
    binds: Callable[[Freeze], bool] = lambda _: True,
) -> list[Freeze]:
    """The freezes that overlap the occurrence and bind, in the given order.

    ``binds(freeze)`` is the caller's answer to "does this freeze apply here": the host
    is selected by ``freeze.hosts`` and the change is not admitted by ``freeze.allow``.
    An occurrence with any blocking freeze must not be used for that change.
    """
    return [f for f in freezes if overlaps(occurrence, f) and binds(f)]


def _lower(message: str) -> str:
    return message[:1].lower() + message[1:]
