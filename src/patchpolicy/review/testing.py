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
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from patchpolicy.errors import (
    Diagnostic,
    ExprError,
    InputError,
    Location,
    PatchPolicyError,
    SnapshotError,
    ValidationError,
)
from patchpolicy.evaluator import Evaluation, evaluate
from patchpolicy.expr import CompiledExpression, EvalFailure, compile_expression
from patchpolicy.loader import (
    HOST_FINDING,
    SourceDocument,
    discover,
    discover_checked,
    expression_location,
    load_bundle,
    read_documents,
    validate_document,
)
from patchpolicy.model.bundle import Bundle, CompiledException, CompiledPolicy
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.fleet import FleetSnapshot, HostRecord, SnapshotDocument
from patchpolicy.model.plan import Task
from patchpolicy.model.policy import Freeze, PatchPolicy, Rule, Window
from patchpolicy.model.policytest import Expectation, PolicyTest, TestCase
from patchpolicy.model.results import HostCheck, Item
from patchpolicy.planner import plan
from patchpolicy.windows import freeze_intervals

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

TargetKind = str
"""``rule``, ``window``, ``freeze`` or ``exception``."""
TARGET_KINDS: tuple[TargetKind, ...] = ("rule", "window", "freeze", "exception")
_NOT_POLICY = frozenset({"PolicyTest", "FleetSnapshot"})


@dataclass(frozen=True)
class Failure:
    """One expectation that does not hold (or a case that could not be judged)."""

    where: Location
    message: str
    unknown_target: bool = False
    """True when the expectation names a policy, host or finding that does not exist."""

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case of one PolicyTest."""

    test: str
    case: str
    where: Location
    expectations: int
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class Target:
    """Something a test should exercise: a rule, window, freeze or exception."""

    kind: TargetKind
    policy: str | None
    id: str
    where: Location
    label: str = ""

    def __str__(self) -> str:
        owner = f'policy "{self.policy}": ' if self.policy else self.label
        return f'{self.where}: {owner}{self.kind} "{self.id}"'


_Key = tuple[str, str, str, str]
"""(kind, resolved file, policy name or "", id)."""


@dataclass
class Coverage:
    """Every target found and the keys of those some case exercised."""

    targets: dict[_Key, Target] = field(default_factory=dict)
    exercised: set[_Key] = field(default_factory=set)

    def add(self, key: _Key, target: Target) -> None:
        self.targets.setdefault(key, target)

    def counts(self, kind: TargetKind | None = None) -> tuple[int, int]:
        """(exercised, total) over one kind of target, or all of them."""
        keys = [k for k in self.targets if kind is None or k[0] == kind]
        return sum(1 for k in keys if k in self.exercised), len(keys)

    @property
    def percent(self) -> float:
        """Exercised targets in percent; 100 when there is nothing to exercise."""
        done, total = self.counts()
        return 100.0 if total == 0 else 100.0 * done / total

    def missing(self) -> list[Target]:
        """Targets no case exercised, sorted by place."""
        return sorted(
            (t for k, t in self.targets.items() if k not in self.exercised),
            key=lambda t: (t.where, t.kind, t.id),
        )


@dataclass
class TestRun:
    """Every case result, in file and case order, and the coverage of all of them."""

    __test__ = False  # not a pytest class

    cases: list[CaseResult]
    coverage: Coverage
    files: int

    @property
    def failed(self) -> list[CaseResult]:
        return [c for c in self.cases if not c.passed]

    @property
    def unknown_targets(self) -> list[Failure]:
        """Expectations naming a policy, host or finding that does not exist."""
        return [f for c in self.cases for f in c.failures if f.unknown_target]

    def below(self, min_coverage: float | None) -> bool:
        return min_coverage is not None and self.coverage.percent + 1e-9 < min_coverage

    def exit_code(self, min_coverage: float | None = None) -> int:
        """0 when every case passes (and coverage reaches ``min_coverage``), else 1."""
        return 1 if self.failed or self.below(min_coverage) else 0


# ---------------------------------------------------------------- discovery


@dataclass(frozen=True)
class _TestFile:
    path: Path
    doc: SourceDocument
    test: PolicyTest


@dataclass
class _Collected:
    tests: list[_TestFile] = field(default_factory=list)
    not_policy: set[Path] = field(default_factory=set)
    """Files holding only tests and snapshots: never part of a test's bundle."""
    coverage: Coverage = field(default_factory=Coverage)


def _resolved(path: str | Path) -> str:
    return str(Path(path).resolve())


def _collect(paths: Sequence[str | Path]) -> _Collected:
    files, problems = discover_checked(paths)
    if not files and not problems:
        raise InputError(f"{', '.join(str(p) for p in paths)}: no test files found")
    out = _Collected()
    diags: list[Diagnostic] = list(problems)
    for f in files:
        if not f.exists():
            diags.append(Diagnostic(Location(str(f)), "no such file or directory"))
            continue
        docs, errs = read_documents(f)
        diags.extend(errs)
        if docs and all(d.kind in _NOT_POLICY for d in docs):
            out.not_policy.add(f.resolve())
        for doc in docs:
            if doc.kind not in ("PolicyTest", "PatchPolicy", "ExceptionSet"):
                continue
            model, errs = validate_document(doc)
            diags.extend(errs)
            if isinstance(model, PolicyTest):
                out.tests.append(_TestFile(f, doc, model))
            elif isinstance(model, PatchPolicy):
                _policy_targets(out.coverage, doc, model)
            elif isinstance(model, ExceptionSet):
                for i, e in enumerate(model.exceptions):
                    out.coverage.add(
                        ("exception", _resolved(doc.path), "", e.id),
                        Target("exception", None, e.id, doc.where(("exceptions", i)),
                               f'exception set "{model.metadata.name}": '),
                    )
    if any(d.severity == "error" for d in diags):
        raise ValidationError([d for d in diags if d.severity == "error"])
    if not out.tests:
        raise InputError(f"{', '.join(str(p) for p in paths)}: no PolicyTest documents found")
    for t in out.tests:
        for snap in [t.test.spec.snapshot, *(c.snapshot for c in t.test.spec.cases)]:
            if isinstance(snap, str):
                out.not_policy.add((t.path.parent / snap).resolve())
    return out


def _policy_targets(cov: Coverage, doc: SourceDocument, p: PatchPolicy) -> None:
    name, file = p.metadata.name, _resolved(doc.path)
    groups = (("rule", "rules", p.spec.rules), ("window", "windows", p.spec.windows),
              ("freeze", "freezes", p.spec.freezes))
    for kind, key, entries in groups:
        for i, entry in enumerate(entries):
            assert isinstance(entry, Rule | Window | Freeze)
            cov.add((kind, file, name, entry.id),
                    Target(kind, name, entry.id, doc.where(("spec", key, i))))


def _bundle_targets(cov: Coverage, bundle: Bundle, fixtures: frozenset[str]) -> None:
    """Register the bundle's rules, windows, freezes and file exceptions (not fixtures)."""
    for cp in bundle.policies:
        file = _resolved(cp.where.file)
        for r in cp.rules:
            cov.add(("rule", file, cp.name, r.rule.id), Target("rule", cp.name, r.rule.id, r.where))
        for w in cp.windows:
            cov.add(("window", file, cp.name, w.window.id),
                    Target("window", cp.name, w.window.id, w.where))
        for fz in cp.freezes:
            cov.add(("freeze", file, cp.name, fz.freeze.id),
                    Target("freeze", cp.name, fz.freeze.id, fz.where))
    for e in bundle.exceptions:
        if e.id in fixtures:
            continue
        cov.add(("exception", _resolved(e.where.file), "", e.id),
                Target("exception", None, e.id, e.where,
                       f'exception set "{e.exception_set.metadata.name}": '))


# ---------------------------------------------------------------- bundles


class _Bundles:
    """Loads each distinct file set once; adds a test's fixture exceptions."""

    def __init__(self, not_policy: set[Path]) -> None:
        self.not_policy = not_policy
        self.cache: dict[tuple[str, ...], Bundle] = {}

    def files(self, t: _TestFile) -> list[Path]:
        base = t.path.parent
        roots = (
            [Path(os.path.normpath(base / p)) for p in t.test.spec.policies]
            if t.test.spec.policies is not None else [base]
        )
        out: list[Path] = []
        for root in roots:
            if root.is_dir():
                out.extend(f for f in discover([root]) if f.resolve() not in self.not_policy)
            else:
                out.append(root)  # named explicitly: taken as given (the loader reports a missing file)
        if not out:
            raise InputError(
                f'{t.doc.where()}: test "{t.test.metadata.name}": no policy files in '
                + ", ".join(str(r) for r in roots)
            )
        return out

    def bundle(self, t: _TestFile) -> tuple[Bundle, frozenset[str]]:
        """The test's bundle and the ids of its fixture exceptions."""
        files = self.files(t)
        key = tuple(sorted({_resolved(f) for f in files}))
        bundle = self.cache.get(key)
        if bundle is None:
            bundle = self.cache[key] = load_bundle(files)
        fixtures = _fixture_exceptions(t, bundle)
        if not fixtures:
            return bundle, frozenset()
        merged = tuple(sorted((*bundle.exceptions, *fixtures), key=lambda e: e.id))
        return dataclasses.replace(bundle, exceptions=merged), frozenset(e.id for e in fixtures)


def _fixture_exceptions(t: _TestFile, bundle: Bundle) -> list[CompiledException]:
    spec = t.test.spec
    if not spec.exceptions:
        return []
    ctx = f'test "{t.test.metadata.name}": '
    diags: list[Diagnostic] = []
    names = {p.name for p in bundle.policies}
    taken = {e.id for e in bundle.exceptions}
    eset = ExceptionSet.model_validate({
        "apiVersion": "patchpolicy/v1",
        "kind": "ExceptionSet",
        "metadata": {"name": t.test.metadata.name},
        "exceptions": [e.model_dump(by_alias=True) for e in spec.exceptions],
    })
    out: list[CompiledException] = []
    for i, exc in enumerate(eset.exceptions):
        loc: tuple[str | int, ...] = ("spec", "exceptions", i)
        label = f'{ctx}exception "{exc.id}": '
        if exc.id in taken:
            diags.append(Diagnostic(t.doc.where((*loc, "id")), f"{label}id already used in the bundle"))
        taken.add(exc.id)
        diags.extend(
            Diagnostic(t.doc.where((*loc, "policies", j)), f"{label}names unknown policy '{name}'")
            for j, name in enumerate(exc.policies or []) if name not in names
        )
        try:
            match = compile_expression(exc.match, roots=HOST_FINDING, expect_bool=True)
        except ExprError as e:
            where = expression_location(t.doc, (*loc, "match"), e.offset)
            diags.append(Diagnostic(where, f"{label}match: {e.message}"))
            continue
        out.append(CompiledException(exc, eset, match, t.doc.where(loc)))
    if diags:
        raise ValidationError(diags)
    return out


# ---------------------------------------------------------------- snapshots


def _hosts(t: _TestFile, snap: str | FleetSnapshot) -> tuple[datetime, list[HostRecord]]:
    if isinstance(snap, str):
        from patchpolicy.snapshot import open_snapshot

        source = open_snapshot(t.path.parent / snap)
        return source.header.taken_at, list(source.hosts())
    try:
        doc = msgspec.convert(snap.model_dump(mode="json"), SnapshotDocument)
    except msgspec.ValidationError as e:  # pragma: no cover - the pydantic model checked it
        raise SnapshotError(f"{t.doc.where()}: inline snapshot: {e}") from e
    return doc.taken_at, list(doc.hosts)


# ---------------------------------------------------------------- running


def run_tests(paths: Sequence[str | Path]) -> TestRun:
    """Run every PolicyTest under ``paths`` (files or directories); see the module doc.

    Raises ``InputError`` (``ValidationError``, ``SnapshotError``) on bad input.
    """
    collected = _collect(paths)
    bundles = _Bundles(collected.not_policy)
    cov = collected.coverage
    results: list[CaseResult] = []
    for t in collected.tests:
        bundle, fixtures = bundles.bundle(t)
        _bundle_targets(cov, bundle, fixtures)
        for ci, case in enumerate(t.test.spec.cases):
            results.append(_run_case(t, ci, case, bundle, fixtures, cov))
    return TestRun(results, cov, len({t.path for t in collected.tests}))


@dataclass
class _Actual:
    """One case's results, indexed for lookups."""

    ev: Evaluation
    hosts: dict[str, HostRecord]
    items: dict[tuple[str, str, str], Item]
    checks: dict[tuple[str, str, str], HostCheck]
    tasks: dict[tuple[str, str], Task]
    plan_error: str | None


def _run_case(
    t: _TestFile, ci: int, case: TestCase, bundle: Bundle, fixtures: frozenset[str], cov: Coverage
) -> CaseResult:
    snap = case.snapshot if case.snapshot is not None else t.test.spec.snapshot
    assert snap is not None  # the model guarantees one
    taken_at, hosts = _hosts(t, snap)
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
    actual = _Actual(
        ev,
        {h.id: h for h in hosts},
        {(i.policy, i.host, i.finding): i for i in ev.items},
        {(c.policy, c.host, c.check): c for c in ev.checks},
        tasks,
        plan_error,
    )
    _mark(cov, bundle, fixtures, actual, as_of, case.horizon)
    failures: list[Failure] = []
    for ei, exp in enumerate(case.expect):
        where = t.doc.where(("spec", "cases", ci, "expect", ei))
        failures.extend(_compare(exp, where, bundle, actual))
    return CaseResult(
        t.test.metadata.name, case.name, t.doc.where(("spec", "cases", ci)),
        len(case.expect), tuple(failures),
    )


def _mark(
    cov: Coverage, bundle: Bundle, fixtures: frozenset[str], actual: _Actual,
    as_of: datetime, horizon: timedelta,
) -> None:
    files = {cp.name: _resolved(cp.where.file) for cp in bundle.policies}
    for item in actual.ev.items:
        for m in item.matches:
            cov.exercised.add(("rule", files[item.policy], item.policy, m.rule))
    exc_files = {e.id: _resolved(e.where.file) for e in bundle.exceptions}
    for er in actual.ev.exceptions:
        if not er.orphaned and er.id not in fixtures:
            cov.exercised.add(("exception", exc_files[er.id], "", er.id))
    for task in actual.tasks.values():
        if task.window is not None and task.window_policy is not None:
            cov.exercised.add(("window", files[task.window_policy], task.window_policy, task.window))
    for cp in bundle.policies:
        if not cp.freezes:
            continue
        live = [fz for fz in cp.freezes if freeze_intervals(fz.freeze, as_of, as_of + horizon)]
        for host in actual.hosts.values():
            if not live or not _selects(cp, host):
                continue
            for fz in live:
                if fz.hosts is None or _host_true(fz.hosts, host):
                    cov.exercised.add(("freeze", files[cp.name], cp.name, fz.freeze.id))


def _host_true(expr: CompiledExpression, host: HostRecord) -> bool:
    try:
        return expr.evaluate_host(host)
    except EvalFailure:
        return False


def _selects(cp: CompiledPolicy, host: HostRecord) -> bool:
    return cp.scope is None or _host_true(cp.scope, host)


# ---------------------------------------------------------------- comparing


def _ts(dt: datetime | None) -> str:
    return format_timestamp(dt) if dt is not None else "none"


def _reason(item: Item) -> str:
    """Why the actual item is what it is: binding rule, clock, deadline, days left."""
    parts: list[str] = []
    if item.binding_rule is not None:
        within = next((m.within for m in item.matches if m.rule == item.binding_rule), "")
        capped = any(m.capped_by_kev and m.rule == item.binding_rule for m in item.matches)
        clock = f"{within} from {item.clock_source} {_ts(item.clock_start)}"
        parts.append(f'binding rule "{item.binding_rule}" ({clock}{", capped by KEV due date" if capped else ""})')
        others = [m.rule for m in item.matches if m.rule != item.binding_rule]
        if others:
            parts.append("also matched " + ", ".join(f'"{r}"' for r in others))
        parts.append(f"deadline {_ts(item.deadline)}")
        parts.append(f"days left {item.days_left}")
    elif item.verdict == "untracked":
        parts.append("no rule matched")
    if item.exception is not None:
        parts.append(f"exception {item.exception}")
    if item.expired_exceptions:
        parts.append("expired exception(s) " + ", ".join(item.expired_exceptions))
    if item.before_effective:
        parts.append("before the policy's effective_from")
    if item.message:
        parts.append(item.message)
    return " [" + "; ".join(parts) + "]" if parts else ""


def _compare(exp: Expectation, where: Location, bundle: Bundle, actual: _Actual) -> list[Failure]:
    names = sorted(p.name for p in bundle.policies)
    if exp.check is not None:
        label = f"{exp.policy}/{exp.host}#{exp.check}"
    else:
        label = f"{exp.policy}/{exp.host}/{exp.finding}"

    def fail(message: str, unknown: bool = False) -> list[Failure]:
        return [Failure(where, f"{label}: {message}", unknown)]

    if exp.policy not in names:
        return fail(f"unknown policy '{exp.policy}' (the bundle has: {', '.join(names)})", True)
    host = actual.hosts.get(exp.host)
    if host is None:
        return fail(
            f"unknown host '{exp.host}' (the snapshot has: {', '.join(sorted(actual.hosts))})", True
        )
    if exp.check is not None:
        check = actual.checks.get((exp.policy, exp.host, exp.check))
        if check is None:
            return fail(
                f"expected {exp.check} {exp.verdict}, got no such check (the host is out of the "
                f"policy's scope, or the policy does not check {exp.check})"
            )
        if check.verdict != exp.verdict:
            return fail(f"expected {exp.check} {exp.verdict}, got {check.verdict} [{check.detail}]")
        return []
    finding = exp.finding
    assert finding is not None  # the model guarantees it
    if not any(f.id == finding for f in host.findings):
        have = ", ".join(sorted(f.id for f in host.findings)) or "none"
        return fail(f"unknown finding '{finding}' on host '{exp.host}' (it has: {have})", True)
    out: list[Failure] = []
    item = actual.items.get((exp.policy, exp.host, finding))
    if exp.verdict is not None or exp.rule is not None or exp.deadline is not None or exp.exception is not None:
        if item is None:
            out += fail(
                f"expected verdict {exp.verdict or '(any)'}, got no item: "
                "the host is not in the policy's scope"
            )
        else:
            reason = _reason(item)
            if exp.verdict is not None and item.verdict != exp.verdict:
                out += fail(f"expected verdict {exp.verdict}, got {item.verdict}{reason}")
            if exp.rule is not None and item.binding_rule != exp.rule:
                got = f'"{item.binding_rule}"' if item.binding_rule else "none"
                out += fail(f'expected binding rule "{exp.rule}", got {got}{reason}')
            if exp.deadline is not None and item.deadline != exp.deadline:
                out += fail(f"expected deadline {_ts(exp.deadline)}, got {_ts(item.deadline)}{reason}")
            if exp.exception is not None and item.exception != exp.exception:
                out += fail(f"expected exception {exp.exception}, got {item.exception or 'none'}{reason}")
    if exp.schedules:
        out += [Failure(where, f"{label}: {m}") for m in _compare_schedule(exp, item, actual)]
    return out


def _compare_schedule(exp: Expectation, item: Item | None, actual: _Actual) -> Iterable[str]:
    if actual.plan_error is not None:
        yield f"cannot plan: {actual.plan_error}"
        return
    task = actual.tasks.get((exp.host, exp.finding or ""))
    if task is None:
        why = f"verdict {item.verdict}" if item is not None else "no item"
        yield f"expected a task, got none: the finding needs no remediation ({why})"
        return
    window, reason, start, at_risk = task.window, task.reason, task.start, task.at_risk
    got = (
        f'window "{window}" at {_ts(start)}' if window is not None
        else f"unscheduled ({reason})"
    ) + f", task deadline {_ts(task.deadline)}, at_risk {str(at_risk).lower()}"
    if exp.unscheduled is not None and (window is not None or reason != exp.unscheduled):
        yield f"expected unscheduled ({exp.unscheduled}), got {got}"
    if exp.window is not None and window != exp.window:
        yield f'expected window "{exp.window}", got {got}'
    if exp.window_start is not None and start != exp.window_start:
        yield f"expected window start {_ts(exp.window_start)}, got {got}"
    if exp.at_risk is not None and at_risk != exp.at_risk:
        yield f"expected at_risk {str(exp.at_risk).lower()}, got {got}"


# ---------------------------------------------------------------- rendering


def format_report(run: TestRun, *, coverage: bool = False, min_coverage: float | None = None,
                  quiet: bool = False) -> str:
    """Terminal text: a line per case (failures with their diff), a summary, and with
    ``coverage`` the coverage lines and what no test exercises. ``quiet``: failing cases
    only (and the summary)."""
    lines: list[str] = []
    current: str | None = None
    for c in run.cases:
        if quiet and c.passed:
            continue
        header = f'{c.where.file}: test "{c.test}"'
        if header != current:
            lines.append(header)
            current = header
        if c.passed:
            lines.append(f"  PASS {c.case} ({c.expectations} expectation{'s' if c.expectations != 1 else ''})")
            continue
        lines.append(f"  FAIL {c.case}")
        lines.extend(f"    {f}" for f in c.failures)
    passed = len(run.cases) - len(run.failed)
    total_exp = sum(c.expectations for c in run.cases)
    lines.append(
        f"{len(run.cases)} case{'s' if len(run.cases) != 1 else ''} in {run.files} file"
        f"{'s' if run.files != 1 else ''} ({total_exp} expectations): "
        f"{passed} passed, {len(run.failed)} failed"
    )
    if coverage or min_coverage is not None:
        lines.extend(_coverage_lines(run, min_coverage))
    lines.append("PASS" if run.exit_code(min_coverage) == 0 else "FAIL")
    return "\n".join(lines) + "\n"


def _coverage_lines(run: TestRun, min_coverage: float | None) -> list[str]:
    cov = run.coverage
    done, total = cov.counts()
    kinds = ", ".join(
        f"{kind}s {d}/{n}" for kind in TARGET_KINDS for d, n in [cov.counts(kind)]
    )
    lines = [f"coverage: {done}/{total} ({cov.percent:.1f}%): {kinds}"]
    missing = cov.missing()
    if missing:
        lines.append("not exercised by any test:")
        lines.extend(f"  {t}" for t in missing)
    unknown = run.unknown_targets
    if unknown:
        lines.append("tests without rules (expectations naming what does not exist):")
        lines.extend(f"  {f}" for f in unknown)
    if run.below(min_coverage):
        lines.append(f"coverage {cov.percent:.1f}% is below the minimum {min_coverage:g}%")
    return lines
