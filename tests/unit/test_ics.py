"""iCalendar export: parsed back with a tiny RFC 5545 reader and python-dateutil."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil.parser import isoparse
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpolicy.model.plan import FreezeNote, UpcomingWindow
from patchpolicy.render.ics import CalendarEvent, render_ics, sequence_of, window_events
from patchpolicy.windows import Occurrence

STAMP = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def unfold(data: bytes) -> list[str]:
    """Content lines: CRLF-terminated, folds (CRLF + one space) joined."""
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    for physical in data.split(b"\r\n")[:-1]:
        assert len(physical) <= 75, physical
        physical.decode()  # a fold never splits a UTF-8 character
    return data.replace(b"\r\n ", b"").decode().split("\r\n")[:-1]


def unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def parse(data: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    lines = unfold(data)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    calendar: dict[str, str] = {}
    events: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in lines[1:-1]:
        name, _, value = line.partition(":")
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            assert current is not None
            events.append(current)
            current = None
        elif current is not None:
            assert name not in current
            current[name] = value
        else:
            calendar[name] = value
    return calendar, events


def test_calendar_and_event_properties() -> None:
    start = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    ev = CalendarEvent(
        start=start, uid="a@patchpolicy", end=start + timedelta(hours=4),
        summary="patch web-01; nginx, curl", description="line one\nline two\\ end",
        categories=("patch-task", "P1"),
    )
    calendar, (event,) = parse(render_ics([ev], stamp=STAMP, name="windows"))
    assert calendar == {
        "VERSION": "2.0", "PRODID": "-//patchpolicy//maintenance windows//EN",
        "CALSCALE": "GREGORIAN", "METHOD": "PUBLISH", "X-WR-CALNAME": "windows",
    }
    assert event["UID"] == "a@patchpolicy"
    assert event["DTSTAMP"] == "20261120T060000Z"
    assert isoparse(event["DTSTART"]) == start
    assert isoparse(event["DTEND"]) == start + timedelta(hours=4)
    assert unescape(event["SUMMARY"]) == "patch web-01; nginx, curl"
    assert unescape(event["DESCRIPTION"]) == "line one\nline two\\ end"
    assert event["CATEGORIES"] == "patch-task,P1"
    # minutes from 2000-01-01T00:00Z to the stamp: a later calendar has a higher SEQUENCE
    assert event["SEQUENCE"] == str(sequence_of(STAMP)) == str(int((STAMP - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds() // 60))
    (later,) = parse(render_ics([ev], stamp=STAMP + timedelta(days=1), name="windows"))[1]
    assert int(later["SEQUENCE"]) == int(event["SEQUENCE"]) + 24 * 60


def test_events_are_sorted_and_bytes_deterministic() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    a = CalendarEvent(t + timedelta(days=1), "b@x", t + timedelta(days=1, hours=1), "later")
    b = CalendarEvent(t, "z@x", t + timedelta(hours=1), "earlier")
    c = CalendarEvent(t, "a@x", t + timedelta(hours=1), "same start, smaller uid")
    data = render_ics([a, b, c], stamp=STAMP)
    assert data == render_ics([c, b, a], stamp=STAMP)
    assert [e["UID"] for e in parse(data)[1]] == ["a@x", "z@x", "b@x"]


def test_times_are_converted_to_utc() -> None:
    from zoneinfo import ZoneInfo

    local = datetime(2026, 11, 22, 2, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    (event,) = parse(render_ics([CalendarEvent(local, "u@x", local + timedelta(hours=1), "s")],
                                stamp=STAMP))[1]
    assert event["DTSTART"] == "20261122T010000Z"


def test_bad_events_are_rejected() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="ends before"):
        render_ics([CalendarEvent(t, "u", t, "s")], stamp=STAMP)
    with pytest.raises(ValueError, match="aware"):
        render_ics([], stamp=datetime(2026, 1, 1))  # noqa: DTZ001


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=0, max_size=400))
def test_any_text_folds_and_round_trips(text: str) -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    ev = CalendarEvent(t, "u@x", t + timedelta(hours=1), "s" + text, description="d" + text)
    (event,) = parse(render_ics([ev], stamp=STAMP))[1]
    # Line ends become \n; other control characters are dropped.
    expected = "".join(
        c for c in text.replace("\r\n", "\n").replace("\r", "\n")
        if c in "\t\n" or not (ord(c) < 0x20 or ord(c) == 0x7F)
    )
    assert unescape(event["SUMMARY"]) == "s" + expected
    assert unescape(event["DESCRIPTION"]) == "d" + expected


def test_window_events_have_stable_uids_and_name_freezes() -> None:
    start = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
    occ = Occurrence(start, start + timedelta(hours=4), "prod-sunday", "Europe/Berlin")
    upcoming = [
        UpcomingWindow("baseline", "prod-sunday", 'host.env == "prod"', occ,
                       (FreezeNote("year-end", "baseline", "finding.kev != null", None),)),
    ]
    (ev,) = window_events(upcoming)
    assert ev.uid == "baseline-prod-sunday-20261220T010000Z@patchpolicy"
    (event,) = parse(render_ics([ev], stamp=STAMP))[1]
    assert unescape(event["SUMMARY"]) == "maintenance window baseline/prod-sunday (frozen: year-end)"
    description = unescape(event["DESCRIPTION"])
    assert "local time: 2026-12-20T02:00:00+01:00 to 2026-12-20T06:00:00+01:00 (Europe/Berlin)" in description
    assert "freeze year-end (policy baseline); allowed: finding.kev != null" in description
    # A freeze known not to bind the host asked about is not "frozen".
    free = [UpcomingWindow("baseline", "prod-sunday", None, occ,
                           (FreezeNote("year-end", "baseline", None, False),))]
    assert window_events(free)[0].summary == "maintenance window baseline/prod-sunday"


def _fold_by_units(line: str) -> bytes:
    """The folding rule stated character by character (the reference _fold must match)."""
    units: list[bytes] = []
    i = 0
    while i < len(line):
        step = 2 if line[i] == "\\" and i + 1 < len(line) else 1
        units.append(line[i : i + step].encode())
        i += step
    out = bytearray()
    width = 0
    for unit in units:
        if width + len(unit) > 75:
            out += b"\r\n "
            width = 1
        out += unit
        width += len(unit)
    return bytes(out) + b"\r\n"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(["a", "\\", "n", ";", "é", "€", "😀", " "]), max_size=400))
def test_fold_takes_whole_characters_and_escapes(line: str) -> None:
    from patchpolicy.render.ics import _fold

    assert _fold(line) == _fold_by_units(line)
