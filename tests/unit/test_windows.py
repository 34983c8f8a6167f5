"""Windows and freezes: occurrences against hand-computed UTC instants, DST both ways."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpolicy.model.policy import Freeze, Window
from patchpolicy.windows import (
    ANCHOR_DATE,
    Occurrence,
    WindowError,
    WindowIssue,
    blocking_freezes,
    check_freezes,
    check_windows,
    first_occurrence,
    freeze_intervals,
    frozen_intervals,
    iter_occurrences,
    next_windows,
    overlaps,
    resolve_local,
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def window(**kw: Any) -> Window:
    base: dict[str, Any] = {"id": "w", "rrule": "FREQ=DAILY", "start": "02:00", "duration": "1h"}
    base.update(kw)
    return Window.model_validate(base)


def freeze(**kw: Any) -> Freeze:
    base: dict[str, Any] = {"id": "f"}
    base.update(kw)
    return Freeze.model_validate(base)


# (case id, window fields, after, expected starts (UTC), expected end of the first)
NEXT_CASES: list[tuple[str, dict[str, Any], str, list[str], str]] = [
    (
        "berlin-weekly-winter",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:00", "duration": "4h", "timezone": "Europe/Berlin"},
        "2026-11-20T06:00:00Z",
        ["2026-11-22T01:00:00Z", "2026-11-29T01:00:00Z"],
        "2026-11-22T05:00:00Z",
    ),
    (
        # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist -> 03:30 CEST.
        "berlin-spring-forward-gap",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:30", "duration": "2h", "timezone": "Europe/Berlin"},
        "2026-03-23T00:00:00Z",
        ["2026-03-29T01:30:00Z", "2026-04-05T00:30:00Z"],
        "2026-03-29T03:30:00Z",
    ),
    (
        # 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice, fires at the
        # first (CEST, +02:00). Two absolute hours end at 03:30 CET.
        "berlin-fall-back-ambiguous",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:30", "duration": "2h", "timezone": "Europe/Berlin"},
        "2026-10-19T00:00:00Z",
        ["2026-10-25T00:30:00Z", "2026-11-01T01:30:00Z"],
        "2026-10-25T02:30:00Z",
    ),
    (
        "new-york-spring-forward-gap",
        {"rrule": "FREQ=DAILY", "start": "02:30", "duration": "1h", "timezone": "America/New_York"},
        "2026-03-07T12:00:00Z",
        ["2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"],
        "2026-03-08T08:30:00Z",
    ),
    (
        "new-york-fall-back-ambiguous",
        {"rrule": "FREQ=DAILY", "start": "01:30", "duration": "1h", "timezone": "America/New_York"},
        "2026-10-31T12:00:00Z",
        ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
        "2026-11-01T06:30:00Z",
    ),
    (
        # Sydney: AEDT (+11) ends 2026-04-05 03:00 -> 02:00 AEST (+10); 02:30 is ambiguous.
        "sydney-fall-back-ambiguous",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:30", "duration": "3h", "timezone": "Australia/Sydney"},
        "2026-03-30T00:00:00Z",
        ["2026-04-04T15:30:00Z", "2026-04-11T16:30:00Z"],
        "2026-04-04T18:30:00Z",
    ),
    (
        # Sydney: AEST (+10) jumps 2026-10-04 02:00 -> 03:00 AEDT (+11); 02:30 -> 03:30.
        "sydney-spring-forward-gap",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:30", "duration": "3h", "timezone": "Australia/Sydney"},
        "2026-09-28T00:00:00Z",
        ["2026-10-03T16:30:00Z", "2026-10-10T15:30:00Z"],
        "2026-10-03T19:30:00Z",
    ),
    (
        "kolkata-half-hour-offset",
        {"rrule": "FREQ=DAILY", "start": "01:00", "duration": "2h", "timezone": "Asia/Kolkata"},
        "2026-06-01T00:00:00Z",
        ["2026-06-01T19:30:00Z", "2026-06-02T19:30:00Z"],
        "2026-06-01T21:30:00Z",
    ),
    (
        "year-end-crossing",
        {"rrule": "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=31", "start": "23:00", "duration": "4h", "timezone": "Europe/Berlin"},
        "2026-06-01T00:00:00Z",
        ["2026-12-31T22:00:00Z", "2027-12-31T22:00:00Z"],
        "2027-01-01T02:00:00Z",
    ),
    (
        "last-day-of-month",
        {"rrule": "FREQ=MONTHLY;BYMONTHDAY=-1", "start": "20:00", "duration": "2h", "timezone": "UTC"},
        "2026-12-15T00:00:00Z",
        ["2026-12-31T20:00:00Z", "2027-01-31T20:00:00Z", "2027-02-28T20:00:00Z"],
        "2026-12-31T22:00:00Z",
    ),
    (
        "leap-day",
        {"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "start": "02:30", "duration": "1h", "timezone": "Europe/Berlin"},
        "2026-03-28T00:00:00Z",
        ["2028-02-29T01:30:00Z", "2032-02-29T01:30:00Z"],
        "2028-02-29T02:30:00Z",
    ),
    (
        # Patch Tuesday + 4d: the offset moves the local date, the local time stays 22:00
        # across the March DST change (EST -05:00 in January, EDT -04:00 in March).
        "patch-tuesday-plus-4-offset",
        {"rrule": "FREQ=MONTHLY;BYDAY=+2TU", "offset": "4d", "start": "22:00", "duration": "6h", "timezone": "America/New_York"},
        "2026-01-01T00:00:00Z",
        ["2026-01-18T03:00:00Z", "2026-02-15T03:00:00Z", "2026-03-15T02:00:00Z"],
        "2026-01-18T09:00:00Z",
    ),
    (
        # The offset lands the local start in the spring-forward gap: resolved afterwards.
        "offset-into-gap",
        {"rrule": "FREQ=WEEKLY;BYDAY=SA", "offset": "270m", "start": "22:00", "duration": "1h", "timezone": "Europe/Berlin"},
        "2026-03-27T00:00:00Z",
        ["2026-03-29T01:30:00Z", "2026-04-05T00:30:00Z"],
        "2026-03-29T02:30:00Z",
    ),
    (
        "start-exactly-at-after-is-included",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:00", "duration": "4h", "timezone": "Europe/Berlin"},
        "2026-11-22T01:00:00Z",
        ["2026-11-22T01:00:00Z", "2026-11-29T01:00:00Z"],
        "2026-11-22T05:00:00Z",
    ),
    (
        "utc-default-zone",
        {"rrule": "FREQ=WEEKLY;BYDAY=MO,TH", "start": "06:00", "duration": "30m"},
        "2026-11-20T06:00:00Z",
        ["2026-11-23T06:00:00Z", "2026-11-26T06:00:00Z", "2026-11-30T06:00:00Z"],
        "2026-11-23T06:30:00Z",
    ),
    (
        "local-until-is-end-of-local-day",
        {"rrule": "FREQ=WEEKLY;BYDAY=SU;UNTIL=20261129", "start": "22:00", "duration": "1h", "timezone": "America/New_York"},
        "2026-11-20T00:00:00Z",
        ["2026-11-23T03:00:00Z", "2026-11-30T03:00:00Z"],
        "2026-11-23T04:00:00Z",
    ),
    (
        "not-before-and-not-after-bound-whole-occurrences",
        {
            "rrule": "FREQ=DAILY", "start": "10:00", "duration": "2h",
            "not_before": "2026-05-02T10:00:01Z", "not_after": "2026-05-05T11:59:59Z",
        },
        "2026-05-01T00:00:00Z",
        ["2026-05-03T10:00:00Z", "2026-05-04T10:00:00Z"],
        "2026-05-03T12:00:00Z",
    ),
]


@pytest.mark.parametrize(
    ("fields", "after", "starts", "first_end"),
    [c[1:] for c in NEXT_CASES],
    ids=[c[0] for c in NEXT_CASES],
)
def test_next_windows(fields: dict[str, Any], after: str, starts: list[str], first_end: str) -> None:
    got = next_windows(window(**fields), utc(after), len(starts) + 1, before=utc("2040-01-01T00:00:00Z"))
    assert [o.start for o in got[: len(starts)]] == [utc(s) for s in starts]
    assert got[0].end == utc(first_end)
    assert all(o.end - o.start == window(**fields).duration for o in got)


def test_local_times_show_the_resolution() -> None:
    w = window(rrule="FREQ=WEEKLY;BYDAY=SU", start="02:30", duration="2h", timezone="Europe/Berlin")
    (gap,) = next_windows(w, utc("2026-03-23T00:00:00Z"), 1)
    assert gap.local_start.isoformat() == "2026-03-29T03:30:00+02:00"
    (fold,) = next_windows(w, utc("2026-10-19T00:00:00Z"), 1)
    assert fold.local_start.isoformat() == "2026-10-25T02:30:00+02:00"
    assert fold.local_end.isoformat() == "2026-10-25T03:30:00+01:00"


def test_hourly_rule_fires_once_per_instant_across_both_transitions() -> None:
    w = window(rrule="FREQ=HOURLY", start="00:30", duration="30m", timezone="Europe/Berlin",
               not_before="2026-03-01")
    spring = next_windows(w, utc("2026-03-29T00:00:00Z"), 4)
    assert [o.start for o in spring] == [utc(f"2026-03-29T0{h}:30:00Z") for h in range(4)]
    autumn = next_windows(w, utc("2026-10-24T23:00:00Z"), 3)
    # 01:30 CEST, 02:30 CEST (the first 02:30), then 03:30 CET: the second 02:30 is skipped.
    assert [o.start for o in autumn] == [
        utc("2026-10-24T23:30:00Z"), utc("2026-10-25T00:30:00Z"), utc("2026-10-25T02:30:00Z"),
    ]


def test_resolve_local_is_rfc5545() -> None:
    ny = ZoneInfo("America/New_York")
    # RFC 5545 3.3.5's own examples.
    assert resolve_local(datetime(2007, 11, 4, 1, 30), ny) == utc("2007-11-04T05:30:00Z")
    assert resolve_local(datetime(2007, 3, 11, 2, 30), ny) == utc("2007-03-11T07:30:00Z")
    assert resolve_local(datetime(2007, 11, 4, 1, 30, fold=1), ny) == utc("2007-11-04T05:30:00Z")


def test_iterator_is_lazy_and_bounded() -> None:
    w = window(rrule="FREQ=DAILY", start="00:00", duration="1h")
    it = iter_occurrences(w, utc("2026-01-01T00:00:00Z"))
    assert next(it).start == utc("2026-01-01T00:00:00Z")
    bounded = list(iter_occurrences(w, utc("2026-01-01T00:00:00Z"), utc("2026-01-04T00:00:00Z")))
    assert len(bounded) == 3


def test_rule_that_ends() -> None:
    w = window(rrule="FREQ=DAILY;COUNT=3", start="00:00", duration="1h", not_before="2026-01-01")
    assert len(next_windows(w, utc("2025-12-01T00:00:00Z"), 10)) == 3
    assert next_windows(w, utc("2026-01-03T00:00:01Z"), 10) == []


def test_not_after_ends_iteration() -> None:
    w = window(rrule="FREQ=DAILY", start="00:00", duration="1h", not_after="2026-01-02")
    assert [o.start for o in next_windows(w, utc("2026-01-01T00:00:00Z"), 10)] == [
        utc("2026-01-01T00:00:00Z"), utc("2026-01-02T00:00:00Z"),
    ]


def test_interval_counts_from_not_before_or_the_anchor() -> None:
    biweekly = "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"
    anchored = window(rrule=biweekly, start="00:00", duration="1h", not_before="2026-01-05")
    assert next_windows(anchored, utc("2026-01-06T00:00:00Z"), 1)[0].start == utc("2026-01-19T00:00:00Z")
    free = window(rrule=biweekly, start="00:00", duration="1h")
    first = next_windows(free, utc("2026-01-06T00:00:00Z"), 1)[0].start
    assert (first.date() - ANCHOR_DATE).days % 14 == 0


def test_impossible_rule_yields_nothing_fast() -> None:
    w = window(rrule="FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    assert next_windows(w, utc("2026-01-01T00:00:00Z"), 1) == []


def test_count_with_until_is_rejected() -> None:
    # The model's own parse would warn (dateutil deprecation); bypass it to reach ours.
    w = window().model_copy(update={"rrule": "FREQ=DAILY;COUNT=2;UNTIL=20270101"})
    with pytest.raises(WindowError, match="count and until|COUNT and UNTIL"):
        next_windows(w, utc("2026-01-01T00:00:00Z"), 1)


def test_naive_after_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_windows(window(), datetime(2026, 1, 1), 1)
    with pytest.raises(ValueError, match="negative"):
        next_windows(window(), utc("2026-01-01T00:00:00Z"), -1)


def test_first_occurrence_skips_unusable() -> None:
    w = window(rrule="FREQ=DAILY", start="00:00", duration="1h")
    got = first_occurrence(
        w, utc("2026-01-01T00:00:00Z"), utc("2026-02-01T00:00:00Z"),
        lambda o: o.start.day == 5,
    )
    assert got is not None and got.start == utc("2026-01-05T00:00:00Z")
    assert first_occurrence(w, utc("2026-01-01T00:00:00Z"), utc("2026-01-03T00:00:00Z"),
                            lambda o: False) is None


def test_occurrences_sort_by_start() -> None:
    a = Occurrence(utc("2026-01-02T00:00:00Z"), utc("2026-01-02T01:00:00Z"), "a", "UTC")
    b = Occurrence(utc("2026-01-01T00:00:00Z"), utc("2026-01-01T01:00:00Z"), "b", "UTC")
    assert sorted([a, b]) == [b, a]


# ---------------------------------------------------------------- freezes


def test_absolute_freeze_with_date_only_until_covers_the_whole_day() -> None:
    f = freeze(**{"from": "2026-12-20", "until": "2027-01-03"})
    assert frozen_intervals(f, utc("2026-01-01T00:00:00Z"), utc("2028-01-01T00:00:00Z")) == [
        (utc("2026-12-20T00:00:00Z"), utc("2027-01-04T00:00:00Z"))
    ]
    assert frozen_intervals(f, utc("2027-01-04T00:00:00Z"), utc("2028-01-01T00:00:00Z")) == []
    assert frozen_intervals(f, utc("2026-01-01T00:00:00Z"), utc("2026-12-20T00:00:00Z")) == []


def test_yearly_freeze_spans_the_year_end_in_its_zone() -> None:
    f = freeze(yearly={"from": "12-15", "until": "01-05"}, timezone="Europe/Berlin")
    got = frozen_intervals(f, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"))
    assert got == [
        (utc("2025-12-14T23:00:00Z"), utc("2026-01-05T23:00:00Z")),
        (utc("2026-12-14T23:00:00Z"), utc("2027-01-05T23:00:00Z")),
    ]


def test_yearly_freeze_within_one_year_and_dst() -> None:
    # 03-25..03-31 in Berlin: starts in CET, ends in CEST.
    f = freeze(yearly={"from": "03-25", "until": "03-31"}, timezone="Europe/Berlin")
    assert frozen_intervals(f, utc("2026-03-01T00:00:00Z"), utc("2026-04-01T00:00:00Z")) == [
        (utc("2026-03-24T23:00:00Z"), utc("2026-03-31T22:00:00Z"))
    ]


@pytest.mark.parametrize(
    ("yearly", "year", "expected"),
    [
        ({"from": "02-29", "until": "03-02"}, 2027, ("2027-03-01", "2027-03-03")),
        ({"from": "02-29", "until": "03-02"}, 2028, ("2028-02-29", "2028-03-03")),
        ({"from": "02-20", "until": "02-29"}, 2027, ("2027-02-20", "2027-03-01")),
        ({"from": "02-20", "until": "02-29"}, 2028, ("2028-02-20", "2028-03-01")),
    ],
)
def test_yearly_freeze_leap_day_edges(yearly: dict[str, str], year: int, expected: tuple[str, str]) -> None:
    f = freeze(yearly=yearly)
    got = frozen_intervals(f, utc(f"{year}-01-10T00:00:00Z"), utc(f"{year}-12-01T00:00:00Z"))
    assert got == [(utc(f"{expected[0]}T00:00:00Z"), utc(f"{expected[1]}T00:00:00Z"))]


def test_leap_day_only_freeze_is_empty_in_common_years() -> None:
    f = freeze(yearly={"from": "02-29", "until": "02-29"})
    assert frozen_intervals(f, utc("2027-01-01T00:00:00Z"), utc("2028-01-01T00:00:00Z")) == []
    assert len(freeze_intervals(f, utc("2028-01-01T00:00:00Z"), utc("2029-01-01T00:00:00Z"))) == 1


def test_empty_range_has_no_intervals() -> None:
    f = freeze(yearly={"from": "01-01", "until": "12-31"})
    assert frozen_intervals(f, utc("2026-05-01T00:00:00Z"), utc("2026-05-01T00:00:00Z")) == []


def test_overlap_is_half_open() -> None:
    f = freeze(**{"from": "2026-12-20T00:00:00Z", "until": "2027-01-04T00:00:00Z"})
    before = Occurrence(utc("2026-12-19T20:00:00Z"), utc("2026-12-20T00:00:00Z"), "w", "UTC")
    partly = Occurrence(utc("2026-12-19T22:00:00Z"), utc("2026-12-20T02:00:00Z"), "w", "UTC")
    after = Occurrence(utc("2027-01-04T00:00:00Z"), utc("2027-01-04T04:00:00Z"), "w", "UTC")
    assert not overlaps(before, f)
    assert overlaps(partly, f)
    assert not overlaps(after, f)


def test_freeze_swallows_several_windows() -> None:
    w = window(rrule="FREQ=WEEKLY;BYDAY=SU", start="02:00", duration="4h", timezone="Europe/Berlin")
    f = freeze(yearly={"from": "12-15", "until": "01-05"}, timezone="Europe/Berlin")
    after = utc("2026-12-14T00:00:00Z")
    occurrences = next_windows(w, after, 5)
    frozen = [o for o in occurrences if blocking_freezes(o, [f])]
    # Sundays 20 Dec, 27 Dec and 3 Jan fall inside; 10 Jan is the first free one.
    assert [o.start for o in frozen] == [
        utc("2026-12-20T01:00:00Z"), utc("2026-12-27T01:00:00Z"), utc("2027-01-03T01:00:00Z"),
    ]
    got = first_occurrence(w, after, after + timedelta(days=90),
                           lambda o: not blocking_freezes(o, [f]))
    assert got is not None and got.start == utc("2027-01-10T01:00:00Z")


def test_blocking_freezes_respects_binds() -> None:
    f1 = freeze(id="a", **{"from": "2026-01-01", "until": "2026-02-01"})
    f2 = freeze(id="b", **{"from": "2026-01-01", "until": "2026-02-01"})
    occ = Occurrence(utc("2026-01-10T00:00:00Z"), utc("2026-01-10T01:00:00Z"), "w", "UTC")
    assert [f.id for f in blocking_freezes(occ, [f1, f2])] == ["a", "b"]
    assert [f.id for f in blocking_freezes(occ, [f1, f2], lambda f: f.id == "b")] == ["b"]


# ---------------------------------------------------------------- validation

REF = utc("2026-01-01T00:00:00Z")


def test_valid_windows_have_no_issues() -> None:
    ws = [
        window(id="a", rrule="FREQ=WEEKLY;BYDAY=SU", hosts='host.env == "prod"'),
        window(id="b", rrule="FREQ=WEEKLY;BYDAY=SA", hosts='host.env == "prod"'),
        window(id="c", rrule="FREQ=DAILY", start="00:00", duration="24h", timezone="Europe/Berlin"),
    ]
    assert check_windows(ws, REF) == []


def test_never_occurring_rules_are_errors() -> None:
    ws = [
        window(id="imp", rrule="FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31"),
        window(id="leap", rrule="FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"),
        window(id="over", rrule="FREQ=DAILY", not_after="2025-06-01"),
    ]
    assert check_windows(ws, REF) == [
        WindowIssue("window", "imp", "rrule never occurs: no month of BYMONTH has a day BYMONTHDAY"),
        WindowIssue(
            "window", "leap",
            "rrule has no occurrence within a year after 2026-01-01T00:00:00Z "
            "(next occurrence 2028-02-29T02:00:00Z)",
        ),
        WindowIssue("window", "over", "rrule has no occurrence within a year after 2026-01-01T00:00:00Z"),
    ]


def test_window_longer_than_its_interval_is_an_error() -> None:
    ws = [window(id="long", rrule="FREQ=WEEKLY;BYDAY=MO,TU", duration="25h")]
    (issue,) = check_windows(ws, REF)
    assert issue.severity == "error"
    assert issue.message.startswith("duration 25h is longer than the 1d between occurrences")


def test_overlapping_windows_for_the_same_hosts_warn() -> None:
    ws = [
        window(id="a", rrule="FREQ=WEEKLY;BYDAY=SU", duration="4h", hosts='host.env == "prod"'),
        window(id="b", rrule="FREQ=WEEKLY;BYDAY=SU", start="05:00", duration="1h",
               hosts='host.env  ==  "prod"'),
        window(id="c", rrule="FREQ=WEEKLY;BYDAY=SU", duration="4h", hosts='host.env == "dev"'),
    ]
    assert check_windows(ws, REF) == [
        WindowIssue("window", "b", 'overlaps window "a" for the same hosts (at 2026-01-04T05:00:00Z)',
                    "warning"),
    ]


def test_start_date_dependent_rule_without_anchor_warns() -> None:
    ws = [
        window(id="bi", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=SU"),
        window(id="wk", rrule="FREQ=WEEKLY"),
        window(id="ok", rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=SU", not_before="2026-01-04", hosts="false"),
    ]
    got = check_windows(ws, REF)
    assert [(i.id, i.severity) for i in got] == [("bi", "warning"), ("wk", "warning")]
    assert "set not_before" in got[0].message


def test_future_window_is_checked_from_its_not_before() -> None:
    ws = [window(id="later", rrule="FREQ=WEEKLY;BYDAY=SU", not_before="2030-01-01")]
    assert check_windows(ws, REF) == []
    expired = [window(id="gone", rrule="FREQ=WEEKLY;BYDAY=SU", not_after="2020-01-01")]
    assert [i.message for i in check_windows(expired, REF)] == [
        "rrule has no occurrence within a year after 2026-01-01T00:00:00Z"
    ]


def test_bad_rule_text_is_an_error_issue() -> None:
    ws = [window(id="x").model_copy(update={"rrule": "FREQ=DAILY;COUNT=2;UNTIL=20270101"})]
    (issue,) = check_windows(ws, REF)
    assert issue.severity == "error" and issue.message.startswith("invalid rrule")


def test_freeze_checks() -> None:
    fs = [
        freeze(id="bad", **{"from": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
        freeze(id="good", **{"from": "2026-01-01", "until": "2026-01-01"}),
        freeze(id="yearly", yearly={"from": "12-15", "until": "01-05"}),
    ]
    assert check_freezes(fs) == [
        WindowIssue("freeze", "bad", "until 2026-01-01T00:00:00Z is not after from 2026-02-01T00:00:00Z")
    ]


# ---------------------------------------------------------------- properties

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
         "America/Santiago", "Australia/Lord_Howe"]
RULES = ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU", "FREQ=WEEKLY;BYDAY=MO,WE,FR",
         "FREQ=MONTHLY;BYDAY=+2TU", "FREQ=MONTHLY;BYMONTHDAY=-1"]


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    rule=st.sampled_from(RULES),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    minutes=st.integers(1, 24 * 60),
    after=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                       timezones=st.just(UTC)),
)
def test_occurrences_are_ordered_after_and_rfc5545(
    zone: str, rule: str, hour: int, minute: int, minutes: int, after: datetime
) -> None:
    w = window(rrule=rule, timezone=zone, start=f"{hour:02d}:{minute:02d}", duration=f"{minutes}m")
    got = next_windows(w, after, 5)
    assert len(got) == 5
    starts = [o.start for o in got]
    assert starts == sorted(set(starts))
    assert starts[0] >= after
    tz = ZoneInfo(zone)
    for o in got:
        assert o.end - o.start == timedelta(minutes=minutes)
        local = o.start.astimezone(tz)
        wall = local.replace(tzinfo=None)
        intended = datetime.combine(wall.date(), datetime.min.time()).replace(hour=hour, minute=minute)
        if wall != intended:
            # Only a spring-forward gap moves the local start, by exactly the gap, later.
            shift = wall - intended
            assert timedelta(0) < shift <= timedelta(hours=1)
            assert resolve_local(intended, tz) == o.start
            assert intended.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != intended


def test_utc_until_is_honoured() -> None:
    # RFC 5545 wants UNTIL in UTC beside a zoned start; the model's naive pre-parse rejects
    # that form today, so bypass it to check the expansion itself.
    w = window(timezone="Europe/Berlin", start="02:00").model_copy(
        update={"rrule": "FREQ=DAILY;UNTIL=20260103T010000Z"}
    )
    assert [o.start for o in next_windows(w, utc("2026-01-01T00:00:00Z"), 5)] == [
        utc("2026-01-01T01:00:00Z"), utc("2026-01-02T01:00:00Z"), utc("2026-01-03T01:00:00Z"),
    ]
