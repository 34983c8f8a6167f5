"""Maintenance windows (RFC 5545 recurrences in IANA zones) and change freezes, as pure time.

Every function here is a pure function of its arguments: no I/O, no wall clock, no CEL.
Host selection (``Window.hosts``, ``Freeze.hosts``) and freeze exemptions
(``Freeze.allow``) are decided by the caller (the planner); this package answers "when"
(``recurrence``: occurrences and freeze periods, how they are computed) and "is this
definition sound" (``checks``: the loader's semantic checks). docs/windows.md has the
rules.
"""

from __future__ import annotations

from patchpolicy.windows.checks import WindowIssue, check_freezes, check_windows
from patchpolicy.windows.recurrence import (
    ANCHOR_DATE,
    FrozenInterval,
    Occurrence,
    WindowError,
    blocking_freezes,
    first_occurrence,
    freeze_intervals,
    frozen_intervals,
    iter_occurrences,
    next_windows,
    overlaps,
    resolve_local,
)

__all__ = [
    "ANCHOR_DATE",
    "FrozenInterval",
    "Occurrence",
    "WindowError",
    "WindowIssue",
    "blocking_freezes",
    "check_freezes",
    "check_windows",
    "first_occurrence",
    "freeze_intervals",
    "frozen_intervals",
    "iter_occurrences",
    "next_windows",
    "overlaps",
    "resolve_local",
]
