"""The CEL selectors of a bundle's windows, freezes and rings, evaluated fail closed.

Shared by ``planner`` and ``upcoming`` so both read a failing selector the same way: the
caller says what a failure means (a window does not select, a freeze binds, an ``allow``
does not admit), and every failure is kept as a line in ``problems``. Outcomes are
memoised on the selectors (one planning run), never on the bundle's long-lived compiled
expressions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from patchpolicy.expr.interface import EvalFailure
from patchpolicy.model.fleet import FindingRecord, HostRecord

if TYPE_CHECKING:
    from patchpolicy.model.bundle import Bundle, CompiledFreeze, CompiledPolicy, CompiledWindow

__all__ = ["BundleSelectors", "HostSelector"]


class HostSelector(Protocol):
    def key(self, host: HostRecord | None, finding: FindingRecord | None) -> tuple[Any, ...]: ...

    def evaluate_uncached(self, host: HostRecord, finding: FindingRecord | None) -> bool: ...


class BundleSelectors:
    """Every window and freeze of a bundle (policies in bundle order), and the CEL failures
    met while asking them about hosts and findings."""

    def __init__(self, bundle: Bundle) -> None:
        self.problems: set[str] = set()
        self.windows: list[tuple[CompiledPolicy, CompiledWindow]] = [
            (p, w) for p in bundle.policies for w in p.windows
        ]
        self.freezes: list[tuple[CompiledPolicy, CompiledFreeze]] = [
            (p, f) for p in bundle.policies for f in p.freezes
        ]
        self._memo: dict[tuple[HostSelector, tuple[Any, ...]], bool | str] = {}

    def _evaluate(self, expr: HostSelector, host: HostRecord, finding: FindingRecord | None) -> bool:
        """``expr``'s bool, memoised on what it reads for this run; a failure (kept as its
        message) raises EvalFailure again on every hit."""
        key = (expr, expr.key(host, finding))
        outcome = self._memo.get(key)
        if outcome is None:
            try:
                outcome = expr.evaluate_uncached(host, finding)
            except EvalFailure as e:
                outcome = e.message
            self._memo[key] = outcome
        if isinstance(outcome, bool):
            return outcome
        raise EvalFailure(outcome)

    def selects(
        self, what: str, expr: HostSelector | None, host: HostRecord, on_error: bool
    ) -> bool:
        """Whether ``expr`` selects ``host`` (no selector: every host); ``on_error`` when it
        fails, the failure named after ``what``."""
        if expr is None:
            return True
        try:
            return self._evaluate(expr, host, None)
        except EvalFailure as e:
            self.problems.add(f'{what}: hosts: {e.message} (host "{host.id}")')
            return on_error

    def allowed(self, fz: CompiledFreeze, policy: str, host: HostRecord, f: FindingRecord) -> bool:
        """Whether the freeze's ``allow`` admits the finding; never when it fails or is absent."""
        if fz.allow is None:
            return False
        try:
            return self._evaluate(fz.allow, host, f)
        except EvalFailure as e:
            self.problems.add(
                f'freeze "{fz.freeze.id}" (policy "{policy}"): allow: {e.message} '
                f'(host "{host.id}", finding "{f.id}")'
            )
            return False
