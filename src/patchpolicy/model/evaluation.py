"""The result of one evaluation, as a model: counts, items, host checks, exceptions,
controls, policies and the worst items, frozen once the evaluator finishes.

Renderers and the CLI read this, never the evaluator. ``Tally`` is filled by the
evaluator while it judges and must be treated as read-only afterwards.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from patchpolicy.errors import Location
from patchpolicy.itemlog import ItemStream
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.model.results import (
    SEVERITY_ORDER,
    VERDICT_ORDER,
    ControlReport,
    ExceptionReport,
    HostCheck,
    Item,
    PolicyInfo,
    RunInputs,
)

if TYPE_CHECKING:
    from patchpolicy.model.gate import GateResult
    from patchpolicy.model.plan import Remediation

__all__ = ["FAILING_REFS_KEPT", "Evaluation", "EvaluationRun", "PolicySource", "Tally", "worst_key"]

FAILING_REFS_KEPT = 100
"""Per control, how many failing item references the evidence names (the count is exact)."""


@dataclass
class Tally:
    """Counts that never drop anything: what was read, what was judged, by verdict."""

    hosts_read: int = 0
    findings_read: int = 0
    items: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_bucket: Counter[str] = field(default_factory=Counter)
    by_policy: dict[str, Counter[str]] = field(default_factory=dict)
    hosts_in_scope: Counter[str] = field(default_factory=Counter)
    checks_by_verdict: Counter[str] = field(default_factory=Counter)
    checks_by_bucket: Counter[str] = field(default_factory=Counter)
    control_counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    control_failing: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    control_failing_total: Counter[tuple[str, str]] = field(default_factory=Counter)
    exception_hits: Counter[str] = field(default_factory=Counter)
    exception_matched: Counter[str] = field(default_factory=Counter)
    exception_errors: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        """Add the counts of a tally that judged LATER hosts of the same snapshot.

        Before ``finish``, item counts live in the evaluator's aggregate, so only the
        per-host and per-check counts are merged here; failing references keep file order.
        """
        self.hosts_read += other.hosts_read
        self.findings_read += other.findings_read
        self.hosts_in_scope.update(other.hosts_in_scope)
        self.checks_by_verdict.update(other.checks_by_verdict)
        self.checks_by_bucket.update(other.checks_by_bucket)
        for key, counts in other.control_counts.items():
            self.control_counts.setdefault(key, Counter()).update(counts)
        self.control_failing_total.update(other.control_failing_total)
        for key, refs in other.control_failing.items():
            kept = self.control_failing.setdefault(key, [])
            kept.extend(refs[: max(0, FAILING_REFS_KEPT - len(kept))])
        self.exception_hits.update(other.exception_hits)
        self.exception_matched.update(other.exception_matched)
        for exc_id, message in other.exception_errors.items():
            self.exception_errors.setdefault(exc_id, message)


@dataclass(frozen=True)
class PolicySource:
    """What a renderer may know of a policy beyond ``PolicyInfo``: its document as read
    and validated, and where it and each of its rules are defined. Renderers read this,
    never the compiled bundle (its CEL programs and memos are the evaluator's)."""

    name: str
    version: str
    document: PatchPolicy
    where: Location
    rule_where: dict[str, Location]
    """Rule id -> where the rule is defined."""

    @classmethod
    def of(cls, bundle: Bundle) -> list[PolicySource]:
        return [
            cls(cp.name, cp.version, cp.policy, cp.where, {r.rule.id: r.where for r in cp.rules})
            for cp in bundle.policies
        ]


@dataclass(frozen=True)
class Evaluation:
    """The result of one evaluation; `items` is empty when items were not kept.

    ``bundle`` is for the library caller that goes on to plan (``planner``); renderers
    read ``sources`` instead."""

    bundle: Bundle
    as_of: datetime
    snapshot_taken_at: datetime
    tally: Tally
    items: ItemStream
    """Every item, sorted by (policy, host, finding); empty when items were not kept.
    Iterate it (each pass may read a file): it need not fit in memory."""
    checks: list[HostCheck]
    exceptions: list[ExceptionReport]
    controls: list[ControlReport]
    policies: list[PolicyInfo]
    worst: list[Item]
    sources: list[PolicySource] = field(default_factory=list)
    """Per policy (bundle order), its document and source locations, for renderers."""
    remediation: Remediation | None = None
    """The planner's first pass, made while the hosts were judged, when it was asked for
    (``evaluate_files(plan_horizon=...)``; ``planner.stream_plan`` makes the tasks)."""
    views: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)
    """What renderers read of the items, by spec (``render.views``), once computed. Not an
    argument: ``dataclasses.replace`` (with other items, say) starts with none."""

    def source(self, policy: str) -> PolicySource:
        """The ``PolicySource`` of the policy named ``policy`` (KeyError if none)."""
        for s in self.sources:
            if s.name == policy:
                return s
        raise KeyError(policy)

    def gate(
        self, fail_on: frozenset[str] | tuple[str, ...] = (), *, allow_empty_scope: bool = False
    ) -> GateResult:
        """The gate's verdict on this evaluation (see :mod:`patchpolicy.model.gate`).

        A run computes it once and hands the one result to every renderer and the exit code.
        """
        from patchpolicy.model.gate import Gate

        return Gate.of(fail_on, allow_empty_scope=allow_empty_scope).judge(self)


def worst_key(item: Item) -> tuple[Any, ...]:
    """Worst first: verdict, most days overdue, KEV, severity, then ids.

    Keep in step with evaluator.tally.Worst.would_keep, which compares these parts lazily.
    """
    return (
        VERDICT_ORDER[item.verdict],
        item.days_left if item.days_left is not None else -(10**9),
        0 if item.kev else 1,
        SEVERITY_ORDER.get(item.severity, 9),
        item.policy,
        item.host,
        item.finding,
    )


@dataclass(frozen=True, slots=True)
class EvaluationRun:
    """What :func:`patchpolicy.evaluate_files` returns: the evaluation and what it read."""

    evaluation: Evaluation
    """The result: items, host checks, exceptions, controls, the tally."""
    inputs: RunInputs
    """The policy files and the snapshot evaluated, with their digests, and the tool's
    version: what an auditor needs to re-check the evidence."""
