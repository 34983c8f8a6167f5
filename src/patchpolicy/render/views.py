"""The renderers' views of the items, computed at most once per evaluation.

JUnit, the OSCAL assessment results and POA&M, SARIF's host counts and the HTML and
Markdown reports each summarise ``Evaluation.items`` (10^6 lines and more at fleet scale)
as a bounded ``View`` (:mod:`patchpolicy.model.itemviews`). ``evaluate_files(views=...)``
collects them while the hosts are judged (in every worker process); whatever was not
collected then, ``collect`` computes in one pass over the items for all the views asked
for. Results are kept in ``Evaluation.views``; ``view`` returns one, computing it alone
when nobody asked before (a renderer called on its own). A view's result depends only on
the items and the spec, so every file has the same bytes however its views were made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from patchpolicy.model.evaluation import Evaluation, worst_key
from patchpolicy.model.itemviews import Collector, View

__all__ = ["Collector", "View", "collect", "view"]

R = TypeVar("R")


def collect(ev: Evaluation, views: Iterable[View[Any]]) -> None:
    """Compute every view of ``views`` not yet in ``ev.views`` in one pass over the items."""
    kept = ev.views
    todo = [v for v in dict.fromkeys(views) if v not in kept]
    if not todo:
        return
    collectors = [v.collector() for v in todo]
    adds = [c.add for c in collectors]
    if len(adds) == 1:
        add = adds[0]
        for item in ev.items:
            add(item, worst_key(item))
    else:
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
