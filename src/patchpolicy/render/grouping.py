"""Bounded views of a stream of items: the worst N, and groups of items that share a key.

Renderers whose consumers cannot take one entry per item (OSCAL, POA&M, JUnit, the HTML
and Markdown reports) read ``Evaluation.items`` through these views (``Groups``,
``ReportRows``), all in one shared pass (:mod:`patchpolicy.render.views`). Memory is
bounded by the number of groups and the sample size, never by the number of items, and
every group says how many items and hosts it stands for, so nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from patchpolicy.model.evaluation import Evaluation, worst_key
from patchpolicy.model.results import OPEN_VERDICTS, Bucket, HostCheck, Item
from patchpolicy.render._common import AGE_BINS, VALUE, AgeBin, age_bin, age_bins
from patchpolicy.render.views import Collector, View, view

T = TypeVar("T")


class TopN(Generic[T]):
    """The ``n`` smallest of what is added, by rank, and how many were added.

    Each value comes with its rank (computed once, by the caller: ``render.views`` gives
    every item its ``worst_key``); at most ``2n`` values are held between compactions,
    and once ``n`` are held a value ranked after the ``n``-th is not kept at all. Ranks
    must be a total order (``worst_key`` ends with the item's ids)."""

    def __init__(self, n: int) -> None:
        self.n = max(n, 0)
        self.total = 0
        self._kept: list[tuple[Any, T]] = []
        self._sorted = True
        self._bar: Any = None  # the n-th rank after the last compaction

    def add(self, value: T, r: Any) -> None:
        """Add ``value``, whose rank is ``r``."""
        self.total += 1
        if not self.n:
            return
        if self._bar is not None and r >= self._bar:
            return
        self._kept.append((r, value))
        self._sorted = False
        if len(self._kept) >= 2 * self.n:
            self._compact()

    def _compact(self) -> None:
        if not self._sorted:
            self._kept.sort(key=_first)
            del self._kept[self.n:]
            self._sorted = True
            if len(self._kept) == self.n:
                self._bar = self._kept[-1][0]

    def values(self) -> list[T]:
        """The kept values, smallest rank first."""
        self._compact()
        return [v for _, v in self._kept]

    def first(self) -> T:
        """The smallest kept value (there must be one)."""
        self._compact()
        return self._kept[0][1]

    @property
    def left_out(self) -> int:
        """How many values were added but are not kept."""
        return self.total - min(self.total, self.n)


def _first(pair: tuple[Any, Any]) -> Any:
    return pair[0]


@dataclass
class ItemGroup:
    """Items sharing one key: counts of everything, a sample of the worst."""

    key: tuple[str, ...]
    sample: TopN[Item]
    hosts: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    earliest_deadline: datetime | None = None
    _last_host: str | None = None

    @property
    def items(self) -> int:
        return self.sample.total

    @property
    def worst(self) -> Item:
        return self.sample.first()

    def sample_hosts(self) -> list[str]:
        """The distinct hosts of the sampled items, in the sample's (worst first) order."""
        return list(dict.fromkeys(i.host for i in self.sample.values()))

    def add(self, item: Item, rank: tuple[Any, ...]) -> None:
        """One more item of the group; ``rank`` is its ``worst_key``."""
        self.sample.add(item, rank)
        self.verdicts[VALUE[item.verdict]] += 1
        if item.host != self._last_host:
            # Items arrive sorted by (policy, host, finding) and a key holds one policy, so
            # a host's items are contiguous within a group: counting changes counts hosts.
            self.hosts += 1
            self._last_host = item.host
        if item.deadline is not None and (self.earliest_deadline is None
                                          or item.deadline < self.earliest_deadline):
            self.earliest_deadline = item.deadline



def group_checks(checks: Iterable[HostCheck]) -> dict[tuple[str, str, str], list[HostCheck]]:
    """Host checks by (policy, check, verdict), each list in the order given."""
    groups: dict[tuple[str, str, str], list[HostCheck]] = {}
    for c in checks:
        groups.setdefault((c.policy, c.check, c.verdict.value), []).append(c)
    return groups


ItemKey = Callable[[Item], "tuple[str, ...] | None"]


@dataclass(frozen=True)
class Groups(View[list[ItemGroup]]):
    """The items grouped by ``key`` (None: leave the item out), worst group first.

    ``key`` must name the item's policy (the host count relies on items coming in
    ``Evaluation.items`` order, a host's items together) and be a module-level function,
    so that two renderers asking for the same grouping share it. Each group keeps its
    ``sample`` worst items (at least one)."""

    key: ItemKey
    sample: int

    def collector(self) -> Collector[list[ItemGroup]]:
        return _GroupCollector(self.key, max(self.sample, 1))


class _GroupCollector(Collector[list[ItemGroup]]):
    def __init__(self, key: ItemKey, sample: int) -> None:
        self.key, self.sample = key, sample
        self.groups: dict[tuple[str, ...], ItemGroup] = {}

    def add(self, item: Item, rank: tuple[Any, ...]) -> None:
        k = self.key(item)
        if k is None:
            return
        g = self.groups.get(k)
        if g is None:
            g = self.groups[k] = ItemGroup(k, TopN(self.sample))
        g.add(item, rank)

    def result(self) -> list[ItemGroup]:
        # Each item is in one group and worst_key ends with its ids: a total order of groups.
        return sorted(self.groups.values(), key=lambda g: worst_key(g.worst))


def group_items(ev: Evaluation, key: ItemKey, sample: int) -> list[ItemGroup]:
    """The groups of ``ev``'s items by ``key`` (see ``Groups``), from the shared pass."""
    return view(ev, Groups(key, sample))


@dataclass
class ReportView:
    """What report.html and report.md show of the items, read in one pass: the worst
    failing and warning items, per control its worst failing items, the ageing bins,
    each table capped at ``rows`` with the count of what it leaves out."""

    failing: TopN[Item]
    warnings: TopN[Item]
    by_control: dict[tuple[str, str], TopN[Item]]
    ageing: list[AgeBin]


@dataclass(frozen=True)
class ReportRows(View[ReportView]):
    """The report view with tables of ``rows`` rows."""

    rows: int

    def collector(self) -> Collector[ReportView]:
        return _ReportCollector(self.rows)


class _ReportCollector(Collector[ReportView]):
    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.failing: TopN[Item] = TopN(rows)
        self.warnings: TopN[Item] = TopN(rows)
        self.controls: dict[tuple[str, str], TopN[Item]] = {}
        """Per (policy, control) named by a failing item (readers look up the ones they show)."""
        self.bins = [0] * len(AGE_BINS)

    def add(self, item: Item, rank: tuple[Any, ...]) -> None:
        if item.bucket == Bucket.FAIL:
            self.failing.add(item, rank)
            for c in item.controls:
                top = self.controls.get((item.policy, c))
                if top is None:
                    top = self.controls[(item.policy, c)] = TopN(self.rows)
                top.add(item, rank)
        elif item.bucket == Bucket.WARN:
            self.warnings.add(item, rank)
        if item.verdict in OPEN_VERDICTS and item.days_left is not None:
            self.bins[age_bin(item.days_left)] += 1

    def result(self) -> ReportView:
        return ReportView(self.failing, self.warnings, self.controls, age_bins(self.bins))


def report_view(ev: Evaluation, rows: int) -> ReportView:
    """The report view of ``ev`` (one result for the HTML and the Markdown report)."""
    return view(ev, ReportRows(rows))
