"""Policy tests: run PolicyTest documents, diff expected against actual, measure coverage.

``run_tests(paths)`` finds every PolicyTest under the paths, loads each test's bundle
(its ``spec.policies``, or the test file's folder without test and snapshot files), adds
the test's inline fixture exceptions, evaluates each case's snapshot at its as-of time,
plans it when windows or schedule expectations need a plan, and compares. Nothing here
prints: ``format_report`` renders a ``TestRun`` as text.

Coverage (as ``opa test --coverage``), both ways:

* targets no case exercises: a rule is exercised when it is the binding rule or another
  match of some item; a window when the plan schedules a task into it; a freeze when
  it binds an in-scope host and overlaps a case's planning period (as-of to as-of +
  horizon); an exception (from a file, not a test fixture) when it covers or matches an
  item. Targets are every rule, window, freeze and exception of the bundles the tests
  load and of the policy and exception files under the given paths.
* tests without rules: expectations naming a policy, host or finding that does not
  exist. They are test failures as well.

Bad input (an invalid document, an unreadable snapshot) raises ``InputError``; the CLI
exits 2. Failing expectations are results, not errors.

Modules: ``collect`` (the tests, their bundles and snapshots), ``run`` (each case
evaluated and planned), ``compare`` (expected against actual), ``targets`` (coverage
targets and what a case exercised), ``results`` (the outcome types), ``report`` (text).
"""

from patchpolicy.review.testing.report import format_report
from patchpolicy.review.testing.results import (
    CaseResult,
    Coverage,
    Failure,
    Target,
    TargetKind,
    TestRun,
)
from patchpolicy.review.testing.run import run_tests

__all__ = [
    "CaseResult",
    "Coverage",
    "Failure",
    "Target",
    "TargetKind",
    "TestRun",
    "format_report",
    "run_tests",
]
