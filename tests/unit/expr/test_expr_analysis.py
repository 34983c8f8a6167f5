"""Static analysis: paths read, names checked with hints and offsets, result types."""

from __future__ import annotations

import pytest

from patchpolicy.errors import ExprError
from patchpolicy.expr import compile_expression
from patchpolicy.expr.analysis import analyse, parse, timestamp_read_spans

HOST_ONLY = frozenset({"host"})


@pytest.mark.parametrize(
    ("source", "paths"),
    [
        ('finding.severity == "high"', [("finding", "severity")]),
        ("finding.kev != null", [("finding", "kev")]),
        ('finding.kev.due_date < timestamp("2025-01-01T00:00:00Z")', [("finding", "kev", "due_date")]),
        ('"cde" in host.tags', [("host", "tags")]),
        ('host.tags.exists(t, t == "x")', [("host", "tags")]),
        ('host.labels["ring"] == "1"', [("host", "labels")]),
        ('host.labels.ring == "1"', [("host", "labels")]),
        ("has(host.labels.ring)", [("host", "labels")]),
        ('finding.package.name == "openssl" && finding.package.version != null',
         [("finding", "package", "name"), ("finding", "package", "version")]),
        ('host.env == "prod" || finding.cvss >= 7.0',
         [("finding", "cvss"), ("host", "env")]),
        ("size(finding.aliases) > 1", [("finding", "aliases")]),
        ('finding.vuln.startsWith("CVE-")', [("finding", "vuln")]),
        ("(finding.kev) != null", [("finding", "kev")]),
        ('host.os != null && host.os.family == "debian"', [("host", "os"), ("host", "os", "family")]),
        ("[1, 2].exists(x, x == 1)", []),
        ('finding.severity == "high" ? finding.epss > 0.5 : host.exposure == "internet"',
         [("finding", "epss"), ("finding", "severity"), ("host", "exposure")]),
        ("finding.kev.date_added + duration(\"24h\") > host.last_scan",
         [("finding", "kev", "date_added"), ("host", "last_scan")]),
    ],
)
def test_paths(source: str, paths: list[tuple[str, ...]]) -> None:
    assert list(analyse(source).paths) == paths


@pytest.mark.parametrize(
    ("source", "message", "bad"),
    [
        ('finding.sevrity == "high"', "did you mean 'severity'?", "sevrity"),
        ('host.enviroment == "prod"', "did you mean 'env'?", "enviroment"),
        ('finding.kev.due_dat != null', "did you mean 'due_date'?", "due_dat"),
        ('host.os.famly == "debian"', "did you mean 'family'?", "famly"),
        ('finding.kev != null && finding.cvs > 7.0', "did you mean 'cvss'?", "cvs"),
    ],
)
def test_unknown_field_hint_and_offset(source: str, message: str, bad: str) -> None:
    with pytest.raises(ExprError) as info:
        analyse(source)
    assert message in info.value.message
    assert info.value.offset == source.index(bad)


def test_unknown_field_in_multiline_expression() -> None:
    source = 'host.env == "prod"\n  && finding.sevrity == "high"'
    with pytest.raises(ExprError) as info:
        analyse(source)
    assert info.value.offset == source.index("sevrity")


def test_unknown_field_without_hint() -> None:
    with pytest.raises(ExprError, match=r"unknown field 'zzzz' in finding$"):
        analyse("finding.zzzz == 1")


@pytest.mark.parametrize(
    ("source", "roots", "bad", "hint"),
    [
        ('hots.env == "prod"', frozenset({"host", "finding"}), "hots", "did you mean 'host'?"),
        ('finding.severity == "high"', HOST_ONLY, "finding", ""),
        ('host.tags.exists(t, t == "x") && t == "y"', frozenset({"host"}), "t ==", ""),
        ('request.path == "/"', frozenset({"host", "finding"}), "request", ""),
    ],
)
def test_unknown_root(source: str, roots: frozenset[str], bad: str, hint: str) -> None:
    with pytest.raises(ExprError, match="unknown identifier") as info:
        analyse(source, roots=roots)
    expected = source.rindex(bad) if bad == "t ==" else source.index(bad)
    assert info.value.offset == expected
    assert hint in info.value.message


def test_comprehension_variable_is_in_scope_only_inside() -> None:
    assert analyse('host.tags.exists(t, t.startsWith("c"))').result_type == "bool"


def test_comprehension_variable_may_not_shadow_a_root() -> None:
    with pytest.raises(ExprError, match="shadows the root 'host'"):
        analyse('host.tags.exists(host, host == "x")')


def test_select_into_scalar() -> None:
    source = 'finding.severity.foo == "x"'
    with pytest.raises(ExprError, match="it is a string, not a message") as info:
        analyse(source)
    assert info.value.offset == source.index("foo")


def test_select_into_map_value() -> None:
    with pytest.raises(ExprError, match="cannot select 'x'"):
        analyse('host.labels.ring.x == "1"')


@pytest.mark.parametrize("source", ["finding.kev == {}", "host", "[finding.kev].size() == 1",
                                    "finding.package.size() > 0"])
def test_whole_message_only_against_null(source: str) -> None:
    with pytest.raises(ExprError, match="is a message"):
        analyse(source)


@pytest.mark.parametrize(
    ("source", "offset"),
    [
        ('finding.severity == ', len("finding.severity ==")),
        ('host.env == "prod" && && true', len('host.env == "prod" && ')),
        ("finding.cvss >= 7.0 #", len("finding.cvss >= 7.0 ")),
        ('host.env == "prod"\n  && (finding.cvss >', len('host.env == "prod"\n  && (finding.cvss >')),
        ('host.env == "prod"\n  && ) ', len('host.env == "prod"\n  && ')),
    ],
)
def test_syntax_error_offset(source: str, offset: int) -> None:
    with pytest.raises(ExprError, match="syntax error") as info:
        analyse(source)
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("source", "type_name"),
    [
        ("finding.severity", "string"),
        ("finding.cvss + 1.0", "double"),
        ("finding.cvss", "double"),
        ("finding.published_at", "timestamp"),
        ("1", "int"),
        ('"yes"', "string"),
        ("null", "null"),
        ("size(host.tags)", "int"),
        ("host.tags", "list"),
        ('host.labels["ring"]', "string"),
        ("host.labels.ring", "string"),
        ('duration("1h")', "duration"),
        ("finding.published_at - finding.first_seen_at", "duration"),
        ("-finding.cvss", "double"),
        ('finding.cvss > 7.0 ? "a" : "b"', "string"),
        ('finding.cvss > 7.0 ? true : "b"', "string"),
        ("host.tags.map(t, t == \"x\")", "list"),
    ],
)
def test_non_bool_rejected(source: str, type_name: str) -> None:
    with pytest.raises(ExprError, match=f"must return bool, not {type_name}"):
        analyse(source)
    analyse(source, expect_bool=False)  # fine where a value is wanted


@pytest.mark.parametrize(
    "source",
    [
        "true",
        'finding.severity == "high"',
        "finding.cvss >= 7 && finding.epss > 0.1",
        "!(finding.kev != null)",
        '"cde" in host.tags',
        "has(host.labels.ring)",
        'host.tags.exists(t, t == "x")',
        'host.tags.all(t, t != "x")',
        "finding.kev.ransomware",
        "finding.kev != null ? finding.kev.ransomware : false",
        'host.labels["critical"] == "yes" || host.criticality == "critical"',
        '[true][0]',  # unknown statically: left to run time
        'finding.vuln.matches("^CVE")',
    ],
)
def test_bool_accepted(source: str) -> None:
    analyse(source)


@pytest.mark.parametrize("literal", ["15d", "2w", "1y", "1 h", "h", "1H"])
def test_non_standard_duration_units_rejected(literal: str) -> None:
    source = f'finding.published_at + duration("{literal}") < host.last_scan'
    with pytest.raises(ExprError, match="not a CEL duration") as info:
        analyse(source)
    assert info.value.offset == source.index(f'"{literal}"')


def test_day_duration_gets_an_hours_hint() -> None:
    with pytest.raises(ExprError, match="write '360h'"):
        analyse('duration("15d") > duration("1h")')


@pytest.mark.parametrize("literal", ["72h", "30m", "1h30m", "1.5h", "10s", "100ms", "5us", "7ns", "-1h", "0"])
def test_standard_duration_units_accepted(literal: str) -> None:
    analyse(f'duration("{literal}") >= duration("0s")')


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ('finding.id == "x"', "finding.id"),
        ('host.id == "x"', "host.id"),
        ('host.name == "x"', "host.name"),
        ('finding.vuln == "CVE-1"', "finding.vuln"),
        ('finding.package.purl == "x"', "finding.package.purl"),
        ('"x" in finding.aliases', "finding.aliases"),
        ('finding.published_at > timestamp("2024-01-01T00:00:00Z")', "finding.published_at"),
        ('finding.kev.due_date > timestamp("2024-01-01T00:00:00Z")', "finding.kev.due_date"),
    ],
)
def test_high_cardinality_warnings(source: str, field: str) -> None:
    compiled = compile_expression(source)
    assert compiled.warnings == (
        f"reads high-cardinality field {field}: evaluation cannot be memoised well",
    )


def test_low_cardinality_reads_have_no_warnings() -> None:
    assert compile_expression('finding.severity == "high" && host.env == "prod"').warnings == ()


@pytest.mark.parametrize("source", ["has(finding.kev)", "has(finding.package.purl)", "has(host.env)"])
def test_has_on_schema_fields_rejected(source: str) -> None:
    with pytest.raises(ExprError, match=r"always true.*!= null"):
        analyse(source)


def test_timestamp_read_spans_skip_unknown_names() -> None:
    source = 'finding.kev.due_date < x.y && finding.published_at != null'
    spans = timestamp_read_spans(parse(source), source)
    assert [source[a:b] for a, b in spans] == ["finding.kev.due_date", "finding.published_at"]


def test_roots_must_be_known() -> None:
    with pytest.raises(ValueError, match="not in the CEL field tree"):
        analyse("true", roots=frozenset({"request"}))


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        ('finding.severity == "high" || (finding.cvss >= 7.0', 30, "'(' is never closed"),
        ('"a" in ["x", "y"', 7, "'[' is never closed"),
        ('host.tags.exists(t, t == "(")', None, None),  # a bracket inside a string is text
        ("host.labels[\"a\"] == 'x' && (finding.cvss >", 42, "unexpected end of expression"),
    ],
)
def test_truncated_expression_points_at_the_open_bracket(
    source: str, offset: int | None, message: str | None
) -> None:
    if offset is None:
        compile_expression(source)
        return
    with pytest.raises(ExprError) as info:
        compile_expression(source)
    assert info.value.offset == offset
    assert message is not None and message in info.value.message
