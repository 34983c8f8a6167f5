"""review.testing: the PolicyTest model's rules, coverage arithmetic and the exit code."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from patchpolicy.errors import Location
from patchpolicy.model.policytest import Expectation, PolicyTestSpec
from patchpolicy.review.testing import CaseResult, Coverage, Failure, Target, TestRun


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"finding": "f"}, "needs a verdict or a schedule field"),
        ({"verdict": "open"}, "needs a finding"),
        ({"finding": "f", "verdict": "scan_stale"}, "item verdict 'scan_stale' is not one of"),
        ({"check": "reboot"}, "needs a verdict"),
        ({"check": "reboot", "verdict": "overdue"}, "host-check verdict 'overdue'"),
        ({"check": "reboot", "verdict": "ok", "finding": "f"}, "has no finding"),
        ({"finding": "f", "unscheduled": "frozen", "window": "w"}, "unscheduled excludes window"),
    ],
)
def test_expectation_rejects_incoherent_targets(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Expectation.model_validate({"policy": "p", "host": "h", **fields})


def test_expectation_accepts_each_kind() -> None:
    assert not Expectation(policy="p", host="h", finding="f", verdict="open").schedules
    assert Expectation(policy="p", host="h", finding="f", window="w").schedules
    assert Expectation(policy="p", host="h", check="scope", verdict="error").check == "scope"


def test_every_case_needs_a_snapshot() -> None:
    case = {"name": "c", "expect": [{"policy": "p", "host": "h", "finding": "f", "verdict": "open"}]}
    with pytest.raises(pydantic.ValidationError, match="case\\(s\\) c have no snapshot"):
        PolicyTestSpec.model_validate({"cases": [case]})
    assert PolicyTestSpec.model_validate({"snapshot": "s.json", "cases": [case]}).cases[0].horizon.days == 90


def _target(kind: str, ident: str) -> Target:
    return Target(kind, "p", ident, Location("p.yaml", 1, 1))


def test_coverage_counts_per_kind_and_percent() -> None:
    cov = Coverage()
    assert cov.percent == 100.0  # nothing to exercise
    for kind, ident in [("rule", "a"), ("rule", "b"), ("window", "w"), ("exception", "e")]:
        cov.add((kind, "p.yaml", "p", ident), _target(kind, ident))
    cov.add(("rule", "p.yaml", "p", "a"), _target("rule", "a"))  # registered once
    cov.exercised |= {("rule", "p.yaml", "p", "a"), ("window", "p.yaml", "p", "w")}
    assert cov.counts() == (2, 4) and cov.counts("rule") == (1, 2) and cov.counts("freeze") == (0, 0)
    assert cov.percent == 50.0
    assert [t.id for t in cov.missing()] == ["e", "b"] or [t.id for t in cov.missing()] == ["b", "e"]
    assert str(_target("rule", "b")) == 'p.yaml:1:1: policy "p": rule "b"'


def test_exit_code_on_failures_and_minimum_coverage() -> None:
    cov = Coverage()
    cov.add(("rule", "f", "p", "a"), _target("rule", "a"))
    ok = CaseResult("t", "c", Location("t.yaml"), 1, ())
    bad = CaseResult("t", "c2", Location("t.yaml"), 1, (Failure(Location("t.yaml", 3, 5), "x", True),))
    assert TestRun([ok], cov, 1).exit_code() == 0
    assert TestRun([ok], cov, 1).exit_code(0) == 0
    assert TestRun([ok], cov, 1).exit_code(1) == 1  # 0% < 1%
    run = TestRun([ok, bad], cov, 1)
    assert run.exit_code() == 1
    assert [str(f) for f in run.unknown_targets] == ["t.yaml:3:5: x"]
