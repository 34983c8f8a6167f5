"""``validate`` catches what can never work (issue 12 #7): unknown functions, type errors
the static types show, invalid regex, timestamp and duration literals. Each is an
ExprError at the offending token, in both engines alike (the checks are the bridge's)."""

from __future__ import annotations

import pytest

from patchpolicy.errors import ExprError
from patchpolicy.expr.compiler import compile_expression
from patchpolicy.expr.engines import EngineName, cel_expr_available, get_engine

ENGINES = [
    EngineName.CELPY,
    pytest.param(
        EngineName.CEL_EXPR,
        marks=pytest.mark.skipif(not cel_expr_available(), reason="cel-expr-python absent"),
    ),
]

# (expression, part of the message, the text at the reported offset)
NEVER_WORKS = [
    ("foo()", "unknown function 'foo'", "foo"),
    ('host.name.bogus("x")', "unknown method 'bogus'", "bogus"),
    ('host.name.lowerAscii() == "a"', "unknown method 'lowerAscii'", "lowerAscii"),
    ("host.name > 3", "cannot compare string > int", "host.name"),
    ('finding.cvss > "7"', "cannot compare double > string", "finding.cvss"),
    ("finding.published_at < 3", "cannot compare timestamp < int", "finding.published_at"),
    ("host.name == 3", "string == int is always false", "host.name"),
    ('host.name + 1 == "a"', "no '+' for string and int", "host.name"),
    ("finding.cvss + 1 > 7.0", "no '+' for double and int", "finding.cvss"),
    ("!host.name", "'!' needs a bool, not string", "host.name"),
    ("host.name && true", "'&&' needs bool operands, not string", "host.name"),
    ('host.name ? true : false', "the condition of '?:' must be a bool, not string", "host.name"),
    ('finding.cvss in "abc"', "'in' needs a list or map on its right, not string", '"abc"'),
    ("host.name.startsWith(3)", "startsWith() takes a string argument, not int", "3"),
    ("finding.cvss.startsWith(\"1\")", "startsWith() is a string method; finding.cvss is a double", "startsWith"),
    ("host.name.exists(x, x == \"a\")", "exists() needs a list or map, not string", "exists"),
    ("finding.cvss.getFullYear() == 2026", "getFullYear() needs a timestamp", "getFullYear"),
    ("size(finding.cvss) > 1", "size() needs a string, bytes, list or map, not double", "finding.cvss"),
    ('host.name.matches("(")', "invalid regular expression", '"("'),
    ('matches(host.name, "a(?=b)")', "invalid regular expression", '"a(?=b)"'),
    ('host.name.matches(r"[a-")', "invalid regular expression", 'r"[a-"'),
    ('finding.published_at > timestamp("garbage")', "timestamp 'garbage' is not RFC 3339", '"garbage"'),
    ('finding.published_at > timestamp("2026-13-01T00:00:00Z")', "not a valid date", '"2026-13-01T00:00:00Z"'),
    ('finding.published_at > timestamp("2026-01-01")', "is not RFC 3339", '"2026-01-01"'),
    ('finding.published_at - finding.first_seen_at > duration("x")', "duration 'x' is not a CEL duration", '"x"'),
    ('int("x") == 1', "int('x') cannot convert", '"x"'),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("source", "message", "at"), NEVER_WORKS, ids=[c[0] for c in NEVER_WORKS])
def test_what_can_never_work_is_an_error_at_its_token(
    engine: EngineName, source: str, message: str, at: str
) -> None:
    with pytest.raises(ExprError) as info:
        compile_expression(source, engine=get_engine(engine))
    assert message in info.value.message
    assert source[info.value.offset :].startswith(at), (info.value.offset, info.value.message)


STILL_VALID = [
    "finding.cvss > 7",
    "finding.cvss >= 7.0 && finding.epss > 0.5",
    "host.name == null",
    'host.labels.ring == "canary"',
    'host.labels["ring"] > "a"',
    "size(host.tags) > 2",
    'host.name.size() > 2',
    'host.tags.exists(t, t.startsWith("pci"))',
    'host.tags.map(t, t + "-x").exists(t, t == "a-x")',
    'host.labels.exists(k, k == "ring")',
    'finding.published_at > timestamp("2026-01-01T00:00:00Z")',
    'finding.published_at - finding.first_seen_at > duration("72h")',
    'finding.published_at + duration("1h") > finding.first_seen_at',
    'finding.published_at.getDayOfWeek("Europe/Berlin") == 1',
    'finding.kev != null && finding.kev.ransomware',
    'host.name.matches("^pos-[0-9]+$") && matches(host.name, "(?i)POS")',
    'string(finding.cvss) == "7.5"',
    'int(finding.cvss) >= 7',
    "double(size(host.tags)) > finding.cvss",
    'dyn(host.name) == 3 || true',
    'type(finding.cvss) == double',
    'finding.vuln in ["CVE-2024-1", "CVE-2024-2"]',
    '"pci" in host.tags',
    'host.env in {"prod": 1}',
    'finding.severity == "high" ? finding.cvss > 7.0 : false',
    'finding.aliases + ["x"] == ["x"]',
    '"a" < "b" && b"a" < b"b" && duration("1h") < duration("2h")',
]


@pytest.mark.parametrize("source", STILL_VALID)
def test_what_can_work_still_compiles(source: str) -> None:
    compile_expression(source, engine=get_engine(EngineName.CELPY))
