"""Parsing and evaluation are bounded: documented limits on CEL expression depth and size,
and the comprehension budget of both engines (issue 12 #5)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest

from patchpolicy.errors import ExprError
from patchpolicy.expr.analysis import MAX_EXPRESSION_LENGTH
from patchpolicy.expr.compiler import compile_expression
from patchpolicy.expr.engines import EngineName, cel_expr_available, get_engine
from patchpolicy.expr.interface import BUDGET_EXCEEDED, COMPREHENSION_BUDGET, EvalFailure
from patchpolicy.model.fleet import FindingRecord, HostRecord


@pytest.mark.parametrize(
    "source",
    ["(" * 100 + "true" + ")" * 100, " || ".join(['finding.severity == "high"'] * 1000)],
    ids=["100-parentheses", "1000-term-or"],
)
def test_too_deep_is_a_clear_error_not_a_recursion_error(source: str) -> None:
    with pytest.raises(ExprError, match="nests too deeply") as info:
        compile_expression(source)
    assert info.value.offset == 0


def test_too_long_is_a_clear_error() -> None:
    source = "finding.vuln == " + '"' + "x" * MAX_EXPRESSION_LENGTH + '"'
    with pytest.raises(ExprError, match="characters long; the limit is"):
        compile_expression(source)


def test_long_legitimate_expressions_keep_working() -> None:
    ids = [f"CVE-2026-{i:05d}" for i in range(5000)]
    listed = compile_expression("finding.vuln in [" + ", ".join(f'"{c}"' for c in ids) + "]")
    chained = compile_expression(" || ".join(f'finding.vuln == "{c}"' for c in ids[:200]))
    nested = compile_expression("(" * 20 + 'finding.severity == "high"' + ")" * 20)
    host = msgspec.convert({"id": "h"}, HostRecord)
    hit = msgspec.convert({"id": "f", "vuln": "CVE-2026-00150", "severity": "high"}, FindingRecord)
    miss = msgspec.convert({"id": "g", "vuln": "CVE-1999-0001", "severity": "low"}, FindingRecord)
    assert listed.evaluate(host, hit) and not listed.evaluate(host, miss)
    assert chained.evaluate(host, hit) and not chained.evaluate(host, miss)
    assert nested.evaluate(host, hit) and not nested.evaluate(host, miss)


ENGINES = [
    EngineName.CELPY,
    pytest.param(
        EngineName.CEL_EXPR,
        marks=pytest.mark.skipif(not cel_expr_available(), reason="cel-expr-python absent"),
    ),
]


def _tags(n: int) -> dict[str, Any]:
    return {"host": {"tags": [f"t{i}" for i in range(n)]}}


@pytest.mark.parametrize("engine", ENGINES)
def test_nested_comprehensions_stop_at_the_budget_not_after_hours(engine: EngineName) -> None:
    program = get_engine(engine).compile(
        "host.tags.all(a, host.tags.all(b, host.tags.all(c, a != 'x')))"
    )
    started = time.monotonic()
    with pytest.raises(EvalFailure) as info:
        program.evaluate(_tags(1000))
    assert info.value.message == BUDGET_EXCEEDED
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("source", "n", "expected"),
    [
        ("host.tags.all(a, a != 'x')", COMPREHENSION_BUDGET - 1, True),
        ("host.tags.all(a, a != 'x')", COMPREHENSION_BUDGET, None),
        ("host.tags.filter(a, true).size() > 0", COMPREHENSION_BUDGET, None),
        ("host.tags.exists_one(a, a == 't0')", COMPREHENSION_BUDGET, None),
        # Two loops share one budget per evaluation.
        ("host.tags.all(a, a != 'x') && host.tags.all(a, a != 'x')", 5000, None),
        # || cannot absorb the budget error ...
        ("host.tags.all(a, a != 'x') || true", COMPREHENSION_BUDGET, None),
        # ... and all/exists stop at the element that decides them.
        ("host.tags.exists(a, a == 't0')", 3 * COMPREHENSION_BUDGET, True),
        ("host.tags.all(a, a != 't1')", 3 * COMPREHENSION_BUDGET, False),
        ("host.tags.all(a, host.tags.exists(b, b == 'x'))", 100, False),
    ],
)
def test_both_engines_count_the_same_iterations(
    engine: EngineName, source: str, n: int, expected: bool | None
) -> None:
    program = get_engine(engine).compile(source)
    if expected is None:
        with pytest.raises(EvalFailure, match="comprehension budget exceeded"):
            program.evaluate(_tags(n))
    else:
        assert program.evaluate(_tags(n)) is expected


def test_short_circuit_keeps_error_semantics() -> None:
    """false beats an error in all(), true beats one in exists(); else the error stands."""
    engine = get_engine(EngineName.CELPY)
    data = {"host": {"tags": ["1", "x", "0"]}}
    assert engine.compile("host.tags.all(t, int(t) > 5)").evaluate(data) is False
    assert engine.compile("host.tags.exists(t, int(t) < 5)").evaluate(data) is True
    with pytest.raises(EvalFailure):
        engine.compile("host.tags.all(t, int(t) >= 0)").evaluate(data)
    with pytest.raises(EvalFailure):
        engine.compile("host.tags.exists(t, int(t) < 0)").evaluate(data)
