"""Engine names, the factory and the default choice."""

from __future__ import annotations

import pytest

from patchpolicy.errors import ExprError, InputError
from patchpolicy.expr import Engine, EngineName, EvalFailure, default_engine, get_engine
from patchpolicy.expr.engines import ENGINE_ENV_VAR, cel_expr_available


@pytest.mark.parametrize("name", list(EngineName))
def test_every_engine_builds_and_runs(name: EngineName) -> None:
    if name is EngineName.CEL_EXPR and not cel_expr_available():
        pytest.skip("cel-expr-python is not installed")
    engine = get_engine(name)
    assert isinstance(engine, Engine)
    assert engine.name == name.value
    assert get_engine(name.value) is engine  # one per process
    assert engine.compile('host.env == "prod"').evaluate({"host": {"env": "prod"}}) is True
    with pytest.raises(EvalFailure):
        engine.compile("1 / 0").evaluate({})
    with pytest.raises(ExprError) as info:
        engine.compile("host.env ==")
    assert info.value.offset == len("host.env ==")


def test_default_prefers_cel_expr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENGINE_ENV_VAR, raising=False)
    expected = EngineName.CEL_EXPR if cel_expr_available() else EngineName.CELPY
    assert default_engine() is expected
    assert get_engine().name == expected.value


@pytest.mark.parametrize("name", list(EngineName))
def test_env_var_forces_engine(monkeypatch: pytest.MonkeyPatch, name: EngineName) -> None:
    monkeypatch.setenv(ENGINE_ENV_VAR, name.value)
    assert default_engine() is name


def test_env_var_unknown_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENGINE_ENV_VAR, "cel-go")
    with pytest.raises(InputError, match="unknown CEL engine"):
        default_engine()


def test_unknown_engine_name() -> None:
    with pytest.raises(InputError, match="unknown CEL engine 'cel-go'"):
        get_engine("cel-go")


def test_celpy_engine_independent_of_celpys_parser_singleton(monkeypatch: pytest.MonkeyPatch) -> None:
    """Another part of the process may build cel-python's parser for plain lark trees."""
    import celpy
    from celpy.celparser import CELParser

    monkeypatch.setattr(CELParser, "CEL_PARSER", None)
    celpy.Environment()  # the default InterpretedRunner: lark.Tree nodes
    engine = get_engine(EngineName.CELPY)
    assert engine.compile('"a" in host.tags').evaluate({"host": {"tags": ["a"]}}) is True
