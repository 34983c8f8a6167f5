"""Literal arguments that can never convert, found before any snapshot is read: duration
strings with units other CEL engines reject, timestamps that are not RFC 3339 dates,
numbers that do not parse, and regular expressions RE2 refuses."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import lark
from celpy.evaluation import celstr

from patchpolicy.errors import ExprError
from patchpolicy.expr.grammar import unwrap

__all__ = [
    "check_duration",
    "conversion_problem",
    "literal_string",
    "regex_problem",
]

# A CEL duration string: decimal numbers with standard units, e.g. "72h", "1h30m", "1.5s".
_DURATION = re.compile(r"-?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|us|µs|ns|m|s))+|-?0")
_DAYS = re.compile(r"(\d+)d")
# RFC 3339, as timestamp(string) requires (the engines' own rule, celpy_engine._RFC3339).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)


def check_duration(text: str, offset: int) -> None:
    """Raise ExprError at ``offset`` unless ``text`` is a duration every CEL engine reads
    (cel-python also accepts days, ``"3d"``: the message says how many hours that is)."""
    if _DURATION.fullmatch(text):
        return
    hint = ""
    days = _DAYS.fullmatch(text)
    if days:
        hint = f": write '{int(days.group(1)) * 24}h'"
    raise ExprError(
        f"duration {text!r} is not a CEL duration (units h, m, s, ms, us, ns only){hint}",
        offset,
    )


def conversion_problem(name: str, text: str) -> str | None:
    """Why ``name(text)`` (``timestamp``, ``int``, ``uint`` or ``double`` of a string
    literal) cannot convert, or None when it can."""
    if name == "timestamp":
        return _timestamp_problem(text)
    if name == "int" and not re.fullmatch(r"[+-]?\d+", text):
        return f"int({text!r}) cannot convert: not a decimal integer"
    if name == "uint" and not re.fullmatch(r"\+?\d+", text):
        return f"uint({text!r}) cannot convert: not an unsigned decimal integer"
    if name == "double":
        try:
            float(text)
        except ValueError:
            return f"double({text!r}) cannot convert: not a number"
    return None


def literal_string(node: Any) -> str | None:
    """The value of a string literal argument (escapes expanded), else None."""
    literal = unwrap(node)
    if not (isinstance(literal, lark.Tree) and literal.data == "literal"):
        return None
    token: Any = literal.children[0]
    if token.type not in ("STRING_LIT", "MLSTRING_LIT"):
        return None
    try:
        return str(celstr(token))
    except (ValueError, OverflowError):
        return None


def regex_problem(pattern: str) -> str | None:
    """Why RE2 (both engines' regular expressions) rejects ``pattern``, or None."""
    try:
        import re2  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - google-re2 is a dependency
        try:
            re.compile(pattern)
        except re.error as e:
            return str(e)
        return None
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own line to stderr
    try:
        re2.compile(pattern, options)
    except re2.error as e:
        detail = e.args[0] if e.args else "invalid"
        return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return None


def _timestamp_problem(text: str) -> str | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return f"timestamp {text!r} is not RFC 3339 (write e.g. '2026-01-01T00:00:00Z')"
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as e:
        return f"timestamp {text!r} is not a valid date: {e}"
    if year == 0:
        return f"timestamp {text!r} is not a valid date: year 0 is out of range"
    return None
