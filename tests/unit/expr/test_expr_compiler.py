"""CompiledExpression: memo keys, cached failures, activations, null handling, KEV dates."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchpolicy.expr import (
    CompiledExpression,
    Engine,
    EngineName,
    EvalFailure,
    Program,
    compile_expression,
    get_engine,
)
from patchpolicy.expr.engines import cel_expr_available
from patchpolicy.model.fleet import FindingRecord, HostRecord, KevRecord, PackageRecord

HOST = HostRecord(id="h1", env="prod", tags=("cde", "web"), labels={"ring": "1"})
FINDING = FindingRecord(id="f1", vuln="CVE-2024-1", severity="high", cvss=7.5)

ENGINES = [
    pytest.param(EngineName.CELPY, id="celpy"),
    pytest.param(
        EngineName.CEL_EXPR,
        id="cel-expr",
        marks=pytest.mark.skipif(not cel_expr_available(), reason="cel-expr-python is not installed"),
    ),
]


class CountingEngine(Engine):
    """A fake that wraps a real engine and counts program evaluations."""

    name = "counting"

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.evaluations = 0
        self.activations: list[Mapping[str, Any]] = []

    def compile(self, source: str) -> Program:
        program = self.inner.compile(source)
        outer = self

        class Counted(Program):
            def evaluate(self, activation: Mapping[str, Any]) -> Any:
                outer.evaluations += 1
                outer.activations.append(activation)
                return program.evaluate(activation)

        return Counted()


def counting(source: str, **kwargs: Any) -> tuple[CompiledExpression, CountingEngine]:
    engine = CountingEngine(get_engine(EngineName.CELPY))
    return compile_expression(source, engine=engine, **kwargs), engine


def finding(**changes: Any) -> FindingRecord:
    return msgspec.structs.replace(FINDING, **changes)


def test_thousand_findings_three_severities_three_evaluations() -> None:
    compiled, engine = counting('finding.severity == "critical"')
    severities = ["critical", "high", "low"]
    results = [
        compiled.evaluate(HOST, finding(id=f"f{i}", severity=severities[i % 3]))
        for i in range(1000)
    ]
    assert engine.evaluations == 3
    info = compiled.cache_info()
    assert (info.hits, info.misses, info.size) == (997, 3, 3)
    assert results.count(True) == 334


def test_unread_fields_do_not_split_the_memo() -> None:
    compiled, engine = counting('host.env == "prod"')
    for i in range(50):
        compiled.evaluate(HostRecord(id=f"h{i}", env="prod", owner=f"o{i}"), FINDING)
    assert engine.evaluations == 1


def test_failures_are_cached_and_raised_again() -> None:
    compiled, engine = counting("finding.cvss >= 7.0")
    for _ in range(3):
        with pytest.raises(EvalFailure, match="no such overload"):
            compiled.evaluate(HOST, finding(cvss=None))
    assert engine.evaluations == 1
    assert compiled.cache_info().hits == 2


def test_non_bool_result_is_a_failure() -> None:
    compiled, _ = counting("[1, true][0]")
    with pytest.raises(EvalFailure, match="expression returned int, not bool"):
        compiled.evaluate(HOST, FINDING)


def test_order_free_list_use_is_keyed_sorted() -> None:
    compiled, engine = counting('"cde" in host.tags')
    compiled.evaluate(HOST, FINDING)
    compiled.evaluate(msgspec.structs.replace(HOST, tags=("web", "cde")), FINDING)
    assert engine.evaluations == 1


def test_order_sensitive_list_use_keeps_order() -> None:
    compiled, engine = counting('host.tags[0] == "cde"')
    assert compiled.evaluate(HOST, FINDING) is True
    assert compiled.evaluate(msgspec.structs.replace(HOST, tags=("web", "cde")), FINDING) is False
    assert engine.evaluations == 2


def test_map_key_is_its_sorted_items() -> None:
    compiled, engine = counting('host.labels["ring"] == "1"')
    compiled.evaluate(msgspec.structs.replace(HOST, labels={"a": "x", "ring": "1"}), FINDING)
    compiled.evaluate(msgspec.structs.replace(HOST, labels={"ring": "1", "a": "x"}), FINDING)
    assert engine.evaluations == 1


def test_null_message_and_null_leaf_are_distinct_keys() -> None:
    compiled, engine = counting('finding.package.version == null')
    with pytest.raises(EvalFailure):  # selecting through a null message
        compiled.evaluate(HOST, finding(package=None))
    assert compiled.evaluate(HOST, finding(package=PackageRecord(name="x"))) is True
    assert engine.evaluations == 2


def test_message_null_test_keys_on_presence_only() -> None:
    compiled, engine = counting("finding.kev != null")
    for day in range(1, 20):
        assert compiled.evaluate(HOST, finding(kev=KevRecord(date_added=date(2024, 1, day))))
    assert compiled.evaluate(HOST, finding(kev=None)) is False
    assert engine.evaluations == 2


def test_activation_is_minimal_with_every_field_along_the_path() -> None:
    compiled, engine = counting(
        'finding.kev != null && finding.kev.ransomware == false && finding.package.name == "x"'
    )
    kev = KevRecord(date_added=date(2024, 1, 10), due_date=date(2024, 1, 31))
    with pytest.raises(EvalFailure):  # finding.package.name through a null package
        compiled.evaluate(HOST, finding(kev=kev, package=None))
    (activation,) = engine.activations
    assert activation == {
        "finding": {
            "kev": {  # a whole message read carries all its fields
                "date_added": datetime(2024, 1, 10, tzinfo=UTC),
                "due_date": datetime(2024, 1, 31, tzinfo=UTC),
                "ransomware": False,
            },
            "package": None,  # null on the way: present, so selecting through it errors
        }
    }


def test_activation_null_leaf_is_present() -> None:
    compiled, engine = counting("finding.cvss == null")
    assert compiled.evaluate(HOST, finding(cvss=None)) is True
    assert engine.activations == [{"finding": {"cvss": None}}]


def test_guarded_null_message_is_false_not_error() -> None:
    compiled, _ = counting("finding.kev != null && finding.kev.ransomware")
    assert compiled.evaluate(HOST, finding(kev=None)) is False


@pytest.mark.parametrize("engine", ENGINES)
def test_kev_dates_are_timestamps_at_start_of_day_utc(engine: EngineName) -> None:
    compiled = compile_expression(
        'finding.kev.due_date == timestamp("2024-01-31T00:00:00Z")'
        ' && finding.kev.date_added + duration("24h") == timestamp("2024-01-11T00:00:00Z")',
        engine=get_engine(engine),
    )
    kev = KevRecord(date_added=date(2024, 1, 10), due_date=date(2024, 1, 31))
    assert compiled.evaluate(HOST, finding(kev=kev)) is True


@pytest.mark.parametrize("engine", ENGINES)
def test_null_timestamp_compares_with_null(engine: EngineName) -> None:
    compiled = compile_expression(
        "finding.kev.due_date == null", engine=get_engine(engine)
    )
    assert compiled.evaluate(HOST, finding(kev=KevRecord(date_added=date(2024, 1, 1)))) is True


@pytest.mark.parametrize("engine", ENGINES)
def test_timestamps_keep_microseconds(engine: EngineName) -> None:
    seen = datetime(2024, 1, 6, 10, 30, 15, 123456, tzinfo=UTC)
    compiled = compile_expression(
        'finding.first_seen_at == timestamp("2024-01-06T10:30:15.123456Z")', engine=get_engine(engine)
    )
    assert compiled.evaluate(HOST, finding(first_seen_at=seen)) is True


def test_evaluate_host_for_scopes() -> None:
    compiled = compile_expression('"cde" in host.tags', roots=frozenset({"host"}))
    assert compiled.evaluate_host(HOST) is True
    assert compiled.evaluate_host(msgspec.structs.replace(HOST, tags=())) is False


def test_finding_needed_but_missing() -> None:
    compiled = compile_expression('finding.severity == "high"')
    with pytest.raises(ValueError, match="reads finding"):
        compiled.evaluate_host(HOST)


def test_constant_expression_has_empty_key() -> None:
    compiled, engine = counting("1 + 1 == 2")
    assert compiled.paths == ()
    assert compiled.evaluate(HOST, FINDING) and compiled.evaluate(HOST, None)
    assert engine.evaluations == 1


def test_properties_and_repr() -> None:
    compiled = compile_expression('finding.id == "x"', engine=get_engine(EngineName.CELPY))
    assert compiled.source == 'finding.id == "x"'
    assert compiled.paths == (("finding", "id"),)
    assert compiled.engine == "celpy"
    assert "finding.id" in repr(compiled)


@settings(max_examples=60, deadline=None)
@given(
    severity=st.sampled_from(["critical", "high", "medium", "low", "none", "unknown"]),
    cvss=st.none() | st.floats(min_value=0, max_value=10),
    tags=st.lists(st.sampled_from(["cde", "web", "db"]), max_size=3),
)
def test_memoised_equals_fresh(severity: str, cvss: float | None, tags: list[str]) -> None:
    """Whatever the memo holds, a hit answers exactly what a fresh evaluation would."""
    source = '(finding.severity == "critical" || finding.cvss >= 7.0) && "cde" in host.tags'
    host = msgspec.structs.replace(HOST, tags=tuple(tags))
    item = finding(severity=severity, cvss=cvss)

    def run(compiled: CompiledExpression) -> bool | str:
        try:
            return compiled.evaluate(host, item)
        except EvalFailure as e:
            return f"error: {e}"

    fresh = compile_expression(source, engine=get_engine(EngineName.CELPY))
    expected = run(fresh)
    assert run(SHARED) == expected
    assert run(SHARED) == expected


SHARED = compile_expression(
    '(finding.severity == "critical" || finding.cvss >= 7.0) && "cde" in host.tags',
    engine=get_engine(EngineName.CELPY),
)
