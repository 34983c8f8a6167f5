"""iCalendar (RFC 5545) export of maintenance-window occurrences and planned tasks.

Deterministic: events sorted by start then UID, ``DTSTAMP`` is the as-of instant (never
the wall clock), UIDs are derived from what the event is, so a calendar that imports the
file again updates events instead of duplicating them. ``SEQUENCE`` is the number of
minutes from 2000-01-01T00:00:00Z to the as-of: a later evaluation always carries a
higher sequence, so a client applies a task that moved to another window (RFC 5545
3.8.7.4) rather than keeping the old time, without patchpolicy keeping state. Times are UTC (``...Z``): the
window's zone is named in the description, and every client shows local time anyway.
Lines end in CRLF and are folded at 75 octets without splitting a UTF-8 character.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from patchpolicy.model.common import format_timestamp
from patchpolicy.model.plan import Plan, StreamedPlan, Task, UpcomingWindow

__all__ = ["TASKS_CALENDAR", "CalendarEvent", "plan_events", "render_ics", "sequence_of", "window_events"]

PRODID = "-//patchpolicy//maintenance windows//EN"
#: The calendar name of scheduled tasks (``plan --ics`` and the bundle's tasks.ics).
TASKS_CALENDAR = "patch tasks"
_LIMIT = 75


@dataclass(frozen=True, order=True)
class CalendarEvent:
    """One VEVENT: ``[start, end)`` as aware instants, plain-text summary/description."""

    start: datetime
    uid: str
    end: datetime
    summary: str
    description: str = ""
    categories: tuple[str, ...] = ()


def _stamp(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError(f"calendar times must be aware, got {dt!r}")
    u = dt.astimezone(UTC)
    return f"{u.year:04d}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}{u.second:02d}Z"


_CONTROLS = {c: None for c in [*range(0x20), 0x7F] if c not in (0x09, 0x0A, 0x0D)}


def _text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11); control characters, which TEXT may not
    carry, are dropped (a host name from a snapshot could hold anything)."""
    return (
        value.translate(_CONTROLS)
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> bytes:
    """One content line, folded so no physical line exceeds 75 octets (RFC 5545 3.1).

    Folds fall between characters, never inside a UTF-8 sequence, and never inside a
    TEXT escape such as ``\\n`` (legal, but some clients mis-read it). Each physical line
    takes as many whole characters (an escape counts as one) as fit: a fold point moves
    left past UTF-8 continuation bytes and past the first half of an escape (an odd run
    of backslashes just before it).
    """
    data = line.encode()
    if len(data) <= _LIMIT:
        return data + b"\r\n"  # most lines: nothing to fold
    chunks = []
    pos, limit = 0, _LIMIT
    while len(data) - pos > limit:
        end = pos + limit
        while True:
            if data[end] & 0xC0 == 0x80:  # inside a UTF-8 sequence
                end -= 1
                continue
            run = 0
            while end - 1 - run >= 0 and data[end - 1 - run] == 0x5C:
                run += 1
            if run % 2:  # between a backslash and the character it escapes
                end -= 1
                continue
            break
        chunks.append(data[pos:end])
        pos, limit = end, _LIMIT - 1  # a continuation line starts with a space
    chunks.append(data[pos:])
    return b"\r\n ".join(chunks) + b"\r\n"


_SEQUENCE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def sequence_of(stamp: datetime) -> int:
    """The ``SEQUENCE`` of every event of a calendar made as of ``stamp``."""
    return max(0, int((stamp - _SEQUENCE_EPOCH).total_seconds() // 60))


def render_ics(
    events: Iterable[CalendarEvent], *, stamp: datetime, name: str = "patchpolicy"
) -> bytes:
    """A VCALENDAR with one VEVENT per event; ``stamp`` is every event's DTSTAMP."""
    return b"".join(ics_chunks(sorted(events), stamp=stamp, name=name))


def ics_chunks(
    events: Iterable[CalendarEvent], *, stamp: datetime, name: str = "patchpolicy",
    batch: int = 1000,
) -> Iterator[bytes]:
    """``render_ics``'s bytes, ``batch`` events at a time, of ``events`` already sorted."""
    dtstamp = _stamp(stamp)
    sequence = sequence_of(stamp)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(name)}",
    ]
    for n, e in enumerate(events, 1):
        if e.end <= e.start:
            raise ValueError(f"event {e.uid!r} ends before it starts")
        lines += [
            "BEGIN:VEVENT",
            f"UID:{e.uid}",
            f"DTSTAMP:{dtstamp}",
            f"SEQUENCE:{sequence}",
            f"DTSTART:{_stamp(e.start)}",
            f"DTEND:{_stamp(e.end)}",
            f"SUMMARY:{_text(e.summary)}",
        ]
        if e.description:
            lines.append(f"DESCRIPTION:{_text(e.description)}")
        if e.categories:
            lines.append("CATEGORIES:" + ",".join(_text(c) for c in e.categories))
        lines += ["TRANSP:OPAQUE", "END:VEVENT"]
        if n % batch == 0:
            yield b"".join(_fold(line) for line in lines)
            lines = []
    lines.append("END:VCALENDAR")
    yield b"".join(_fold(line) for line in lines)


def _uid(*parts: str) -> str:
    # Characters outside [A-Za-z0-9.-] are replaced so UIDs stay plain ASCII tokens.
    safe = "-".join("".join(c if c.isascii() and (c.isalnum() or c in ".-") else "_" for c in p)
                    for p in parts)
    return f"{safe}@patchpolicy"


def window_events(upcoming: Sequence[UpcomingWindow]) -> list[CalendarEvent]:
    """Events for window occurrences; the UID is (policy, window, start)."""
    events = []
    for u in upcoming:
        occ = u.occurrence
        frozen = [f.freeze for f in u.freezes if f.applies]
        summary = f"maintenance window {u.policy}/{u.window}"
        if frozen:
            summary += " (frozen: " + ", ".join(frozen) + ")"
        lines = [
            f"window {u.window} of policy {u.policy}",
            f"local time: {occ.local_start.isoformat()} to {occ.local_end.isoformat()} ({occ.timezone})",
            f"hosts: {u.hosts or 'every host'}",
        ]
        for f in u.freezes:
            allow = f"; allowed: {f.allow}" if f.allow else "; nothing allowed"
            scope = "" if f.hosts is None else f" for hosts matching {f.hosts}"
            lines.append(f"freeze {f.freeze} (policy {f.policy}){scope}{allow}")
        events.append(
            CalendarEvent(
                start=occ.start,
                uid=_uid(u.policy, u.window, _stamp(occ.start)),
                end=occ.end,
                summary=summary,
                description="\n".join(lines),
                categories=("maintenance-window",),
            )
        )
    return events


def plan_events(plan: Plan | StreamedPlan) -> list[CalendarEvent]:
    """Events for scheduled tasks; the UID is the task id, so a moved task moves."""
    return list(_task_events(plan.tasks))


def plan_events_sorted(plan: Plan | StreamedPlan) -> Iterator[CalendarEvent]:
    """``sorted(plan_events(plan))`` without holding every event: a plan's tasks come by
    start (``Plan.tasks`` order), so only the events of one start are sorted at a time."""
    group: list[CalendarEvent] = []
    for e in _task_events(plan.tasks):
        if group and e.start != group[0].start:
            if e.start < group[0].start:
                raise ValueError("the plan's tasks are not in start order")
            yield from sorted(group)
            group = []
        group.append(e)
    yield from sorted(group)


def _task_events(tasks: Iterable[Task]) -> Iterator[CalendarEvent]:
    for t in tasks:
        if t.start is None or t.end is None:
            continue
        n = len(t.findings)
        lines = [
            f"task {t.id} ({t.priority.value}) on {t.host}, owner {t.owner or 'unknown'}",
            f"window {t.window_policy}/{t.window}: {t.start_local} to {t.end_local} ({t.timezone})",
            f"deadline {format_timestamp(t.deadline)}" + (" - AT RISK" if t.at_risk else ""),
            "patches: " + ", ".join(t.patches),
            "findings: " + ", ".join(f.id for f in t.findings),
        ]
        yield (
            CalendarEvent(
                start=t.start,
                uid=_uid("task", t.id),
                end=t.end,
                summary=f"{t.priority.value} patch {t.host}: {n} finding{'s' if n != 1 else ''}"
                + (" (at risk)" if t.at_risk else ""),
                description="\n".join(lines),
                categories=("patch-task", t.priority.value),
            )
        )
