"""Semantic checks of window and freeze definitions, for the loader to pin to file places.

A window is checked over the year after a reference instant (see ``check_windows``); the
occurrences come from ``recurrence``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from patchpolicy.model.common import format_duration, format_timestamp
from patchpolicy.model.policy import Freeze, Window
from patchpolicy.windows.recurrence import (
    ANCHOR_DATE,
    Occurrence,
    WindowError,
    _as_utc,
    _impossible,
    _iter_with_wall,
    _lower,
    _rule_parts,
    iter_occurrences,
    next_windows,
)

__all__ = ["Severity", "WindowIssue", "check_freezes", "check_windows"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class WindowIssue:
    """A problem with a window or freeze definition; the loader pins it to a file place.

    ``kind`` says which list ``id`` belongs to; messages are lowercase.
    """

    kind: Literal["window", "freeze"]
    id: str
    message: str
    severity: Severity = "error"


_YEAR = timedelta(days=366)
_SAMPLE = 1000


def _dtstart_dependent(text: str) -> str | None:
    parts = _rule_parts(text.strip().removeprefix("RRULE:").removeprefix("rrule:"))
    freq = parts.get("FREQ", "")
    if "COUNT" in parts:
        return "COUNT"
    if parts.get("INTERVAL", "1") not in ("", "1"):
        return "INTERVAL"
    pinned = {"BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYEASTER"}
    if freq == "WEEKLY" and "BYDAY" not in parts:
        return "FREQ=WEEKLY without BYDAY"
    if freq == "MONTHLY" and not pinned & parts.keys():
        return "FREQ=MONTHLY without BYMONTHDAY or BYDAY"
    if freq == "YEARLY" and not (pinned - {"BYMONTHDAY"}) & parts.keys() and not (
        "BYMONTH" in parts and "BYMONTHDAY" in parts
    ):
        return "FREQ=YEARLY without BYMONTH and BYMONTHDAY, or BYDAY"
    return None


def _hosts_key(hosts: str | None) -> str:
    return " ".join(hosts.split()) if hosts else "true"


def check_windows(windows: Sequence[Window], reference: datetime) -> list[WindowIssue]:
    """Semantic checks of windows, for the loader to pin to file places. Sorted.

    Each window is checked over the year after ``reference``, or after its own
    ``not_before`` when that is later (a window that starts in the future is not "never
    occurring"):

    * error: the rule cannot be expanded, or never matches a day;
    * error: no occurrence within that year (names the next one when there is one
      within ten years);
    * error: the duration is longer than the shortest local wall-clock gap between two
      consecutive starts (occurrences would overlap each other); the wall-clock gap is
      used so that DST days (23h or 25h) do not make a daily 24h window invalid;
    * warning: the rule depends on its start date (COUNT, INTERVAL, missing BY* parts)
      and no ``not_before`` anchors it;
    * warning: two windows with the same ``hosts`` text (whitespace-normalised) overlap
      within the year after the later of their two references.
    """
    reference = _as_utc(reference, "reference")
    issues: list[WindowIssue] = []
    checked: list[Window] = []
    for window in windows:
        found, expanded = _check_window(window, reference)
        issues += found
        if expanded:
            checked.append(window)
    issues += _overlapping(checked, reference)
    return sorted(issues)


def _check_window(window: Window, reference: datetime) -> tuple[list[WindowIssue], bool]:
    """The issues of one window over its year, and whether its rule could be expanded."""
    why = _impossible(window.rrule)
    if why is not None:
        return [WindowIssue("window", window.id, f"rrule never occurs: {why}")], False
    since = _since(window, reference)
    try:
        walls = list(itertools.islice(_iter_with_wall(window, since, since + _YEAR), _SAMPLE))
    except WindowError as e:
        return [WindowIssue("window", window.id, _lower(str(e)))], False
    issues: list[WindowIssue] = []
    if not walls:
        later = next_windows(window, since + _YEAR, 1, before=since + timedelta(days=3653))
        hint = f" (next occurrence {format_timestamp(later[0].start)})" if later else ""
        issues.append(
            WindowIssue(
                "window",
                window.id,
                f"rrule has no occurrence within a year after {format_timestamp(since)}{hint}",
            )
        )
    gap = _shortest_wall_gap(walls)
    if gap is not None and window.duration > gap[0]:
        issues.append(
            WindowIssue(
                "window",
                window.id,
                f"duration {format_duration(window.duration)} is longer than the "
                f"{format_duration(gap[0])} between occurrences "
                f"(from {format_timestamp(gap[1])})",
            )
        )
    dependent = _dtstart_dependent(window.rrule)
    if dependent is not None and window.not_before is None:
        issues.append(
            WindowIssue(
                "window",
                window.id,
                f"rrule depends on its start date ({dependent}): it counts from "
                f"{ANCHOR_DATE.isoformat()}; set not_before to anchor it",
                "warning",
            )
        )
    return issues, True


def _overlapping(checked: Sequence[Window], reference: datetime) -> list[WindowIssue]:
    """Warnings for two windows with the same ``hosts`` text that overlap within a year."""
    issues: list[WindowIssue] = []
    by_hosts: dict[str, list[Window]] = {}
    for window in checked:
        by_hosts.setdefault(_hosts_key(window.hosts), []).append(window)
    for group in by_hosts.values():
        for a, b in itertools.combinations(group, 2):
            since = max(_since(a, reference), _since(b, reference))
            clash = _first_overlap(
                list(itertools.islice(iter_occurrences(a, since, since + _YEAR), _SAMPLE)),
                list(itertools.islice(iter_occurrences(b, since, since + _YEAR), _SAMPLE)),
            )
            if clash is not None:
                issues.append(
                    WindowIssue(
                        "window",
                        b.id,
                        f'overlaps window "{a.id}" for the same hosts '
                        f"(at {format_timestamp(clash)})",
                        "warning",
                    )
                )
    return issues


def _since(window: Window, reference: datetime) -> datetime:
    if window.not_before is not None and window.not_before > reference:
        return window.not_before
    return reference


def check_freezes(freezes: Sequence[Freeze]) -> list[WindowIssue]:
    """Semantic checks of freezes: an absolute freeze must end after it starts."""
    issues = [
        WindowIssue(
            "freeze",
            freeze.id,
            f"until {format_timestamp(freeze.until)} is not after "
            f"from {format_timestamp(freeze.from_)}",
        )
        for freeze in freezes
        if freeze.from_ is not None and freeze.until is not None and freeze.until <= freeze.from_
    ]
    return sorted(issues)


def _shortest_wall_gap(
    walls: Sequence[tuple[datetime, Occurrence]],
) -> tuple[timedelta, datetime] | None:
    best: tuple[timedelta, datetime] | None = None
    for (wall_a, a), (wall_b, _) in itertools.pairwise(walls):
        gap = wall_b - wall_a
        if best is None or gap < best[0]:
            best = (gap, a.start)
    return best


def _first_overlap(a: Sequence[Occurrence], b: Sequence[Occurrence]) -> datetime | None:
    i = j = 0
    while i < len(a) and j < len(b):
        x, y = a[i], b[j]
        if x.start < y.end and y.start < x.end:
            return max(x.start, y.start)
        if x.end <= y.end:
            i += 1
        else:
            j += 1
    return None
