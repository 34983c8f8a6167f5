"""One policy prepared for the hot path of one evaluation: its rules' clocks, its
exceptions indexed by their equality guards, and the evaluation's one memo.

The memo is per evaluation (a runner lives as long as its evaluation), never on the
long-lived compiled bundle: rule outcomes are keyed on every field any rule of the policy
reads, as the CEL analysis keys them (:func:`patchpolicy.expr.compiler.key_function`), so a
fleet of 10^6 findings costs a few hundred engine evaluations.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from patchpolicy.clock import RuleClock, age_text
from patchpolicy.expr import EvalFailure
from patchpolicy.expr.compiler import key_function
from patchpolicy.expr.guards import equality_guards
from patchpolicy.model.bundle import CompiledException, CompiledPolicy
from patchpolicy.model.fleet import FindingRecord, HostRecord

__all__ = ["Failure", "PolicyRunner"]

_Guards = tuple[tuple[Callable[[Any], Any], frozenset[str]], ...]


class Failure:
    """A memoised evaluation failure (fail closed: never 'no match')."""

    __slots__ = ("message", "rule_index")

    def __init__(self, message: str, rule_index: int | None = None) -> None:
        self.message = message
        self.rule_index = rule_index


class PolicyRunner:
    """A policy prepared for the hot path, with the memos of one evaluation."""

    def __init__(
        self, cp: CompiledPolicy, as_of: datetime, exceptions: list[CompiledException]
    ) -> None:
        self.cp = cp
        self.name = cp.name
        self.as_of = as_of
        self.exceptions = exceptions
        spec = cp.policy.spec
        whens = [r.when for r in cp.rules]
        self.host_key = key_function(whens, "host")
        self.finding_key = key_function(whens, "finding")
        self.memo: dict[Any, tuple[int, ...] | Failure] = {}
        self.scope_memo: dict[Any, bool | Failure] = {}
        self.match_memo: dict[tuple[int, Any], bool | Failure] = {}
        eff = cp.policy.metadata.effective_from
        self.in_effect = eff is None or as_of >= eff
        self.all_controls = tuple(c.id for c in cp.policy.metadata.controls)
        self.rule_controls = [tuple(r.rule.controls) for r in cp.rules]
        self.within_text = [age_text(r.rule.within) for r in cp.rules]
        self.clocks = [
            RuleClock.of(r.rule.clock or spec.clock, r.rule.within, r.rule.cap_by_kev_due_date)
            for r in cp.rules
        ]
        self.due_soon_limit = as_of + spec.due_soon
        self._index_exceptions()

    def _index_exceptions(self) -> None:
        """Index exceptions by the values of their first finding guard (usually
        finding.vuln), so a finding looks up its few candidates instead of testing all."""
        self.exception_plan: list[tuple[CompiledException, _Guards, _Guards]] = []
        index: dict[str, dict[str, list[int]]] = {}
        unguarded: list[int] = []
        for i, exc in enumerate(self.exceptions):
            guards = equality_guards(exc.match.source)
            host_guards = [g for g in guards if g.root == "host"]
            finding_guards = [g for g in guards if g.root == "finding"]
            self.exception_plan.append((
                exc,
                tuple((operator.attrgetter(g.field), g.values) for g in host_guards),
                tuple((operator.attrgetter(g.field), g.values) for g in finding_guards),
            ))
            if not finding_guards:
                unguarded.append(i)
                continue
            table = index.setdefault(finding_guards[0].field, {})
            for value in finding_guards[0].values:
                table.setdefault(value, []).append(i)
        self.unguarded: tuple[int, ...] = tuple(unguarded)
        self.exception_index = [
            (operator.attrgetter(field), {v: tuple(ix) for v, ix in table.items()})
            for field, table in sorted(index.items())
        ]

    def in_scope(self, host: HostRecord) -> bool | Failure:
        """Whether the policy's scope selects ``host`` (True without a scope)."""
        scope = self.cp.scope
        if scope is None:
            return True
        key = scope.key(host, None)
        hit = self.scope_memo.get(key)
        if hit is None:
            try:
                hit = scope.evaluate_uncached(host, None)
            except EvalFailure as e:
                hit = Failure(f"scope: {e}")
            self.scope_memo[key] = hit
        return hit

    def exception_candidates(self, finding: FindingRecord) -> tuple[int, ...]:
        """Plan indices of the exceptions that may match ``finding``, in plan order."""
        found: tuple[int, ...] = self.unguarded
        for get, table in self.exception_index:
            hit = table.get(get(finding))
            if hit:
                found = tuple(sorted({*found, *hit})) if found else hit
        return found

    def exception_matches(self, i: int, host: HostRecord, finding: FindingRecord) -> bool | Failure:
        """Whether plan exception ``i`` matches; memoised on what its match reads."""
        exc = self.exception_plan[i][0]
        key = (i, exc.match.key(host, finding))
        hit = self.match_memo.get(key)
        if hit is None:
            try:
                hit = exc.match.evaluate_uncached(host, finding)
            except EvalFailure as e:
                hit = Failure(f'exception "{exc.id}": match: {e}')
            self.match_memo[key] = hit
        return hit

    def rule_outcome(self, hkey: Any, host: HostRecord, finding: FindingRecord) -> tuple[int, ...] | Failure:
        """Indices of matching rules, or a Failure; memoised on what the rules read."""
        key = (hkey, self.finding_key(None, finding))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        matched: list[int] = []
        outcome: tuple[int, ...] | Failure
        i = 0
        try:
            for i, r in enumerate(self.cp.rules):
                if r.when.evaluate_uncached(host, finding):
                    matched.append(i)
            outcome = tuple(matched)
        except EvalFailure as e:
            outcome = Failure(f'rule "{self.cp.rules[i].rule.id}": when: {e}', i)
        self.memo[key] = outcome
        return outcome
