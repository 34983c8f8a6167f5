"""Expected against actual: one expectation of a case compared with the case's
evaluation and plan; each mismatch a Failure that says what was expected, what came, and
why (binding rule, clock, deadline, exception)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from patchpolicy.errors import Location
from patchpolicy.evaluator import Evaluation
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import HostRecord
from patchpolicy.model.plan import Task
from patchpolicy.model.policytest import Expectation
from patchpolicy.model.results import HostCheck, Item
from patchpolicy.review.testing.results import Failure


@dataclass
class Actual:
    """One case's results, indexed for lookups."""

    ev: Evaluation
    hosts: dict[str, HostRecord]
    items: dict[tuple[str, str, str], Item]
    checks: dict[tuple[str, str, str], HostCheck]
    tasks: dict[tuple[str, str], Task]
    plan_error: str | None


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


def compare(exp: Expectation, where: Location, bundle: Bundle, actual: Actual) -> list[Failure]:
    """Every way the case's results differ from ``exp``; an expectation naming a policy,
    host or finding that does not exist is one failure marked ``unknown_target``."""
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
        return [f for m in _check_mismatches(exp, exp.check, actual) for f in fail(m)]
    finding = exp.finding
    assert finding is not None  # the model guarantees it
    if not any(f.id == finding for f in host.findings):
        have = ", ".join(sorted(f.id for f in host.findings)) or "none"
        return fail(f"unknown finding '{finding}' on host '{exp.host}' (it has: {have})", True)
    item = actual.items.get((exp.policy, exp.host, finding))
    out = [f for m in _item_mismatches(exp, item) for f in fail(m)]
    if exp.schedules:
        out += [Failure(where, f"{label}: {m}") for m in _compare_schedule(exp, item, actual)]
    return out


def _check_mismatches(exp: Expectation, name: str, actual: Actual) -> Iterator[str]:
    check = actual.checks.get((exp.policy, exp.host, name))
    if check is None:
        yield (
            f"expected {name} {exp.verdict}, got no such check (the host is out of the "
            f"policy's scope, or the policy does not check {name})"
        )
    elif check.verdict != exp.verdict:
        yield f"expected {name} {exp.verdict}, got {check.verdict} [{check.detail}]"


def _item_mismatches(exp: Expectation, item: Item | None) -> Iterator[str]:
    if exp.verdict is None and exp.rule is None and exp.deadline is None and exp.exception is None:
        return
    if item is None:
        yield (
            f"expected verdict {exp.verdict or '(any)'}, got no item: "
            "the host is not in the policy's scope"
        )
        return
    reason = _reason(item)
    if exp.verdict is not None and item.verdict != exp.verdict:
        yield f"expected verdict {exp.verdict}, got {item.verdict}{reason}"
    if exp.rule is not None and item.binding_rule != exp.rule:
        got = f'"{item.binding_rule}"' if item.binding_rule else "none"
        yield f'expected binding rule "{exp.rule}", got {got}{reason}'
    if exp.deadline is not None and item.deadline != exp.deadline:
        yield f"expected deadline {_ts(exp.deadline)}, got {_ts(item.deadline)}{reason}"
    if exp.exception is not None and item.exception != exp.exception:
        yield f"expected exception {exp.exception}, got {item.exception or 'none'}{reason}"


def _compare_schedule(exp: Expectation, item: Item | None, actual: Actual) -> Iterable[str]:
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
