"""Durations, timestamps, dates and the other shared scalars (model/common.py).

Property-based where the input space is large: round trips, equivalent spellings,
UTC normalisation, date-only bounds, and garbage that must fail with ValueError only.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from patchpolicy.model.common import (
    format_duration,
    format_timestamp,
    parse_day,
    parse_duration,
    parse_end_instant,
    parse_local_time,
    parse_semver,
    parse_start_instant,
    parse_timestamp,
    parse_zone,
    semver_tuple,
)

MAX_DAYS = 36525
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_PATTERN = re.compile(r"^(\d+[mhdw]|P(\d+W|(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?))$")

# ---------------------------------------------------------------- durations

short_durations = st.sampled_from("mhdw").flatmap(
    lambda unit: st.tuples(
        st.integers(1, MAX_DAYS * 86400 // UNIT_SECONDS[unit]), st.just(unit)
    )
)
# Whole seconds from one second up to the 100-year limit.
durations = st.integers(1, MAX_DAYS * 86400).map(lambda s: timedelta(seconds=s))


@given(short_durations)
def test_short_form_is_n_units(nu: tuple[int, str]) -> None:
    n, unit = nu
    assert parse_duration(f"{n}{unit}") == timedelta(seconds=n * UNIT_SECONDS[unit])


@given(st.integers(1, MAX_DAYS))
def test_days_short_and_iso_agree(n: int) -> None:
    assert parse_duration(f"{n}d") == parse_duration(f"P{n}D") == timedelta(days=n)


@given(st.integers(1, MAX_DAYS // 7))
def test_weeks_short_and_iso_agree(n: int) -> None:
    assert parse_duration(f"{n}w") == parse_duration(f"P{n}W") == timedelta(weeks=n)
    assert format_duration(parse_duration(f"{n}w")) == f"{7 * n}d"


@given(
    st.integers(0, 3000), st.integers(0, 200), st.integers(0, 200), st.integers(0, 200)
)
def test_iso_parts_add_up(d: int, h: int, m: int, s: int) -> None:
    assume(d + h + m + s > 0)
    text = "P" + (f"{d}D" if d else "")
    if h or m or s:
        text += "T" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + (f"{s}S" if s else "")
    assert parse_duration(text) == timedelta(days=d, hours=h, minutes=m, seconds=s)


@given(durations)
def test_format_then_parse_is_identity(td: timedelta) -> None:
    text = format_duration(td)
    assert parse_duration(text) == td
    assert DURATION_PATTERN.match(text), text  # what the JSON Schema accepts


@given(short_durations)
def test_parse_then_format_gives_the_canonical_form(nu: tuple[int, str]) -> None:
    n, unit = nu
    canonical = format_duration(parse_duration(f"{n}{unit}"))
    # Canonical = the largest of d, h, m that divides exactly; idempotent.
    assert format_duration(parse_duration(canonical)) == canonical
    value, cunit = int(canonical[:-1]), canonical[-1]
    assert cunit in "dhm"
    assert value * UNIT_SECONDS[cunit] == n * UNIT_SECONDS[unit]
    bigger = {"m": "h", "h": "d", "d": None}[cunit]
    if bigger is not None:
        assert (value * UNIT_SECONDS[cunit]) % UNIT_SECONDS[bigger] != 0


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("30d", "30d"), ("P30D", "30d"), ("72h", "3d"), ("PT72H", "3d"), ("90m", "90m"),
     ("PT90M", "90m"), ("120m", "2h"), ("2w", "14d"), ("P1DT12H", "36h"), ("PT90S", "PT90S"),
     (" 7d ", "7d"), ("36525d", "36525d")],
)
def test_canonical_examples(text: str, canonical: str) -> None:
    assert format_duration(parse_duration(text)) == canonical


def test_timedelta_passes_through() -> None:
    assert parse_duration(timedelta(hours=4)) == timedelta(hours=4)
    with pytest.raises(ValueError, match="greater than zero"):
        parse_duration(timedelta(0))


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("30 days", "invalid duration '30 days'"),
        ("P1M", "months and years are not fixed lengths"),
        ("P1Y", "months and years"),
        ("1mo", "invalid duration"),
        ("30D", "invalid duration"),
        ("P", "invalid duration"),
        ("PT", "invalid duration"),
        ("P1DT", "invalid duration"),
        ("P1W2D", "invalid duration"),  # weeks cannot be combined (ISO 8601)
        ("PT1.5H", "invalid duration"),
        ("-5d", "invalid duration"),
        ("0d", "must be greater than zero"),
        ("P0D", "must be greater than zero"),
        ("36526d", "longer than 100 years"),
        ("99999999999999999999d", "longer than 100 years"),
        ("P99999999999999999999W", "longer than 100 years"),
        ("\u0663\u0660d", "invalid duration"),  # Arabic-Indic digits: not in the schema
        ("", "invalid duration"),
    ],
)
def test_duration_rejections(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_duration(text)


@pytest.mark.parametrize("value", [30, 30.0, None, True, ["30d"], {"d": 30}, b"30d"])
def test_duration_non_strings_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="expected a string"):
        parse_duration(value)


@given(st.text(max_size=30) | st.from_regex(r"P?[0-9]{1,25}[A-Za-z]{0,3}", fullmatch=True))
def test_duration_garbage_only_raises_value_error(text: str) -> None:
    try:
        td = parse_duration(text)
    except ValueError as e:
        assert str(e).startswith("invalid duration")
    else:
        assert timedelta(0) < td <= timedelta(days=MAX_DAYS)
        assert DURATION_PATTERN.match(text.strip())


# ---------------------------------------------------------------- timestamps

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)


def _rfc3339(dt: datetime) -> str:
    offset = dt.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hh, mm = divmod(abs(minutes), 60)
    frac = f".{dt.microsecond:06d}" if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + frac + f"{sign}{hh:02d}:{mm:02d}"


@given(aware)
def test_offsets_are_normalised_to_utc_same_instant(dt: datetime) -> None:
    parsed = parse_timestamp(_rfc3339(dt))
    assert parsed.tzinfo is UTC
    assert parsed == dt  # the same instant
    assert parsed.utcoffset() == timedelta(0)


@given(aware)
def test_format_then_parse_round_trips(dt: datetime) -> None:
    text = format_timestamp(dt)
    assert text.endswith("Z")
    assert parse_timestamp(text) == dt
    assert format_timestamp(parse_timestamp(text)) == text


@given(aware)
def test_z_lowercase_and_space_separator_are_the_same_instant(dt: datetime) -> None:
    text = format_timestamp(dt)
    assert parse_timestamp(text.lower()) == parse_timestamp(text.replace("T", " ")) == dt


@given(aware)
def test_aware_datetime_input_is_normalised(dt: datetime) -> None:
    assert parse_timestamp(dt) == dt
    assert parse_timestamp(dt).tzinfo is UTC


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31)))
def test_naive_timestamps_are_rejected(dt: datetime) -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_timestamp(dt)
    with pytest.raises(ValueError, match="expected RFC 3339 with an offset"):
        parse_timestamp(dt.strftime("%Y-%m-%dT%H:%M:%S"))


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20",  # a date is not a timestamp here
        "2026-11-20T06:00Z",  # seconds are required by RFC 3339
        "2026-11-20T06:00:00+0100",
        "2026-11-20T06:00:00 UTC",
        "2026-02-30T00:00:00Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T06:00:60Z",
        "2026-11-20T06:00:00+24:00",
        "20261120T060000Z",
        "9999-12-31T23:59:59-01:00",  # after datetime.max in UTC
        "0001-01-01T00:00:00+01:00",  # before datetime.min in UTC
    ],
)
def test_timestamp_rejections(text: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid timestamp"):
        parse_timestamp(text)


@given(
    st.text(max_size=40)
    | st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})",
        fullmatch=True,
    )
)
def test_timestamp_garbage_only_raises_value_error(text: str) -> None:
    for parse in (parse_timestamp, parse_start_instant, parse_end_instant):
        try:
            parsed = parse(text)
        except ValueError:
            continue
        assert parsed.tzinfo is UTC


@given(st.one_of(st.integers(), st.floats(), st.none(), st.binary(), st.lists(st.integers())))
def test_timestamp_non_strings_only_raise_value_error(value: object) -> None:
    for parse in (parse_timestamp, parse_start_instant, parse_end_instant, parse_day):
        with pytest.raises(ValueError):
            parse(value)


# ---------------------------------------------------------------- date-only instants

days = st.dates(min_value=date(1971, 1, 1), max_value=date(9999, 12, 30))


@given(days)
def test_date_only_start_is_midnight_utc(d: date) -> None:
    start = parse_start_instant(d.isoformat())
    assert start == datetime.combine(d, time(0), tzinfo=UTC)
    assert parse_start_instant(d) == start


@given(days)
def test_date_only_end_is_the_exclusive_end_of_that_day(d: date) -> None:
    end = parse_end_instant(d.isoformat())
    assert end == parse_start_instant(d.isoformat()) + timedelta(days=1)
    assert parse_end_instant(d) == end
    # Valid through that date: the last microsecond of the day is before the bound, the
    # next day's midnight is not.
    last = datetime.combine(d, time(23, 59, 59, 999999), tzinfo=UTC)
    assert last < end
    assert parse_start_instant((d + timedelta(days=1)).isoformat()) == end


@given(aware)
def test_a_timestamp_is_the_same_as_start_or_end_bound(dt: datetime) -> None:
    text = _rfc3339(dt)
    assert parse_start_instant(text) == parse_end_instant(text) == parse_timestamp(text)


def test_last_day_has_no_representable_end() -> None:
    assert parse_start_instant("9999-12-31") == datetime(9999, 12, 31, tzinfo=UTC)
    with pytest.raises(ValueError, match="out of range"):
        parse_end_instant("9999-12-31")


@pytest.mark.parametrize("text", ["2026-02-30", "2026-13-01", "2026-1-1", "26-01-01", "2026/01/01"])
def test_bad_dates(text: str) -> None:
    with pytest.raises(ValueError, match=r"^invalid (date|timestamp)"):
        parse_day(text)
    with pytest.raises(ValueError, match=r"^invalid (date|timestamp)"):
        parse_end_instant(text)


def test_parse_day_rejects_a_datetime() -> None:
    with pytest.raises(ValueError, match="expected a date"):
        parse_day(datetime(2026, 1, 1, tzinfo=UTC))
    assert parse_day(date(2026, 1, 1)) == date(2026, 1, 1)
    assert parse_day("2024-02-29") == date(2024, 2, 29)


# ---------------------------------------------------------------- semver, zones, local time


@pytest.mark.parametrize(
    ("text", "parts"),
    [("2.1.0", (2, 1, 0)), ("0.0.1", (0, 0, 1)), ("1.0.0-rc.1", (1, 0, 0)),
     ("10.20.30+build.5", (10, 20, 30)), ("1.0.0-alpha-1+sha.abc", (1, 0, 0))],
)
def test_semver_accepted(text: str, parts: tuple[int, int, int]) -> None:
    assert parse_semver(text) == text
    assert semver_tuple(text) == parts


@pytest.mark.parametrize("text", ["v2", "2", "2.1", "2.1.0.0", "02.1.0", "1.0.0-", "1.0.0-01", " 1.0.0"])
def test_semver_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="expected semver MAJOR.MINOR.PATCH"):
        parse_semver(text)


@pytest.mark.parametrize("number", [2, 1.1])
def test_a_numeric_version_says_to_quote_it(number: object) -> None:
    with pytest.raises(ValueError, match="an unquoted number .* quoted string MAJOR.MINOR.PATCH"):
        parse_semver(number)


def test_zones() -> None:
    assert parse_zone("Europe/Berlin") == "Europe/Berlin"
    assert parse_zone("UTC") == "UTC"
    with pytest.raises(ValueError, match=r"unknown time zone 'Europe/Berln' \(did you mean 'Europe/Berlin'\?\)"):
        parse_zone("Europe/Berln")
    with pytest.raises(ValueError, match="unknown time zone '../etc/passwd'"):
        parse_zone("../etc/passwd")
    with pytest.raises(ValueError, match="expected an IANA name"):
        parse_zone(1)


@pytest.mark.parametrize(("text", "value"), [("00:00", time(0)), ("02:00", time(2)), ("23:59", time(23, 59))])
def test_local_time_accepted(text: str, value: time) -> None:
    assert parse_local_time(text) == value


@pytest.mark.parametrize("text", ["25:00", "24:00", "2:00", "02:60", "02:00:00", "2am", None])
def test_local_time_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="expected HH:MM"):
        parse_local_time(text)
