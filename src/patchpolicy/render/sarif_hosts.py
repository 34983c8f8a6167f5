"""SARIF's first pass over the items: how many hosts each (rule, vulnerability) hits, so
that the second pass knows which keys are summarised as one grouped result.

The view needs no gate: the gate's levels (``level``: whatever fails the run is an
error), which split a key, are applied to the counts afterwards (``render.sarif``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patchpolicy.model.gate import GateResult
from patchpolicy.model.results import Bucket, Item, Verdict
from patchpolicy.render._common import VALUE
from patchpolicy.render.views import Collector, View

__all__ = ["LEVEL", "HostCounts", "level"]

# Waived: ``note`` with a suppression, so that neither GitHub nor sarif-tools (whose summary
# ignores suppressions) counts an accepted exception as an error; the gate still decides.
LEVEL = {Bucket.FAIL: "error", Bucket.WARN: "warning", Bucket.WAIVED: "note", Bucket.PASS: "none"}


def level(gate: GateResult, policy: str, verdict: Any, bucket: Bucket) -> str:
    """The SARIF level agrees with the gate: whatever fails the run is an error."""
    return "error" if gate.fails(policy, verdict, bucket) else LEVEL[bucket]


_Hosts = dict[tuple[Any, ...], int]
"""Hosts per (rule, vulnerability, bucket, policy, the verdicts the host has there)."""


@dataclass(frozen=True)
class HostCounts(View[_Hosts]):
    """Pass 1 (in the bundle's shared pass, render.views): for each
    (rule, vulnerability, bucket) of the items that do not pass and are not waived, how
    many hosts have which set of verdicts there. The gate's levels (which split a key)
    are applied afterwards (``_big_keys``), so the view needs no gate."""

    def collector(self) -> Collector[_Hosts]:
        return _HostCounter()


class _HostCounter(Collector[_Hosts]):
    """Every item of one host and policy comes together, and a key names one policy, so a
    key's host changes when its host is done: its verdict set is counted then."""

    def __init__(self) -> None:
        self.counts: _Hosts = {}
        self.pending: dict[tuple[str, ...], tuple[str, set[Verdict]]] = {}
        """Per key, the host being read and its verdicts so far."""

    def add(self, item: Item, rank: tuple[Any, ...]) -> None:
        if item.bucket == Bucket.PASS or item.bucket == Bucket.WAIVED:
            return
        rule = f"{item.policy}#error" if item.verdict == Verdict.ERROR or item.binding_rule is None \
            else f"{item.policy}/{item.binding_rule}"
        k = (rule, item.vuln, VALUE[item.bucket], item.policy)
        now = self.pending.get(k)
        if now is not None and now[0] == item.host:
            now[1].add(item.verdict)
            return
        if now is not None:
            self._count(k, now[1])
        self.pending[k] = (item.host, {item.verdict})

    def _count(self, k: tuple[str, ...], verdicts: set[Verdict]) -> None:
        key = (*k, tuple(sorted(verdicts)))
        self.counts[key] = self.counts.get(key, 0) + 1

    def _flush(self) -> None:
        for k, (_, verdicts) in self.pending.items():
            self._count(k, verdicts)
        self.pending.clear()

    def result(self) -> _Hosts:
        self._flush()
        return self.counts
