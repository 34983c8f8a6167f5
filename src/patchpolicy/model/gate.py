"""The gate: what fails, given ``--fail-on``, computed once per run.

Every renderer and the exit code read the one :class:`GateResult` a run computes, so
``check --fail-on due_soon --format junit`` cannot say ``failures="0"`` while exiting 1.

What fails (FORMATS.md section 3.6, docs/formats.md "The gate"):

- always: every item and host check in the ``fail`` bucket (overdue, error, stale scan...),
  every exception whose match failed at run time (status ``error``), and every policy that
  judged nothing (its scope matched no host, or the snapshot has no hosts) unless
  ``allow_empty_scope``;
- with ``--fail-on due_soon`` / ``remediated_late``: those items of policies in effect;
- with ``--fail-on expired_exception``: every expired exception;
- with ``--fail-on invalid_exception``: every exception that is over the lifetime a policy
  allows (for any of its policies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import (
    Bucket,
    CheckVerdict,
    ExceptionReport,
    ExceptionStatus,
    Verdict,
)

__all__ = ["FailOn", "Gate", "GateResult", "exception_reason"]


class FailOn(StrEnum):
    """What ``--fail-on`` may add to the gate."""

    DUE_SOON = "due_soon"
    REMEDIATED_LATE = "remediated_late"
    EXPIRED_EXCEPTION = "expired_exception"
    INVALID_EXCEPTION = "invalid_exception"


def exception_reason(e: ExceptionReport, fail_on: frozenset[str] | tuple[str, ...]) -> str | None:
    """The one reason an exception fails the gate (``exception_error``, or the --fail-on
    value that names it), or None. One exception counts once, whatever else is true of it."""
    if e.status == ExceptionStatus.ERROR:
        return "exception_error"
    if e.status == ExceptionStatus.EXPIRED and FailOn.EXPIRED_EXCEPTION in fail_on:
        return FailOn.EXPIRED_EXCEPTION
    if FailOn.INVALID_EXCEPTION in fail_on and (
        e.status == ExceptionStatus.OVER_LIFETIME or e.over_lifetime_for
    ):
        return FailOn.INVALID_EXCEPTION
    return None


_VERDICT_FAIL_ON: dict[str, FailOn] = {Verdict.DUE_SOON: FailOn.DUE_SOON, Verdict.REMEDIATED_LATE: FailOn.REMEDIATED_LATE}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict on one evaluation: counts by reason, and how to read an entry."""

    fail_on: tuple[str, ...]
    reasons: dict[str, int]
    """Failing entries by reason: ``fail`` (items and host checks in the fail bucket),
    ``exception_error``, ``empty_scope``, and each ``--fail-on`` value that added any."""
    empty_scope: tuple[str, ...]
    """Policies that judged nothing (no host in scope)."""
    allow_empty_scope: bool
    in_effect: frozenset[str] = field(default_factory=frozenset)

    @property
    def failing(self) -> int:
        return sum(self.reasons.values())

    @property
    def passed(self) -> bool:
        return self.failing == 0

    @property
    def result(self) -> str:
        """``pass`` or ``fail``."""
        return "pass" if self.passed else "fail"

    @property
    def word(self) -> str:
        """``PASS`` or ``FAIL``."""
        return self.result.upper()

    @property
    def exit_code(self) -> int:
        """0 when nothing fails the gate, 1 otherwise (2 is bad input, raised earlier)."""
        return 0 if self.passed else 1

    def fails(self, policy: str, verdict: Verdict | CheckVerdict, bucket: Bucket) -> bool:
        """Whether one item or host check fails this gate."""
        if bucket is Bucket.FAIL:
            return True
        extra = _VERDICT_FAIL_ON.get(verdict)
        return extra is not None and extra in self.fail_on and policy in self.in_effect

    def to_dict(self) -> dict[str, object]:
        return {
            "result": self.result,
            "failing": self.failing,
            "fail_on": list(self.fail_on),
            "reasons": dict(sorted(self.reasons.items())),
            "empty_scope": list(self.empty_scope),
            "allow_empty_scope": self.allow_empty_scope,
        }


@dataclass(frozen=True)
class Gate:
    """The gate's configuration: ``--fail-on`` values and ``--allow-empty-scope``."""

    fail_on: frozenset[FailOn] = frozenset()
    allow_empty_scope: bool = False

    @classmethod
    def of(cls, fail_on: tuple[str, ...] | frozenset[str] = (), *, allow_empty_scope: bool = False) -> Gate:
        return cls(frozenset(FailOn(f) for f in fail_on), allow_empty_scope)

    def judge(self, ev: Evaluation) -> GateResult:
        t = ev.tally
        in_effect = frozenset(p.name for p in ev.policies if p.in_effect)
        reasons: dict[str, int] = {}

        def add(reason: str, n: int) -> None:
            if n:
                reasons[reason] = reasons.get(reason, 0) + n

        add("fail", t.by_bucket.get(Bucket.FAIL, 0) + t.checks_by_bucket.get(Bucket.FAIL, 0))
        for verdict, reason in _VERDICT_FAIL_ON.items():
            if reason in self.fail_on:
                add(reason, sum(
                    counts.get(verdict, 0) for policy, counts in t.by_policy.items() if policy in in_effect
                ))
        for e in ev.exceptions:
            exc_reason = exception_reason(e, self.fail_on)
            if exc_reason is not None:
                add(exc_reason, 1)
        empty = tuple(p.name for p in ev.policies if not t.hosts_in_scope.get(p.name, 0))
        if not self.allow_empty_scope:
            add("empty_scope", len(empty))
        return GateResult(
            fail_on=tuple(sorted(self.fail_on)),
            reasons=reasons,
            empty_scope=empty,
            allow_empty_scope=self.allow_empty_scope,
            in_effect=in_effect,
        )
