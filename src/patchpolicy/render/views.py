"""The renderers' views of the items, computed in one pass per evaluation.

JUnit, the OSCAL assessment results and POA&M, SARIF's host counts and the HTML and
Markdown reports each summarise ``Evaluation.items`` (10^6 lines and more at fleet scale)
as a bounded view: groups with counts and a sample, the worst N, host counts. Each
declares what it reads (``Renderer.views``) as a ``View``: a hashable spec (a frozen
dataclass: equal specs share one result) whose ``Collector`` takes every item, in
``items.jsonl`` order, with its rank (``worst_key``, computed once per item).

``collect(ev, views)`` reads the items once for all the views asked for and keeps their
results in ``Evaluation.views``; ``view(ev, v)`` returns a kept result, or reads the items
for that one view (a renderer called on its own). A view's result depends only on the
items and the spec, never on which other views shared the pass, so every file has the
same bytes however the pass was shared.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from patchpolicy.model.evaluation import Evaluation, worst_key
from patchpolicy.model.results import Item

__all__ = ["Collector", "View", "collect", "view"]

R = TypeVar("R")


class Collector(ABC, Generic[R]):
    """Takes every item of one evaluation, in order, then gives the view's result."""

    @abstractmethod
    def add(self, item: Item, rank: tuple[Any, ...]) -> None:
        """One item and its ``worst_key``."""

    @abstractmethod
    def result(self) -> R:
        """The view, once every item was added."""


class View(ABC, Generic[R]):
    """What one renderer reads of the items."""

    @abstractmethod
    def collector(self) -> Collector[R]:
        """A fresh, empty collector of this view."""


def collect(ev: Evaluation, views: Iterable[View[Any]]) -> None:
    """Compute every view of ``views`` not yet in ``ev.views`` in one pass over the items."""
    kept = ev.views
    todo = [v for v in dict.fromkeys(views) if v not in kept]
    if not todo:
        return
    collectors = [v.collector() for v in todo]
    adds = [c.add for c in collectors]
    for item in ev.items:
        rank = worst_key(item)
        for add in adds:
            add(item, rank)
    for v, c in zip(todo, collectors, strict=True):
        kept[v] = c.result()


def view(ev: Evaluation, v: View[R]) -> R:
    """The result of ``v`` over ``ev``'s items (computed now when not kept)."""
    if v not in ev.views:
        collect(ev, [v])
    result: R = ev.views[v]
    return result
