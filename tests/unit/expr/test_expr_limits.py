"""Parsing is bounded: documented limits on CEL expression depth and size (issue 12 #5)."""

from __future__ import annotations

import msgspec
import pytest

from patchpolicy.errors import ExprError
from patchpolicy.expr.analysis import MAX_EXPRESSION_LENGTH
from patchpolicy.expr.compiler import compile_expression
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
