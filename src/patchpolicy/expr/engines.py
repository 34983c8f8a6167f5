"""The closed set of CEL engines and the factory that builds them.

``default_engine()`` is cel-expr (the CEL C++ runtime, much faster on memo misses) when
``cel_expr_python`` imports, else celpy; ``PATCHPOLICY_CEL_ENGINE=celpy|cel-expr``
forces one. Engine instances are process-wide: one per name.
"""

from __future__ import annotations

import importlib.util
import os
from enum import StrEnum
from typing import assert_never

from patchpolicy.errors import InputError
from patchpolicy.expr.interface import Engine

__all__ = ["ENGINE_ENV_VAR", "EngineName", "default_engine", "get_engine"]

ENGINE_ENV_VAR = "PATCHPOLICY_CEL_ENGINE"


class EngineName(StrEnum):
    CELPY = "celpy"
    CEL_EXPR = "cel-expr"


_engines: dict[EngineName, Engine] = {}


def cel_expr_available() -> bool:
    """Whether cel-expr-python is installed (without importing it)."""
    return importlib.util.find_spec("cel_expr_python") is not None


def default_engine() -> EngineName:
    """The engine to use: the environment variable's, else cel-expr if installed, else celpy.

    Raises InputError for an unknown name in the environment variable.
    """
    forced = os.environ.get(ENGINE_ENV_VAR, "").strip()
    if forced:
        try:
            return EngineName(forced)
        except ValueError:
            choices = ", ".join(e.value for e in EngineName)
            raise InputError(
                f"{ENGINE_ENV_VAR}={forced!r}: unknown CEL engine (expected one of {choices})"
            ) from None
    return EngineName.CEL_EXPR if cel_expr_available() else EngineName.CELPY


def _build(name: EngineName) -> Engine:
    if name is EngineName.CELPY:
        from patchpolicy.expr.celpy_engine import CelPyEngine

        return CelPyEngine()
    if name is EngineName.CEL_EXPR:
        if not cel_expr_available():
            raise InputError(
                "CEL engine 'cel-expr' needs the cel-expr-python package, which is not installed"
            )
        from patchpolicy.expr.celexpr_engine import CelExprEngine

        return CelExprEngine()
    assert_never(name)


def get_engine(name: EngineName | str | None = None) -> Engine:
    """The process-wide engine called ``name`` (default: :func:`default_engine`)."""
    if name is None:
        key = default_engine()
    else:
        try:
            key = EngineName(name)
        except ValueError:
            raise InputError(f"unknown CEL engine {name!r}") from None
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = _build(key)
    return engine
