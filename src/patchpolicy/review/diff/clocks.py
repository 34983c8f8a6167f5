"""Clock-source lists (first present wins): which change starts deadlines later."""

from __future__ import annotations

from collections.abc import Sequence

from patchpolicy.model.policy import ClockSource
from patchpolicy.review.diff.changes import Classification

# (a, b): the clock source b never starts before a. A finding is published before any
# scanner can see it or CISA can list it; nothing is known between the other pairs.
_NOT_EARLIER: frozenset[tuple[ClockSource, ClockSource]] = frozenset(
    {
        (ClockSource.PUBLISHED, ClockSource.FIRST_SEEN),
        (ClockSource.PUBLISHED, ClockSource.KEV_ADDED),
    }
)


def classify_clock(
    old: Sequence[ClockSource], new: Sequence[ClockSource]
) -> tuple[Classification, str] | None:
    """Classify a change of clock-source list (first present wins); None when equal."""
    old, new = list(old), list(new)
    if old == new:
        return None
    names = ", ".join
    if old[0] == new[0]:
        if new[: len(old)] == old:
            added = [s.value for s in new[len(old):]]
            return Classification.WEAKENING, (
                f"adds fallback {names(added)}: findings with none of {names(s.value for s in old)} "
                "were errors (failing) and now get a deadline"
            )
        if old[: len(new)] == new:
            dropped = [s.value for s in old[len(new):]]
            return Classification.STRENGTHENING, (
                f"drops fallback {names(dropped)}: findings with none of "
                f"{names(s.value for s in new)} become errors (failing)"
            )
        return Classification.UNKNOWN, (
            f"fallback sources changed (first stays {old[0].value}): effect depends on which "
            "dates a finding has"
        )
    if (old[0], new[0]) in _NOT_EARLIER:
        return Classification.WEAKENING, (
            f"clock starts at {new[0].value}, never earlier than {old[0].value}: later deadlines"
        )
    if (new[0], old[0]) in _NOT_EARLIER:
        return Classification.STRENGTHENING, (
            f"clock starts at {new[0].value}, never later than {old[0].value}: earlier deadlines"
        )
    return Classification.UNKNOWN, (
        f"first clock source changed from {old[0].value} to {new[0].value}: which is earlier "
        "depends on the finding"
    )
