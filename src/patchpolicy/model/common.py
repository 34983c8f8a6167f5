"""Scalar types shared by every document: durations, timestamps, dates, versions, zones.

Each is an ``Annotated`` type with a plain-Python parser, so the same parsing serves
pydantic models, the fast snapshot decoder and the CLI (``--as-of``, ``--horizon``).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

# re.ASCII: \d is 0-9 only, as in the JSON Schema patterns (int() would take any digits).
_DURATION_SHORT = re.compile(r"^(\d+)(m|h|d|w)$", re.ASCII)
_DURATION_ISO = re.compile(
    r"^P(?:(?P<w>\d+)W|(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?)$",
    re.ASCII,
)
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Largest duration accepted: 100 years. Larger values are always typos and would overflow
# datetime arithmetic near year 9999.
_MAX_DURATION = timedelta(days=36525)


def parse_duration(value: object) -> timedelta:
    """Parse ``30d``/``72h``/``15m``/``2w`` or ISO 8601 ``P30D``/``PT72H``/``P2W``.

    Months and years are rejected on purpose: their length depends on the calendar, and
    an SLA must mean the same number of days whenever it starts.
    """
    if isinstance(value, timedelta):
        td = value
    elif isinstance(value, str):
        text = value.strip()
        m = _DURATION_SHORT.match(text)
        if m:
            td = _timedelta(value, **{_UNIT[m.group(2)]: int(m.group(1))})
        else:
            iso = _DURATION_ISO.match(text)
            if not iso or text in ("P", "PT") or text.endswith("T"):
                raise ValueError(
                    f"invalid duration {value!r}: use <n>m, <n>h, <n>d or <n>w (e.g. 30d, 72h) "
                    "or ISO 8601 (P30D, PT72H); months and years are not fixed lengths"
                )
            parts = {k: int(v) for k, v in iso.groupdict().items() if v is not None}
            td = _timedelta(
                value,
                weeks=parts.get("w", 0),
                days=parts.get("d", 0),
                hours=parts.get("h", 0),
                minutes=parts.get("m", 0),
                seconds=parts.get("s", 0),
            )
    else:
        raise ValueError(f"invalid duration {value!r}: expected a string such as 30d or P30D")
    if td <= timedelta(0):
        raise ValueError(f"invalid duration {value!r}: must be greater than zero")
    if td > _MAX_DURATION:
        raise ValueError(f"invalid duration {value!r}: longer than 100 years")
    return td


def _timedelta(value: object, **parts: int) -> timedelta:
    try:
        return timedelta(**parts)
    except OverflowError as e:
        raise ValueError(f"invalid duration {value!r}: longer than 100 years") from e


def format_duration(td: timedelta) -> str:
    """Render a duration in the shortest exact ``<n>d|h|m`` form (the inverse of parse)."""
    secs = int(td.total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}d"
    if secs % 3600 == 0:
        return f"{secs // 3600}h"
    if secs % 60 == 0:
        return f"{secs // 60}m"
    return f"PT{secs}S"


# The same patterns go into the JSON Schemas, so a schema-only validator (an editor)
# rejects a timestamp without an offset even where it does not check "format".
_RFC3339_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
_DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
_RFC3339 = re.compile(_RFC3339_PATTERN, re.ASCII)
_DATE = re.compile(_DATE_PATTERN, re.ASCII)


def parse_timestamp(value: object) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset; the result is aware, in UTC.

    A timestamp without an offset is rejected: its instant would depend on the machine.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value.isoformat()!r} has no UTC offset")
        return _to_utc(value, value.isoformat())
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            f"invalid timestamp {value!r}: expected RFC 3339 with an offset, "
            "e.g. 2026-11-20T06:00:00Z"
        )
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as e:
        raise ValueError(f"invalid timestamp {value!r}: {e}") from e
    return _to_utc(parsed, value)


def _to_utc(dt: datetime, text: str) -> datetime:
    try:
        return dt.astimezone(UTC)
    except OverflowError as e:
        # 9999-12-31T23:00:00-02:00 is after the last instant datetime can hold in UTC.
        raise ValueError(f"invalid timestamp {text!r}: out of range in UTC") from e


def parse_day(value: object) -> date:
    """Parse a calendar date ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        raise ValueError(f"expected a date, got a timestamp {value!r}")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"invalid date {value!r}: expected YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise ValueError(f"invalid date {value!r}: {e}") from e


def parse_start_instant(value: object) -> datetime:
    """A timestamp, or a date meaning the START of that day UTC (``effective_from``)."""
    if isinstance(value, str) and _DATE.match(value) or (
        isinstance(value, date) and not isinstance(value, datetime)
    ):
        d = parse_day(value)
        return datetime.combine(d, time(0), tzinfo=UTC)
    return parse_timestamp(value)


def parse_end_instant(value: object) -> datetime:
    """A timestamp, or a date meaning the END of that day UTC (valid through that date).

    Returned as the exclusive bound: ``2026-12-31`` -> ``2027-01-01T00:00:00Z``.
    """
    if isinstance(value, str) and _DATE.match(value) or (
        isinstance(value, date) and not isinstance(value, datetime)
    ):
        d = parse_day(value)
        if d == date.max:
            raise ValueError(f"invalid date {value!r}: its end is out of range")
        return datetime.combine(d, time(0), tzinfo=UTC) + timedelta(days=1)
    return parse_timestamp(value)


@functools.lru_cache(maxsize=1 << 16)
def format_timestamp(dt: datetime) -> str:
    """Canonical RFC 3339 UTC text: ``2026-11-20T06:00:00Z`` (microseconds only if set).

    Cached: renderers print the same few thousand instants (as-of, deadlines, scan times)
    hundreds of thousands of times; equal datetimes are one instant, so one text."""
    dt = dt.astimezone(UTC)
    # Not strftime: glibc prints year 1 as "1", and RFC 3339 needs four digits.
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    if dt.microsecond:
        text += f".{dt.microsecond:06d}"
    return text + "Z"


_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def parse_semver(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"invalid version {value!r}: an unquoted number (YAML reads 1.10 as 1.1); a "
            'version must be a quoted string MAJOR.MINOR.PATCH, e.g. version: "2.1.0"'
        )
    if not isinstance(value, str) or not _SEMVER.match(value):
        raise ValueError(f"invalid version {value!r}: expected semver MAJOR.MINOR.PATCH, e.g. 2.1.0")
    return value


def semver_tuple(version: str) -> tuple[int, int, int]:
    m = _SEMVER.match(version)
    if not m:
        raise ValueError(f"invalid version {version!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


_ZONES: frozenset[str] | None = None


def parse_zone(value: object) -> str:
    """An IANA time zone name that zoneinfo knows (``Europe/Berlin``, ``UTC``)."""
    global _ZONES
    if not isinstance(value, str):
        raise ValueError(f"invalid time zone {value!r}: expected an IANA name such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as e:
        if _ZONES is None:
            _ZONES = frozenset(available_timezones())
        import difflib

        close = difflib.get_close_matches(value, sorted(_ZONES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown time zone {value!r}{hint}") from e
    return value


_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_local_time(value: object) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _LOCAL_TIME.match(value):
        raise ValueError(f"invalid local time {value!r}: expected HH:MM (24-hour), e.g. 02:00")
    h, m = value.split(":")
    return time(int(h), int(m))


def _str_schema(pattern: str | None, description: str, **extra: Any) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "description": description, **extra}
    if pattern:
        schema["pattern"] = pattern
    return WithJsonSchema(schema)


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    _str_schema(
        r"^(\d+[mhdw]|P(\d+W|(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?))$",
        "A duration: <n>m, <n>h, <n>d, <n>w or ISO 8601 (P30D, PT72H).",
    ),
]
Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(format_timestamp, return_type=str),
    _str_schema(_RFC3339_PATTERN, "An RFC 3339 timestamp with offset.", format="date-time"),
]
StartInstant = Annotated[
    datetime,
    BeforeValidator(parse_start_instant),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema(
        {
            "description": "An RFC 3339 timestamp, or a date meaning the start of that day UTC.",
            "anyOf": [
                {"type": "string", "format": "date-time", "pattern": _RFC3339_PATTERN},
                {"type": "string", "format": "date", "pattern": _DATE_PATTERN},
            ],
        }
    ),
]
EndInstant = Annotated[
    datetime,
    BeforeValidator(parse_end_instant),
    PlainSerializer(format_timestamp, return_type=str),
    WithJsonSchema(
        {
            "description": "An RFC 3339 timestamp, or a date meaning the END of that day UTC "
            "(valid through that date).",
            "anyOf": [
                {"type": "string", "format": "date-time", "pattern": _RFC3339_PATTERN},
                {"type": "string", "format": "date", "pattern": _DATE_PATTERN},
            ],
        }
    ),
]
Day = Annotated[
    date,
    BeforeValidator(parse_day),
    PlainSerializer(lambda d: d.isoformat(), return_type=str),
    _str_schema(_DATE_PATTERN, "A calendar date YYYY-MM-DD.", format="date"),
]
SemVer = Annotated[
    str,
    BeforeValidator(parse_semver),
    _str_schema(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$", "A semantic version."),
]
ZoneName = Annotated[
    str, BeforeValidator(parse_zone), _str_schema(None, "An IANA time zone name.")
]
LocalTime = Annotated[
    time,
    BeforeValidator(parse_local_time),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    _str_schema(r"^([01]\d|2[0-3]):[0-5]\d$", "A local wall-clock time HH:MM."),
]


class Model(BaseModel):
    """Base of every document model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)
