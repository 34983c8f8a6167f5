"""The cel-expr-python 0.1.3 engine: the CEL C++ runtime, much faster on memo misses.

``host`` and ``finding`` are declared ``dyn`` and expressions compile with the type
checker disabled: static checks are the bridge's own (:mod:`patchpolicy.expr.analysis`),
so both engines accept exactly the same texts and differ only at run time, where the
conformance corpus holds them equal. Run-time errors come back as ERROR values and
become :class:`EvalFailure`.

Timestamps: cel-expr-python cannot carry a ``datetime`` inside a ``dyn`` map ("Non-CEL
value type"). So datetimes in the activation travel as RFC 3339 strings, and every read
of a timestamp field (``finding.kev.due_date``, found from the AST and FIELDS) is
rewritten to ``(R == null ? null : timestamp(R))`` before compiling. This is sound
because the static rules keep timestamp values from escaping any other way: whole
messages may only be compared with null, and no list or map field holds timestamps.
Other activation values are converted as they are (tuples become lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from cel_expr_python import cel

from patchpolicy.errors import ExprError
from patchpolicy.expr.analysis import timestamp_read_spans
from patchpolicy.expr.grammar import parse
from patchpolicy.expr.interface import BUDGET_EXCEEDED, Engine, EvalFailure, Program

__all__ = ["CelExprEngine", "CelExprProgram"]

_environment: Any = None


def _env() -> Any:
    global _environment
    if _environment is None:
        _environment = cel.NewEnv(variables={"host": cel.Type.DYN, "finding": cel.Type.DYN})
    return _environment


def rewrite_timestamps(source: str) -> str:
    """``source`` with each timestamp-field read converted from its string form."""
    tree = parse(source)
    out = source
    for start, end in reversed(timestamp_read_spans(tree, source)):
        read = source[start:end]
        out = f"{out[:start]}({read} == null ? null : timestamp({read})){out[end:]}"
    return out


_SCALARS = frozenset({str, bool, int, float, bytes, type(None)})


def _to_cel(value: Any) -> Any:
    """Activation data -> what cel-expr-python accepts inside a dyn map."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime in activation: {value!r}")
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, list | tuple):
        return [_to_cel(v) for v in value]
    if isinstance(value, dict):
        return {k: v if type(v) in _SCALARS else _to_cel(v) for k, v in value.items()}
    if isinstance(value, str | bool | int | float | bytes):  # subclasses, e.g. StrEnum
        return value
    raise TypeError(f"unsupported activation value {type(value).__name__}")


class CelExprProgram(Program):
    """A compiled cel-expr-python expression."""

    def __init__(self, source: str, expression: Any) -> None:
        self.source = source
        self._expression = expression

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        data = {name: _to_cel(value) for name, value in activation.items()}
        try:
            result = self._expression.eval(data=data)
        except (RuntimeError, ValueError, TypeError) as e:
            text = str(e)
            raise EvalFailure(BUDGET_EXCEEDED if "Iteration budget exceeded" in text else text) from e
        value = result.value()
        if value.__class__ is bool:  # the common case, without the slower type() call
            return value
        if result.type() == cel.Type.ERROR:
            raise EvalFailure(_message(str(value)))
        return result.plain_value()


def _message(text: str) -> str:
    """'INVALID_ARGUMENT: divide by zero' -> 'divide by zero'; the iteration budget's
    'INTERNAL: Iteration budget exceeded' -> the engines' shared BUDGET_EXCEEDED."""
    if "Iteration budget exceeded" in text:
        return BUDGET_EXCEEDED
    head, sep, rest = text.partition(": ")
    return rest if sep and head.isupper() else text


class CelExprEngine(Engine):
    """cel-expr-python, one environment per process, checker disabled (see module doc)."""

    name = "cel-expr"

    def compile(self, source: str) -> Program:
        rewritten = rewrite_timestamps(source)  # parses: syntax errors carry offsets
        try:
            expression = _env().compile(rewritten, disable_check=True)
        except RuntimeError as e:
            raise ExprError(f"does not compile: {_message(str(e)).splitlines()[0]}", 0) from e
        return CelExprProgram(source, expression)
