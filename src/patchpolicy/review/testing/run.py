"""Running policy tests: each case's snapshot evaluated at its as-of, planned when
windows or schedule expectations need a plan, compared, and its coverage marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from patchpolicy.errors import PatchPolicyError
from patchpolicy.evaluator import evaluate
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.plan import Task
from patchpolicy.model.policytest import TestCase
from patchpolicy.planner import plan
from patchpolicy.review.testing.collect import BundleCache, PolicyTestFile, case_hosts, collect
from patchpolicy.review.testing.compare import Actual, compare
from patchpolicy.review.testing.results import CaseResult, Coverage, Failure, TestRun
from patchpolicy.review.testing.targets import bundle_targets, mark


def run_tests(paths: Sequence[str | Path]) -> TestRun:
    """Run every PolicyTest under ``paths`` (files or directories); see the package doc.

    Raises ``InputError`` (``ValidationError``, ``SnapshotError``) on bad input.
    """
    collected = collect(paths)
    bundles = BundleCache(collected.not_policy)
    cov = collected.coverage
    results: list[CaseResult] = []
    for t in collected.tests:
        bundle, fixtures = bundles.bundle(t)
        bundle_targets(cov, bundle, fixtures)
        for ci, case in enumerate(t.test.spec.cases):
            results.append(_run_case(t, ci, case, bundle, fixtures, cov))
    return TestRun(results, cov, len({t.path for t in collected.tests}))


def _run_case(
    t: PolicyTestFile, ci: int, case: TestCase, bundle: Bundle, fixtures: frozenset[str], cov: Coverage
) -> CaseResult:
    """One case: its snapshot evaluated (and planned when needed), coverage marked, every
    expectation compared."""
    snap = case.snapshot if case.snapshot is not None else t.test.spec.snapshot
    assert snap is not None  # the model guarantees one
    taken_at, hosts = case_hosts(t, snap)
    as_of = case.as_of if case.as_of is not None else taken_at
    ev = evaluate(bundle, hosts, as_of=as_of, taken_at=taken_at)
    has_windows = any(cp.windows for cp in bundle.policies)
    tasks: dict[tuple[str, str], Task] = {}
    plan_error: str | None = None
    if has_windows or any(e.schedules for e in case.expect):
        try:
            p = plan(bundle, ev, hosts, as_of=as_of, horizon=case.horizon)
        except PatchPolicyError as e:
            plan_error = str(e)
        else:
            for task in p.tasks:
                for f in task.findings:
                    tasks[(task.host, f.id)] = task
    actual = Actual(
        ev,
        {h.id: h for h in hosts},
        {(i.policy, i.host, i.finding): i for i in ev.items},
        {(c.policy, c.host, c.check): c for c in ev.checks},
        tasks,
        plan_error,
    )
    mark(cov, bundle, fixtures, actual, as_of, case.horizon)
    failures: list[Failure] = []
    for ei, exp in enumerate(case.expect):
        where = t.doc.where(("spec", "cases", ci, "expect", ei))
        failures.extend(compare(exp, where, bundle, actual))
    return CaseResult(
        t.test.metadata.name, case.name, t.doc.where(("spec", "cases", ci)),
        len(case.expect), tuple(failures),
    )
