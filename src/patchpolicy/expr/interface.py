"""The engine extension point: compile CEL text once, evaluate it many times.

An engine turns source text into a :class:`Program`; a program evaluates one
activation (plain Python: nested dicts and lists of None, bool, int, float, str,
aware ``datetime``) into a plain Python value or raises :class:`EvalFailure`. Each
engine converts to and from its own value types; callers never see them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from patchpolicy.errors import PatchPolicyError

__all__ = ["COMPREHENSION_BUDGET", "BUDGET_EXCEEDED", "Engine", "EvalFailure", "Program"]

COMPREHENSION_BUDGET = 10_000
"""Iterations of every comprehension (``all``, ``exists``, ``exists_one``, ``map``,
``filter``; nested loops multiply) in one evaluation: the 10,000th fails the evaluation
with :data:`BUDGET_EXCEEDED`, in both engines (cel-expr's own iteration budget, and the
same count kept by the celpy adapter). ``&&``/``||`` cannot absorb it."""

BUDGET_EXCEEDED = (
    f"comprehension budget exceeded: {COMPREHENSION_BUDGET:,} iterations in one evaluation "
    "(nested all/exists/map over long lists multiply)"
)


class EvalFailure(PatchPolicyError):
    """A CEL expression could not be evaluated for one item (a run-time error value).

    Not an input error: the evaluator records it as that item's ``error`` verdict with
    ``message`` and carries on. It is never "no match" (fail closed).
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class Program(ABC):
    """One compiled expression, bound to the engine that compiled it."""

    @abstractmethod
    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """Evaluate with variables bound from ``activation``.

        Returns None, bool, int, float, str, bytes, list, dict, aware UTC ``datetime`` or
        ``timedelta``. Raises :class:`EvalFailure` for every CEL run-time error (no
        such overload, division by zero, missing key, selection on null, ...).
        """


class Engine(ABC):
    """A CEL implementation. Instances are process-wide and safe to share."""

    name: str
    """The engine's :class:`~patchpolicy.expr.engines.EngineName` value."""

    @abstractmethod
    def compile(self, source: str) -> Program:
        """Compile ``source``; raise :class:`~patchpolicy.errors.ExprError` (with the
        0-based offset of the problem) when it does not parse.

        Engines check syntax only: static checks (fields, types) are the bridge's own,
        in :mod:`patchpolicy.expr.analysis`, so both engines accept the same texts.
        """
