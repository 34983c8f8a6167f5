"""The cel-python 0.5 engine (pure Python, always installed), via ``CompiledRunner``.

One ``celpy.Environment`` per process, created on first use. Expressions are transpiled
to Python once, at compile time.

Where cel-python departs from the CEL specification and from the CEL C++ runtime
(cel-expr-python), this adapter normalises it, so the two engines agree (the
conformance corpus in tests/unit/expr checks this):

* Equality is heterogeneous, as the spec and the C++ runtime do it: numbers compare by
  value across int/uint/double (``7 == 7.0``, ``finding.cvss == 7``), values of
  different types are unequal rather than an error (``1 == "a"`` is false), lists and
  maps compare element-wise. cel-python raises "no such overload" instead.
* Ordering compares int/uint/double numerically in both operand orders (cel-python only
  manages double-then-int); other mixed types stay an error.
* ``in`` uses that equality, so ``2.0 in [1, 2]`` is true.
* Comprehensions have the C++ runtime's iteration budget
  (:data:`~patchpolicy.expr.interface.COMPREHENSION_BUDGET` per evaluation): cel-python
  has none, and three nested ``all()`` over 1,000 tags would run for hours. ``all`` and
  ``exists`` stop at their first false/true, as the C++ runtime's do (the result is the
  same: false dominates ``&&``, true ``||``), so the two engines count the same steps.
  This replaces ``celpy.evaluation``'s five macro functions, which the transpiled code
  looks up at call time; outside an evaluation of ours they count nothing.
* ``timestamp(string)`` accepts only RFC 3339 (cel-python also takes "2024-01-01").
* ``duration()`` accepts only standard CEL units (h, m, s, ms, us, ns): cel-python also
  accepts ``d``, which the C++ runtime rejects. Literals are rejected earlier, at
  compile time, by :mod:`patchpolicy.expr.analysis`.

cel-python's transpiled code names operator functions by ``module.qualname`` inside the
``celpy.evaluation`` namespace, so this module binds the top-level ``patchpolicy``
package there once; and it quietens the ``celpy.Transpiler`` logger, which logs every
ordinary evaluation error at ERROR level (the bridge reports them as EvalFailure).
Nulls in activation data become a private null whose attributes raise TypeError (see
``_CelNull``), so selecting through null is a CEL error that ``&&``/``||`` can absorb.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import celpy
import celpy.evaluation
from celpy import celtypes
from celpy.evaluation import CELEvalError

from patchpolicy.expr.grammar import parse
from patchpolicy.expr.interface import (
    BUDGET_EXCEEDED,
    COMPREHENSION_BUDGET,
    Engine,
    EvalFailure,
    Program,
)

__all__ = ["CelPyEngine", "CelPyProgram"]

_DURATION = re.compile(r"-?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|us|µs|ns|m|s))+|-?0")

# RFC 3339, as the CEL spec requires of timestamp(string); cel-python also takes "2024-01-01".
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")

_environment: celpy.Environment | None = None


def _env() -> celpy.Environment:
    global _environment
    if _environment is None:
        celpy.evaluation.__dict__.setdefault("patchpolicy", sys.modules["patchpolicy"])
        macros: dict[str, _Macro] = {
            "macro_all": _macro_all,
            "macro_exists": _macro_exists,
            **{name: _counting(getattr(celpy.evaluation, name))
               for name in ("macro_exists_one", "macro_map", "macro_filter")},
        }
        for name, macro in macros.items():
            setattr(celpy.evaluation, name, macro)
        logging.getLogger("celpy.Transpiler").setLevel(logging.CRITICAL)
        _environment = celpy.Environment(runner_class=celpy.CompiledRunner)
    return _environment


# ---------------------------------------------------------------- comprehension budget


class _Budget(threading.local):
    """Iterations left in the evaluation running on this thread (None: not counting)."""

    left: int | None = None
    exceeded: bool = False


_budget = _Budget()


class _BudgetExceeded(Exception):
    """Raised out of a comprehension; celpy wraps it, the flag on _budget tells."""


def _spend() -> None:
    left = _budget.left
    if left is None:
        return
    if left <= 1:
        _budget.exceeded = True
        raise _BudgetExceeded(BUDGET_EXCEEDED)
    _budget.left = left - 1


def _counted(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        _spend()
        yield value


_Macro = Callable[[Any, str, Callable[[Any], Any], Callable[[Any], Iterable[Any]]], Any]


def _counting(macro: _Macro) -> _Macro:
    """``macro`` with each element of its source charged to the budget."""

    def counted(
        activation: Any, bind_variable: str, cel_expr: Callable[[Any], Any],
        cel_gen: Callable[[Any], Iterable[Any]],
    ) -> Any:
        return macro(activation, bind_variable, cel_expr, lambda a: _counted(cel_gen(a)))

    counted.__name__ = counted.__qualname__ = macro.__name__
    return counted


def _short_circuit(
    logical: Callable[[Any, Any], Any], start: bool
) -> _Macro:
    """``all`` (``logical_and``, from true) or ``exists`` (``logical_or``, from false),
    stopping at the first element that decides it (the C++ runtime's loop condition)."""

    def macro(
        activation: Any, bind_variable: str, cel_expr: Callable[[Any], Any],
        cel_gen: Callable[[Any], Iterable[Any]],
    ) -> Any:
        acc: Any = celtypes.BoolType(start)
        for value in _counted(cel_gen(activation)):
            step = activation.nested_activation(vars={bind_variable: value})
            acc = logical(acc, celpy.evaluation.result(step, cel_expr))
            if isinstance(acc, celtypes.BoolType) and bool(acc) is not start:
                break
        return celtypes.BoolType(acc)

    return macro


_macro_all = _short_circuit(celtypes.logical_and, True)
_macro_exists = _short_circuit(celtypes.logical_or, False)


# ---------------------------------------------------------------- operator overrides


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool | celtypes.BoolType)


def _plain_number(value: Any) -> int | float:
    return float(value) if isinstance(value, float) else int(value)


class _CelNull:
    """The null of activation data inside celpy.

    cel-python selects fields with ``.get()``; on Python's None that raises
    AttributeError, which escapes its error-absorbing ``&&``/``||`` and breaks
    ``finding.kev != null && finding.kev.ransomware``. Any attribute of this null raises
    TypeError instead, which celpy turns into an ordinary CEL error value.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise TypeError(f"no such overload: {name} on null")

    def __repr__(self) -> str:
        return "null"


_NULL = _CelNull()


def _kind(value: Any) -> str:
    """The CEL type name of a celpy (or plain Python) value; numbers are one kind."""
    if value is None or value is _NULL:
        return "null"
    if isinstance(value, bool | celtypes.BoolType):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    for cls, name in _KINDS:
        if isinstance(value, cls):
            return name
    return type(value).__name__


_KINDS: tuple[tuple[type, str], ...] = (
    (str, "string"),
    (bytes, "bytes"),
    (datetime, "timestamp"),
    (timedelta, "duration"),
    (list, "list"),
    (dict, "map"),
)


def _equal(a: Any, b: Any) -> bool:
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "number":
        return _plain_number(a) == _plain_number(b)
    if kind == "null":
        return True
    if isinstance(a, celtypes.ListType):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, celtypes.MapType):
        if len(a) != len(b):
            return False
        for key, value in a.items():
            match = [k for k in b if _equal(k, key)]
            if not match or not _equal(value, b[match[0]]):
                return False
        return True
    return bool(a == b)


def _no_overload(op: str, a: Any, b: Any) -> CELEvalError:
    return CELEvalError(
        "no such overload", TypeError, (f"no such overload: {_kind(a)} {op} {_kind(b)}",)
    )


def _cel_eq(a: Any, b: Any) -> Any:
    if isinstance(a, CELEvalError):
        return a
    if isinstance(b, CELEvalError):
        return b
    return celtypes.BoolType(_equal(a, b))


def _cel_ne(a: Any, b: Any) -> Any:
    if isinstance(a, CELEvalError):
        return a
    if isinstance(b, CELEvalError):
        return b
    return celtypes.BoolType(not _equal(a, b))


def _ordering(op: str, compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def order(a: Any, b: Any) -> Any:
        if isinstance(a, CELEvalError):
            return a
        if isinstance(b, CELEvalError):
            return b
        if _is_number(a) and _is_number(b):
            return celtypes.BoolType(compare(_plain_number(a), _plain_number(b)))
        if _kind(a) != _kind(b) or _kind(a) in ("null", "list", "map"):
            return _no_overload(op, a, b)
        try:
            return celtypes.BoolType(compare(a, b))
        except TypeError:
            return _no_overload(op, a, b)

    order.__name__ = order.__qualname__ = f"_cel_{op}"
    return order


def _lt(a: Any, b: Any) -> bool:
    return bool(a < b)


def _le(a: Any, b: Any) -> bool:
    return bool(a <= b)


def _gt(a: Any, b: Any) -> bool:
    return bool(a > b)


def _cmp_ge(a: Any, b: Any) -> bool:
    return bool(a >= b)


_cel_lt = _ordering("lt", _lt)
_cel_le = _ordering("le", _le)
_cel_gt = _ordering("gt", _gt)
_cel_ge = _ordering("ge", _cmp_ge)


def _cel_in(item: Any, container: Any) -> Any:
    if isinstance(item, CELEvalError):
        return item
    if isinstance(container, CELEvalError):
        return container
    if isinstance(container, list | dict):
        return celtypes.BoolType(any(_equal(item, x) for x in container))
    return _no_overload("in", item, container)


def _cel_duration(value: Any) -> Any:
    if isinstance(value, CELEvalError):
        return value
    if isinstance(value, celtypes.DurationType):
        return value
    if isinstance(value, celtypes.StringType):
        if not _DURATION.fullmatch(value):
            return CELEvalError("invalid duration", ValueError, (str(value),))
        try:
            return celtypes.DurationType(str(value))
        except ValueError as e:
            return CELEvalError("invalid duration", ValueError, e.args)
    return CELEvalError("no such overload", TypeError, (f"duration({_kind(value)})",))


def _cel_timestamp(value: Any) -> Any:
    if isinstance(value, CELEvalError):
        return value
    if isinstance(value, celtypes.StringType) and not _RFC3339.fullmatch(value):
        return CELEvalError("invalid timestamp", ValueError, (str(value),))
    try:
        return celtypes.TimestampType(value)
    except (ValueError, TypeError) as e:
        return CELEvalError("invalid timestamp", type(e), e.args)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "_==_": _cel_eq,
    "_!=_": _cel_ne,
    "_<_": _cel_lt,
    "_<=_": _cel_le,
    "_>_": _cel_gt,
    "_>=_": _cel_ge,
    "_in_": _cel_in,
    "duration": _cel_duration,
    "timestamp": _cel_timestamp,
}


# ---------------------------------------------------------------- value conversion


def _to_cel(value: Any) -> Any:
    """Plain Python (activation) -> celpy values."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime in activation: {value!r}")
        return celtypes.TimestampType(value.astimezone(UTC))
    if isinstance(value, date):
        return celtypes.TimestampType(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, timedelta):
        return celtypes.DurationType(value)
    if isinstance(value, list | tuple):
        return celtypes.ListType([_to_cel(v) for v in value])
    if isinstance(value, dict):
        return celtypes.MapType({_to_cel(k): _to_cel(v) for k, v in value.items()})
    if isinstance(value, bytes):
        return celtypes.BytesType(value)
    raise TypeError(f"unsupported activation value {type(value).__name__}")


def _from_cel(value: Any) -> Any:
    """celpy values (subclasses of Python builtins, or builtins) -> plain Python."""
    if value is None or value is _NULL:
        return None
    if isinstance(value, bool | celtypes.BoolType):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, datetime):
        v = value.astimezone(UTC)
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond,
                        tzinfo=UTC)
    if isinstance(value, timedelta):
        return timedelta(days=value.days, seconds=value.seconds, microseconds=value.microseconds)
    if isinstance(value, list):
        return [_from_cel(v) for v in value]
    if isinstance(value, dict):
        return {_from_cel(k): _from_cel(v) for k, v in value.items()}
    return str(value)  # a type value, e.g. type(1)


def _message(error: BaseException) -> str:
    """The innermost readable message of a (nested) CELEvalError."""
    args: Any = error.args
    message = "evaluation error"
    while isinstance(args, tuple) and args:
        if isinstance(args[0], str) and args[0] != "evaluation error":
            message = args[0]
            detail = args[2] if len(args) > 2 else None
            if isinstance(detail, tuple) and detail and isinstance(detail[0], str):
                if detail[0] != message and not detail[0].startswith(message):
                    message = f"{message}: {detail[0]}"
                else:
                    message = detail[0]
            break
        args = args[2] if len(args) > 2 else None
    return message


# ---------------------------------------------------------------- engine


class CelPyProgram(Program):
    """A transpiled cel-python program."""

    def __init__(self, source: str, runner: celpy.Runner) -> None:
        self.source = source
        self._runner = runner

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        context = {name: _to_cel(value) for name, value in activation.items()}
        _budget.left, _budget.exceeded = COMPREHENSION_BUDGET, False
        try:
            value = self._runner.evaluate(context)
        except CELEvalError as e:
            if _budget.exceeded:
                raise EvalFailure(BUDGET_EXCEEDED) from e
            raise EvalFailure(_message(e)) from e
        finally:
            _budget.left = None
        if _budget.exceeded:  # absorbed by || or && inside celpy: still a failure
            raise EvalFailure(BUDGET_EXCEEDED)
        if isinstance(value, CELEvalError):
            raise EvalFailure(_message(value))
        return _from_cel(value)


class CelPyEngine(Engine):
    """cel-python with ``CompiledRunner``; one Environment per process."""

    name = "celpy"

    def compile(self, source: str) -> Program:
        env = _env()
        tree = parse(source)  # raises ExprError with the offset
        runner = env.program(tree, functions=_FUNCTIONS)
        return CelPyProgram(source, runner)
