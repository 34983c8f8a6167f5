"""Coverage both ways: the targets tests should exercise (every rule, window, freeze and
file exception), and what one case's results exercised (see the package docstring)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from patchpolicy.expr import CompiledExpression, EvalFailure
from patchpolicy.loader import SourceDocument
from patchpolicy.model.bundle import Bundle, CompiledPolicy
from patchpolicy.model.fleet import HostRecord
from patchpolicy.model.policy import Freeze, PatchPolicy, Rule, Window
from patchpolicy.review.testing.compare import Actual
from patchpolicy.review.testing.results import Coverage, Target
from patchpolicy.windows import freeze_intervals


def resolved(path: str | Path) -> str:
    return str(Path(path).resolve())


def policy_targets(cov: Coverage, doc: SourceDocument, p: PatchPolicy) -> None:
    """Register the rules, windows and freezes of a policy file under the given paths."""
    name, file = p.metadata.name, resolved(doc.path)
    groups = (("rule", "rules", p.spec.rules), ("window", "windows", p.spec.windows),
              ("freeze", "freezes", p.spec.freezes))
    for kind, key, entries in groups:
        for i, entry in enumerate(entries):
            assert isinstance(entry, Rule | Window | Freeze)
            cov.add((kind, file, name, entry.id),
                    Target(kind, name, entry.id, doc.where(("spec", key, i))))


def bundle_targets(cov: Coverage, bundle: Bundle, fixtures: frozenset[str]) -> None:
    """Register the bundle's rules, windows, freezes and file exceptions (not fixtures)."""
    for cp in bundle.policies:
        file = resolved(cp.where.file)
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
        cov.add(("exception", resolved(e.where.file), "", e.id),
                Target("exception", None, e.id, e.where,
                       f'exception set "{e.exception_set.metadata.name}": '))


def mark(
    cov: Coverage, bundle: Bundle, fixtures: frozenset[str], actual: Actual,
    as_of: datetime, horizon: timedelta,
) -> None:
    """Add what one case exercised: the rules that matched its items, the exceptions
    that covered or matched one, the windows its tasks went into, and the freezes binding
    an in-scope host during the planning period."""
    files = {cp.name: resolved(cp.where.file) for cp in bundle.policies}
    for item in actual.ev.items:
        for m in item.matches:
            cov.exercised.add(("rule", files[item.policy], item.policy, m.rule))
    exc_files = {e.id: resolved(e.where.file) for e in bundle.exceptions}
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
