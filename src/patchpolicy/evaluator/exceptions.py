"""Exceptions: their status at as-of, which one covers a finding, and their reports.

An exception is judged per policy: one that lasts longer than a policy's
``exceptions.max_lifetime`` is ``over_lifetime`` for that policy and covers nothing there,
while it stays valid for its other policies. One whose ``match`` fails at run time is an
``error`` (it fails the gate like any error) and is never called orphaned.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from patchpolicy.evaluator.runner import Failure, PolicyRunner
from patchpolicy.model.bundle import Bundle, CompiledException
from patchpolicy.model.evaluation import Tally
from patchpolicy.model.fleet import FindingRecord, HostRecord
from patchpolicy.model.results import ExceptionReport, ExceptionStatus

__all__ = ["COVERING", "exception_reports", "exception_status", "match_exceptions", "policy_names"]

COVERING = frozenset({ExceptionStatus.VALID, ExceptionStatus.EXPIRING_SOON})
"""Statuses in which an exception waives what it matches."""


def policy_names(exc: CompiledException, bundle: Bundle) -> tuple[str, ...]:
    """The policies an exception names, or every policy of the bundle."""
    e = exc.exception
    return tuple(e.policies) if e.policies is not None else bundle.policy_names


def _outlives(exc: CompiledException, bundle: Bundle, name: str) -> bool:
    """Whether the exception lasts longer than policy ``name``'s max_lifetime."""
    spec = bundle.policy(name).policy.spec
    limit = spec.exceptions.max_lifetime if spec.exceptions else None
    return limit is not None and exc.exception.expires - exc.exception.approved_at > limit


def over_lifetime_for(exc: CompiledException, bundle: Bundle) -> tuple[str, ...]:
    """The policies of the bundle whose ``exceptions.max_lifetime`` this exception exceeds,
    in bundle order. Looks up the policies it names (not a scan of every policy, which
    made evaluating 10^4 policies quadratic, issue 12 #8)."""
    if exc.exception.policies is None:
        candidates: Iterable[str] = bundle.policy_names
    else:
        named = {n for n in exc.exception.policies if bundle.has_policy(n)}
        candidates = sorted(named, key=bundle.policy_index)
    return tuple(n for n in candidates if _outlives(exc, bundle, n))


def exception_status(
    exc: CompiledException, bundle: Bundle, as_of: datetime, policy: str | None = None
) -> ExceptionStatus:
    """The status at ``as_of``: for one policy, or overall (over_lifetime only when it is
    over the lifetime of every policy it names that is in the bundle)."""
    e = exc.exception
    if policy is None:
        in_bundle = [n for n in policy_names(exc, bundle) if bundle.has_policy(n)]
        over = set(over_lifetime_for(exc, bundle))
        outlived = bool(in_bundle) and all(n in over for n in in_bundle)
    else:
        applies = e.policies is None or policy in e.policies
        in_bundle = [policy] if applies and bundle.has_policy(policy) else []
        outlived = bool(in_bundle) and _outlives(exc, bundle, policy)
    if outlived:
        return ExceptionStatus.OVER_LIFETIME
    if as_of < e.approved_at:
        return ExceptionStatus.NOT_YET_VALID
    if as_of >= e.expires:
        return ExceptionStatus.EXPIRED
    due_soon = max((bundle.policy(n).policy.spec.due_soon for n in in_bundle), default=timedelta(0))
    if e.expires - as_of <= due_soon:
        return ExceptionStatus.EXPIRING_SOON
    return ExceptionStatus.VALID


def match_exceptions(
    runner: PolicyRunner, statuses: list[ExceptionStatus], tally: Tally,
    host: HostRecord, f: FindingRecord,
) -> tuple[str | None, list[str]] | Failure:
    """The exception covering ``f`` under this policy (first valid match in id order), and
    the expired ones that match it; a Failure when a match expression fails."""
    covering: str | None = None
    expired: list[str] = []
    candidates = runner.exception_candidates(f)
    if not candidates:
        return None, expired
    plan = runner.exception_plan
    for i in candidates:
        exc, host_guards, finding_guards = plan[i]
        # Equality guards are necessary conditions: skip the engine when one fails.
        if any(get(f) not in values for get, values in finding_guards) or any(
            get(host) not in values for get, values in host_guards
        ):
            continue
        hit = runner.exception_matches(i, host, f)
        if isinstance(hit, Failure):
            tally.exception_errors.setdefault(exc.id, hit.message)
            return hit
        if not hit:
            continue
        tally.exception_matched[exc.id] += 1
        status = statuses[i]
        if covering is None and status in COVERING:
            covering = exc.id
            tally.exception_hits[exc.id] += 1
        elif status == ExceptionStatus.EXPIRED:
            expired.append(exc.id)
    return covering, expired


def exception_reports(bundle: Bundle, as_of: datetime, tally: Tally) -> list[ExceptionReport]:
    """One report per exception of the bundle, in id order."""
    reports = []
    for exc in bundle.exceptions:
        e = exc.exception
        error = tally.exception_errors.get(e.id)
        status = ExceptionStatus.ERROR if error is not None else exception_status(exc, bundle, as_of)
        matched = tally.exception_matched.get(e.id, 0)
        reports.append(
            ExceptionReport(
                id=e.id,
                exception_set=exc.exception_set.metadata.name,
                policies=policy_names(exc, bundle),
                status=status,
                approved_by=e.approved_by,
                approved_at=e.approved_at,
                expires=e.expires,
                ticket=e.ticket,
                justification=e.justification,
                compensating_controls=tuple(e.compensating_controls),
                items_covered=tally.exception_hits.get(e.id, 0),
                orphaned=error is None and matched == 0,
                items_matched=matched,
                over_lifetime_for=over_lifetime_for(exc, bundle),
                error=error,
            )
        )
    return reports
