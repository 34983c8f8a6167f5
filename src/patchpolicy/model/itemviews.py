"""Views of the items: bounded summaries (groups with counts and a sample, the worst N,
host counts) that readers of an evaluation's items ask for, collected while the items are
judged, in whichever process judges them, or afterwards in one pass over items.jsonl.

A ``View`` is a hashable spec (a frozen dataclass: equal specs share one result); its
``Collector`` takes items with their rank (``worst_key``), and merges with the collector
of another process that judged other hosts. A collector's result must not depend on the
order its items came in beyond this: every item of one host and one policy comes
together (the evaluator judges a host at a time; items.jsonl is sorted by policy, host,
finding), and no host comes in two collectors. Then the result is the same whether the
view was collected while judging, in one process or many, or read from items.jsonl.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from patchpolicy.model.results import Item

__all__ = ["Collector", "View"]

R = TypeVar("R")


class Collector(ABC, Generic[R]):
    """Takes items, merges with its twin over other hosts, then gives the view's result."""

    @abstractmethod
    def add(self, item: Item, rank: tuple[Any, ...]) -> None:
        """One item and its ``worst_key``."""

    @abstractmethod
    def merge(self, other: Collector[R]) -> None:
        """Fold in ``other``: the same view's collector over other hosts."""

    @abstractmethod
    def result(self) -> R:
        """The view, once every item was added."""


class View(ABC, Generic[R]):
    """What one reader of the items reads of them."""

    @abstractmethod
    def collector(self) -> Collector[R]:
        """A fresh, empty collector of this view."""
