"""Conformance: one corpus, both engines, identical outcomes.

Every case runs through the whole bridge (static checks, memo, activation, engine) on
each engine and must give its recorded outcome: True, False, ERR (EvalFailure at run
time) or COMPILE (ExprError). ``VALUE_CASES`` run below the bridge, on the Engine API,
for non-bool results. Where the engines differ natively, the adapters normalise (see
the celpy_engine and celexpr_engine module docstrings); no case is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest

from patchpolicy.errors import ExprError
from patchpolicy.expr import EngineName, EvalFailure, compile_expression, get_engine
from patchpolicy.expr.engines import cel_expr_available
from patchpolicy.model.fleet import (
    FindingRecord,
    HostRecord,
    KevRecord,
    OsRecord,
    PackageRecord,
)

ERR = "error"
COMPILE = "compile-error"

HOST = HostRecord(
    id="web-1",
    name="web-1.example",
    env="prod",
    tags=("cde", "web"),
    labels={"ring": "1", "team": "payments"},
    owner="ops@example.com",
    criticality="high",
    exposure="internet",
    os=OsRecord(family="debian", version="12"),
    last_scan=datetime(2024, 2, 1, tzinfo=UTC),
)
FINDING = FindingRecord(
    id="CVE-2024-1/openssl",
    vuln="CVE-2024-1",
    aliases=("GHSA-xxxx",),
    package=PackageRecord(name="openssl", version="3.0.1", purl="pkg:deb/debian/openssl@3.0.1"),
    severity="high",
    cvss=7.5,
    epss=0.42,
    kev=KevRecord(date_added=date(2024, 1, 10), due_date=date(2024, 1, 31)),
    published_at=datetime(2024, 1, 5, 12, tzinfo=UTC),
    first_seen_at=datetime(2024, 1, 6, tzinfo=UTC),
    provenance={"cvss": "nvd"},
)
NO_KEV = msgspec.structs.replace(FINDING, kev=None)
NO_CVSS = msgspec.structs.replace(FINDING, cvss=None)
NO_PACKAGE = msgspec.structs.replace(FINDING, package=None)
CVSS_7 = msgspec.structs.replace(FINDING, cvss=7.0)
SOAK_DAYS = msgspec.structs.replace(HOST, labels={"soak": "15d"})
SOAK_HOURS = msgspec.structs.replace(HOST, labels={"soak": "36h"})


@dataclass(frozen=True)
class Case:
    source: str
    expected: bool | str
    host: HostRecord = HOST
    finding: FindingRecord | None = FINDING


CASES: list[Case] = [
    # fields, lists, maps
    Case('finding.severity == "high"', True),
    Case('finding.severity == "critical"', False),
    Case('finding.severity in ["critical", "high"]', True),
    Case('host.env == "prod" && "cde" in host.tags', True),
    Case('"pci" in host.tags', False),
    Case('host.tags.exists(t, t.startsWith("w"))', True),
    Case("host.tags.all(t, size(t) == 3)", True),
    Case('host.tags.exists_one(t, t == "cde")', True),
    Case("size(host.tags) == 2", True),
    Case("host.tags.size() > 5", False),
    Case('host.tags.map(t, t + "!").exists(t, t == "cde!")', True),
    Case('host.tags.filter(t, t != "cde").size() == 1', True),
    Case('host.tags == ["cde", "web"]', True),
    Case('host.tags[0] == "cde"', True),
    Case('host.tags[5] == "x"', ERR),
    Case('host.labels["ring"] == "1"', True),
    Case('host.labels.ring == "1"', True),
    Case('host.labels["zone"] == "a"', ERR),
    Case('"zone" in host.labels', False),
    Case("has(host.labels.team)", True),
    Case("has(host.labels.zone)", False),
    Case('host.labels.exists(k, k == "team")', True),
    Case("host.labels.size() == 2", True),
    Case('finding.provenance.cvss == "nvd"', True),
    Case('host.os.family == "debian"', True),
    Case('finding.status == "open" && finding.severity in ["critical", "high"] && host.exposure == "internet"', True),
    Case('host.criticality == "high" || host.exposure == "isolated"', True),
    Case("finding.epss >= 0.4 && finding.kev != null", True),
    # nulls
    Case("finding.kev != null", True),
    Case("finding.kev != null", False, finding=NO_KEV),
    Case("finding.kev == null", True, finding=NO_KEV),
    Case("finding.kev.ransomware", False),
    Case("finding.kev.ransomware", ERR, finding=NO_KEV),
    Case("finding.kev != null && finding.kev.ransomware", False, finding=NO_KEV),
    Case("finding.kev.ransomware || true", True, finding=NO_KEV),
    Case("finding.cvss >= 7.0", ERR, finding=NO_CVSS),
    Case("finding.cvss != null && finding.cvss >= 7.0", False, finding=NO_CVSS),
    Case("finding.cvss == null", True, finding=NO_CVSS),
    Case("finding.fix_released_at == null", True),
    Case("host.reboot_pending_since != null", False),
    Case('finding.package.name == "openssl"', True),
    Case('finding.package.name == "openssl"', ERR, finding=NO_PACKAGE),
    Case('finding.package != null && finding.package.name == "openssl"', False, finding=NO_PACKAGE),
    Case("has(finding.kev)", COMPILE, finding=NO_KEV),  # always true: write != null
    Case("has(finding.package.purl)", COMPILE, finding=NO_PACKAGE),
    Case("finding.epss_percentile == null", True),
    Case("null + 1 == 2", COMPILE),  # never works: validate says so (issue 12 #7)
    Case("finding.cvss < null", COMPILE),  # never works: validate says so (issue 12 #7)
    Case('finding.fix_released_at < timestamp("2024-01-01T00:00:00Z")', ERR),
    Case("null == null", True),
    Case("finding.cvss == null", False),
    Case('finding.fixed_version.startsWith("3")', ERR),
    # numbers: int/double mixes follow the spec's heterogeneous comparison
    Case("7 == 7.0", True),
    Case("3 < 3.5", True),
    Case("3.5 > 3", True),
    Case("finding.cvss >= 7", True),
    Case("finding.cvss == 7.5", True),
    Case("finding.cvss > 7", True),
    Case("7 <= finding.cvss", True),
    Case("finding.cvss == 7", False),
    Case("finding.cvss == 7", True, finding=CVSS_7),
    Case("finding.cvss != 7", False, finding=CVSS_7),
    Case("finding.cvss in [7, 7.5]", True),
    Case("finding.cvss in [7]", True, finding=CVSS_7),
    Case('1 == "a"', COMPILE),  # never works: validate says so (issue 12 #7)
    Case('1 != "a"', COMPILE),  # never works: validate says so (issue 12 #7)
    Case('1 < "a"', COMPILE),  # never works: validate says so (issue 12 #7)
    Case("1 / 0 == 1", ERR),
    Case("5 % 0 == 1", ERR),
    Case("1.0 / 0.0 > 1.0", True),
    Case("9223372036854775807 + 1 > 0", ERR),
    Case('int("12") == 12', True),
    Case("int(finding.cvss) == 7", True),
    Case("double(7) == 7.0", True),
    Case('string(7) == "7"', True),
    Case("finding.epss * 100.0 > 40.0", True),
    Case("finding.cvss + 1.0 > 8.0", True),
    Case("uint(1) < 2", True),
    Case("true == 1", COMPILE),  # never works: validate says so (issue 12 #7)
    Case("-finding.cvss < 0.0", True),
    Case("7 / 2 == 3", True),
    Case("-7 / 2 == -3", True),
    Case("-7 % 3 == -1", True),
    Case("[1] == [1.0]", True),
    Case("dyn(1) == 1.0", True),
    # strings
    Case('finding.vuln.startsWith("CVE-")', True),
    Case('finding.vuln.endsWith("-1")', True),
    Case('finding.vuln.contains("2024")', True),
    Case('finding.vuln.matches("^CVE-[0-9]{4}-[0-9]+$")', True),
    Case('finding.vuln.matches("2024")', True),
    Case('host.name.matches("[")', COMPILE),  # never works: validate says so (issue 12 #7)
    Case("size(finding.vuln) == 10", True),
    Case("finding.vuln.size() == 10", True),
    Case('size("héllo") == 5', True),
    Case('"a" + "b" == "ab"', True),
    Case('"a" + 1 == "a1"', COMPILE),  # never works: validate says so (issue 12 #7)
    Case('"a" < "b"', True),
    Case('host.owner.endsWith("@example.com")', True),
    Case('finding.aliases.exists(a, a.startsWith("GHSA"))', True),
    Case("finding.vuln in finding.aliases", False),
    Case('finding.package.purl.startsWith("pkg:deb/")', True),
    Case('"abc".contains("")', True),
    # timestamps (KEV dates are timestamps at the start of their day UTC)
    Case('finding.published_at < timestamp("2024-02-01T00:00:00Z")', True),
    Case('finding.published_at == timestamp("2024-01-05T12:00:00Z")', True),
    Case('finding.published_at + duration("72h") > timestamp("2024-01-08T00:00:00Z")', True),
    Case('host.last_scan - finding.published_at > duration("600h")', True),
    Case('finding.kev.due_date == timestamp("2024-01-31T00:00:00Z")', True),
    Case("finding.kev.date_added < finding.kev.due_date", True),
    Case('finding.kev.due_date - finding.kev.date_added == duration("504h")', True),
    Case('finding.kev.due_date < timestamp("2024-01-01T00:00:00Z")', ERR, finding=NO_KEV),
    Case('timestamp("2024-01-01") < finding.published_at', COMPILE),  # never works: validate says so (issue 12 #7)
    Case('timestamp("2024-01-01T00:00:00+01:00") == timestamp("2023-12-31T23:00:00Z")', True),
    Case("finding.published_at.getFullYear() == 2024", True),
    Case("finding.published_at.getHours() == 12", True),
    Case("finding.published_at.getDayOfWeek() == 5", True),
    Case('finding.published_at > "2024-01-01"', COMPILE),  # never works: validate says so (issue 12 #7)
    Case('finding.published_at == "2024-01-05T12:00:00Z"', COMPILE),  # never works: validate says so (issue 12 #7)
    Case('finding.first_seen_at + duration("30m") < timestamp("2024-01-06T00:31:00Z")', True),
    Case('host.last_scan > timestamp("2024-01-01T00:00:00Z") && host.last_scan < timestamp("2025-01-01T00:00:00Z")', True),
    Case("has(finding.published_at)", COMPILE),
    # durations
    Case('duration("72h") == duration("259200s")', True),
    Case('duration("30m") < duration("1h")', True),
    Case('duration("1h30m") == duration("90m")', True),
    Case('duration("1.5h") == duration("90m")', True),
    Case('duration("72h") + duration("30m") == duration("72h30m")', True),
    Case('duration("-1h") < duration("0s")', True),
    Case('duration(host.labels.ring) > duration("0s")', ERR),
    Case('duration(host.labels.soak) > duration("1h")', ERR, host=SOAK_DAYS),
    Case('duration(host.labels.soak) > duration("1h")', True, host=SOAK_HOURS),
    Case('duration("15d") > duration("1h")', COMPILE),
    Case('duration("2w") > duration("1h")', COMPILE),
    # logic, errors, comprehensions, literals
    Case("true || 1/0 == 1", True),
    Case("1/0 == 1 || true", True),
    Case("false && 1/0 == 1", False),
    Case("1/0 == 1 && false", False),
    Case('!(finding.severity == "low")', True),
    Case('finding.severity == "high" ? finding.cvss > 7.0 : false', True),
    Case('finding.severity == "low" ? true : 1/0 == 1', ERR),
    Case('{"a": 1}["b"] == 1', ERR),
    Case('{"a": 1}.a == 1', True),
    Case("[1, 2, 3].map(x, x * 2) == [2, 4, 6]", True),
    Case("[1, 2, 3].filter(x, x > 1).size() == 2", True),
    Case("[1, 2, 3].all(x, x > 0)", True),
    Case("[1, 2, 3].exists(x, x / 0 == 1)", ERR),
    Case("[].exists(x, x == 1)", False),
    Case('[1, "a"].exists(x, x == "a")', True),
    Case("type(1) == int", True),
    Case("[1, true][0]", ERR),  # returns an int at run time: not a bool
    # static rejections are the bridge's own, so identical by construction
    Case('finding.sevrity == "high"', COMPILE),
    Case("finding.severity", COMPILE),
    Case("finding.cvss + 1", COMPILE),
    Case('finding.severity ==', COMPILE),
    Case("finding.kev == {}", COMPILE),
]

VALUE_CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("[1, 2, 3].map(x, x * 2)", {}, [2, 4, 6]),
    # Heterogeneous equality at run time (the engines; the bridge refuses these literals).
    ('1 == "a"', {}, False),
    ('1 != "a"', {}, True),
    ("true == 1", {}, False),
    ('timestamp("2024-01-01T00:00:00Z") + duration("72h")', {}, datetime(2024, 1, 4, tzinfo=UTC)),
    ('timestamp("2024-01-02T00:00:00Z") - timestamp("2024-01-01T00:00:00Z")', {}, timedelta(days=1)),
    ("finding.cvss + 1.0", {"finding": {"cvss": 7.5}}, 8.5),
    ('{"a": [1, 2]}', {}, {"a": [1, 2]}),
    ('"abc" + "d"', {}, "abcd"),
    ("null", {}, None),
    ("finding.x", {"finding": {"x": None}}, None),
    ("-7 / 2", {}, -3),
    ("7.0 / 2.0", {}, 3.5),
    ('size("abc")', {}, 3),
    ("string(1.5)", {}, "1.5"),
    ("int(-7.9)", {}, -7),
    ('duration("90m")', {}, timedelta(minutes=90)),
    ('host.tags.filter(t, t != "a")', {"host": {"tags": ["a", "b"]}}, ["b"]),
]

ENGINES = [
    pytest.param(EngineName.CELPY, id="celpy"),
    pytest.param(
        EngineName.CEL_EXPR,
        id="cel-expr",
        marks=pytest.mark.skipif(
            not cel_expr_available(), reason="cel-expr-python is not installed"
        ),
    ),
]


def outcome(engine: EngineName, case: Case) -> bool | str:
    try:
        compiled = compile_expression(case.source, engine=get_engine(engine))
    except ExprError:
        return COMPILE
    try:
        return compiled.evaluate(case.host, case.finding)
    except EvalFailure:
        return ERR


def test_corpus_is_large_enough() -> None:
    assert len(CASES) + len(VALUE_CASES) >= 100
    keys = [(c.source, id(c.host), id(c.finding)) for c in CASES]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", CASES, ids=[c.source[:60] for c in CASES])
def test_case(engine: EngineName, case: Case) -> None:
    assert outcome(engine, case) == case.expected


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("source", "activation", "expected"), VALUE_CASES,
                         ids=[c[0][:60] for c in VALUE_CASES])
def test_value(engine: EngineName, source: str, activation: dict[str, Any], expected: Any) -> None:
    value = get_engine(engine).compile(source).evaluate(activation)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.skipif(not cel_expr_available(), reason="cel-expr-python is not installed")
def test_engines_agree_on_every_case() -> None:
    differ = [
        (c.source, outcome(EngineName.CELPY, c), outcome(EngineName.CEL_EXPR, c))
        for c in CASES
        if outcome(EngineName.CELPY, c) != outcome(EngineName.CEL_EXPR, c)
    ]
    assert differ == []
