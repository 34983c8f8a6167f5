"""Impact of a policy change on a fleet: evaluate the old and the new bundle on the same
snapshot at the same as-of time and list every item and host check whose verdict or
deadline differs, each with one direction.

Directions, first that applies (an item one side does not judge, e.g. out of scope, is
not failing and has no deadline; no deadline counts as an infinitely late one):

* ``now_failing``: in the fail bucket only under the new bundle;
* ``no_longer_failing``: in the fail bucket only under the old bundle;
* ``deadline_earlier`` / ``deadline_later``: the binding deadline moved;
* ``verdict_changed``: anything else (e.g. ``open`` -> ``due_soon``, -> ``excepted``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from patchpolicy.evaluator import Evaluation, evaluate
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.results import Bucket, HostCheck, Item
from patchpolicy.snapshot import open_snapshot

__all__ = ["Direction", "Impact", "ImpactEntry", "compare_evaluations", "impact"]


class Direction(StrEnum):
    NOW_FAILING = "now_failing"
    NO_LONGER_FAILING = "no_longer_failing"
    DEADLINE_EARLIER = "deadline_earlier"
    DEADLINE_LATER = "deadline_later"
    VERDICT_CHANGED = "verdict_changed"


DIRECTION_ORDER = {d: i for i, d in enumerate(Direction)}


@dataclass(frozen=True)
class _State:
    verdict: str
    failing: bool
    deadline: datetime | None
    rule: str | None


@dataclass(frozen=True)
class ImpactEntry:
    """One item (``finding`` set) or host check (``check`` set) that changed."""

    direction: Direction
    policy: str
    host: str
    finding: str | None
    check: str | None
    old_verdict: str | None
    new_verdict: str | None
    old_deadline: datetime | None
    new_deadline: datetime | None
    old_rule: str | None
    new_rule: str | None

    @property
    def subject(self) -> str:
        return self.finding if self.finding is not None else f"#{self.check}"

    def sort_key(self) -> tuple[int, str, str, str]:
        return (DIRECTION_ORDER[self.direction], self.policy, self.host, self.subject)


@dataclass(frozen=True)
class Impact:
    """Every change of verdict or deadline between two evaluations of one snapshot."""

    snapshot: str
    as_of: datetime
    entries: tuple[ImpactEntry, ...]
    old_items: int
    new_items: int

    @property
    def counts(self) -> dict[Direction, int]:
        """Entries per direction, every direction present (zero when none), in order."""
        tally = Counter(e.direction for e in self.entries)
        return {d: tally.get(d, 0) for d in Direction}


def _item_states(items: Iterable[Item]) -> dict[tuple[str, str, str, str], _State]:
    return {
        (i.policy, i.host, "item", i.finding): _State(
            i.verdict.value, i.bucket == Bucket.FAIL, i.deadline, i.binding_rule
        )
        for i in items
    }


def _check_states(checks: Iterable[HostCheck]) -> dict[tuple[str, str, str, str], _State]:
    return {
        (c.policy, c.host, "check", c.check): _State(
            c.verdict.value, c.bucket == Bucket.FAIL, None, None
        )
        for c in checks
    }


def _direction(old: _State | None, new: _State | None) -> Direction | None:
    old_fail = old is not None and old.failing
    new_fail = new is not None and new.failing
    if new_fail and not old_fail:
        return Direction.NOW_FAILING
    if old_fail and not new_fail:
        return Direction.NO_LONGER_FAILING
    old_deadline = old.deadline if old is not None else None
    new_deadline = new.deadline if new is not None else None
    if old_deadline != new_deadline:
        if old_deadline is None:
            return Direction.DEADLINE_EARLIER
        if new_deadline is None or new_deadline > old_deadline:
            return Direction.DEADLINE_LATER
        return Direction.DEADLINE_EARLIER
    old_verdict = old.verdict if old is not None else None
    new_verdict = new.verdict if new is not None else None
    if old_verdict != new_verdict:
        return Direction.VERDICT_CHANGED
    return None


def compare_evaluations(old: Evaluation, new: Evaluation, snapshot: str) -> Impact:
    """The entries whose verdict or deadline differs, sorted by direction then id."""
    before = _item_states(old.items) | _check_states(old.checks)
    after = _item_states(new.items) | _check_states(new.checks)
    entries = []
    for key in sorted(before.keys() | after.keys()):
        a, b = before.get(key), after.get(key)
        direction = _direction(a, b)
        if direction is None:
            continue
        policy, host, what, ident = key
        entries.append(
            ImpactEntry(
                direction=direction,
                policy=policy,
                host=host,
                finding=ident if what == "item" else None,
                check=ident if what == "check" else None,
                old_verdict=a.verdict if a else None,
                new_verdict=b.verdict if b else None,
                old_deadline=a.deadline if a else None,
                new_deadline=b.deadline if b else None,
                old_rule=a.rule if a else None,
                new_rule=b.rule if b else None,
            )
        )
    entries.sort(key=ImpactEntry.sort_key)
    return Impact(snapshot, new.as_of, tuple(entries), len(old.items), len(new.items))


def impact(
    old: Bundle, new: Bundle, snapshot: Path, *, as_of: datetime | None = None,
    label: str | None = None,
) -> Impact:
    """Evaluate both bundles on ``snapshot`` at ``as_of`` (default: its taken_at).

    The snapshot is opened once (so ``-``, standard input, works) and its hosts read once
    per bundle (streamed, so JSON Lines fleets stay in bounded memory per host); raises
    SnapshotError when it cannot be decoded.
    """
    runs = []
    snap = open_snapshot(snapshot)
    for bundle in (old, new):
        when = as_of if as_of is not None else snap.header.taken_at
        runs.append(
            evaluate(bundle, snap.hosts(), as_of=when, taken_at=snap.header.taken_at)
        )
    return compare_evaluations(runs[0], runs[1], label if label is not None else str(snapshot))
