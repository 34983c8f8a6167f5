"""The CEL bridge: compile once, check fields statically, evaluate memoised on the
attributes an expression reads, on one of two engines that must agree.

``compile_expression(source)`` -> :class:`CompiledExpression`, whose ``evaluate(host,
finding)`` returns a bool or raises :class:`EvalFailure` (never "no match").
"""

from patchpolicy.expr.compiler import CacheInfo, CompiledExpression, compile_expression
from patchpolicy.expr.engines import EngineName, default_engine, get_engine
from patchpolicy.expr.interface import Engine, EvalFailure, Program

__all__ = [
    "CacheInfo",
    "CompiledExpression",
    "Engine",
    "EngineName",
    "EvalFailure",
    "Program",
    "compile_expression",
    "default_engine",
    "get_engine",
]
