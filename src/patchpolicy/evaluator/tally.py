"""Bounded state an evaluator keeps while it judges: the N worst items, and the partial
state one shard of a snapshot hands to the evaluator that merges the shards."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from patchpolicy.model.evaluation import Tally, worst_key
from patchpolicy.model.results import SEVERITY_ORDER, Bucket, HostCheck, Item, Verdict

__all__ = ["AggKey", "PartialState", "Worst"]

AggKey = tuple[str, Verdict, Bucket, tuple[str, ...]]
"""(policy, verdict, bucket, controls): items are counted per key, expanded at the end."""


@dataclass
class PartialState:
    """An unfinished evaluator's state (see Evaluator.export_partial / absorb)."""

    agg: dict[AggKey, int]
    item_runs: list[Path]
    """Sorted runs of items (kept items only), in the merging log's spill directory."""
    item_count: int
    tally: Tally
    checks: list[HostCheck]
    worst: list[tuple[tuple[Any, ...], Item]]
    seen_hosts: set[str]
    plan_runs: list[Path] = field(default_factory=list)
    """Sorted runs of the planner's first pass (``planner.hosts``), when planning."""
    plan_count: int = 0
    plan_problems: set[str] = field(default_factory=set)


class Worst:
    """Keeps the N worst non-passing items without holding all of them.

    Candidates are appended and pruned to N by sorting whenever 4N accumulate: amortised
    O(log N) per item with no per-item heap objects.
    """

    def __init__(self, n: int) -> None:
        self.n = max(0, n)
        self.entries: list[tuple[tuple[Any, ...], Item]] = []
        self.threshold: tuple[Any, ...] | None = None
        """Key of the N-th worst item kept so far (after a prune)."""

    def would_keep(
        self, rank: int, days: int, no_kev: bool, severity: str, policy: str, host: str,
        finding: str,
    ) -> bool:
        """False when an item with these key parts cannot be among the N worst.

        Compares the cheap leading parts first; builds the full key only on a tie.
        Keep in step with :func:`patchpolicy.model.evaluation.worst_key`.
        """
        t = self.threshold
        if t is None:
            return True
        if rank != t[0]:
            return bool(rank < t[0])
        if days != t[1]:
            return bool(days < t[1])
        key = (rank, days, 1 if no_kev else 0, SEVERITY_ORDER.get(severity, 9), policy, host, finding)
        return key < t

    def add(self, item: Item) -> None:
        if self.n == 0:
            return
        self.entries.append((worst_key(item), item))
        if len(self.entries) >= 4 * self.n + 64:
            self.prune()

    def extend(self, entries: list[tuple[tuple[Any, ...], Item]]) -> None:
        self.entries.extend(entries)
        self.prune()

    def prune(self) -> None:
        self.entries.sort(key=lambda e: e[0])
        del self.entries[self.n :]
        if len(self.entries) == self.n and self.n:
            self.threshold = self.entries[-1][0]

    def result(self) -> list[Item]:
        self.prune()
        return [item for _, item in self.entries]
