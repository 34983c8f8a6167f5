"""PatchPolicy and ExceptionSet models: defaults, fail-closed validation, serialisation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pydantic
import pytest

from patchpolicy.model.exceptions import ExceptionSet, PolicyException
from patchpolicy.model.policy import (
    DEFAULT_CLOCK,
    ClockSource,
    Freeze,
    PatchPolicy,
    Rule,
    Window,
    YearlyPeriod,
)


def _policy(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "patchpolicy/v1",
        "kind": "PatchPolicy",
        "metadata": {"name": "baseline", "version": "1.0.0"},
        "spec": {
            "rules": [{"id": "critical", "when": 'finding.severity == "critical"', "within": "15d"}],
            **spec,
        },
    }


def _errors(model: type[pydantic.BaseModel], data: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(data)
    return [(tuple(e["loc"]), e["type"]) for e in info.value.errors()]


def _rule(**kw: Any) -> dict[str, Any]:
    return {"id": "r", "when": "true", "within": "1d", **kw}


def _window(**kw: Any) -> dict[str, Any]:
    return {"id": "w", "rrule": "FREQ=WEEKLY;BYDAY=SU", "start": "02:00", "duration": "4h", **kw}


# ---------------------------------------------------------------- PatchPolicy


def test_minimal_policy_and_defaults() -> None:
    p = PatchPolicy.model_validate(_policy())
    assert p.spec.due_soon == timedelta(days=7)
    assert tuple(p.spec.clock) == DEFAULT_CLOCK
    assert p.spec.scope is None
    assert p.spec.windows == p.spec.freezes == p.spec.rings == []
    rule = p.spec.rules[0]
    assert rule.within == timedelta(days=15)
    assert rule.clock is None
    assert rule.cap_by_kev_due_date is False
    assert rule.controls == []


def test_models_are_frozen() -> None:
    p = PatchPolicy.model_validate(_policy())
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        p.spec.rules[0].within = timedelta(days=1)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("where", "data"),
    [
        (("extra",), {**_policy(), "extra": 1}),
        (("metadata", "labels"), {**_policy(), "metadata": {"name": "b", "version": "1.0.0", "labels": {}}}),
        (("spec", "rules", 0, "whithin"), _policy(rules=[_rule(whithin="1d")])),
        (("spec", "hygiene", "max_scan_agee"), _policy(hygiene={"max_scan_agee": "7d"})),
        (("spec", "windows", 0, "tz"), _policy(windows=[_window(tz="UTC")])),
    ],
)
def test_unknown_keys_fail_at_every_level(where: tuple[Any, ...], data: dict[str, Any]) -> None:
    assert (where, "extra_forbidden") in _errors(PatchPolicy, data)


@pytest.mark.parametrize(
    ("spec", "where", "typ"),
    [
        ({"rules": []}, ("spec", "rules"), "too_short"),
        ({"clock": []}, ("spec", "clock"), "too_short"),
        ({"clock": ["discovered"]}, ("spec", "clock", 0), "enum"),
        ({"rules": [_rule(clock=[])]}, ("spec", "rules", 0, "clock"), "too_short"),
        ({"rules": [_rule(when="")]}, ("spec", "rules", 0, "when"), "string_too_short"),
        ({"rules": [_rule(id="-kev")]}, ("spec", "rules", 0, "id"), "string_pattern_mismatch"),
        ({"rules": [_rule(id="k" * 129)]}, ("spec", "rules", 0, "id"), "string_too_long"),
        ({"rules": [_rule(id="kev sla")]}, ("spec", "rules", 0, "id"), "string_pattern_mismatch"),
        ({"rules": [_rule(within="30 days")]}, ("spec", "rules", 0, "within"), "value_error"),
        ({"rules": [_rule(cap_by_kev_due_date="maybe")]}, ("spec", "rules", 0, "cap_by_kev_due_date"), "bool_parsing"),
        ({"due_soon": "P1M"}, ("spec", "due_soon"), "value_error"),
        ({"hygiene": {"max_reboot_pending": "0h"}}, ("spec", "hygiene", "max_reboot_pending"), "value_error"),
    ],
)
def test_spec_rejections(spec: dict[str, Any], where: tuple[Any, ...], typ: str) -> None:
    assert (where, typ) in _errors(PatchPolicy, _policy(**spec))


def test_metadata_rejections() -> None:
    data = _policy()
    data["metadata"] = {"name": "pci dss", "version": "v2", "effective_from": "2025-04-01T00:00:00"}
    errors = _errors(PatchPolicy, data)
    assert (("metadata", "name"), "string_pattern_mismatch") in errors
    assert (("metadata", "version"), "value_error") in errors
    assert (("metadata", "effective_from"), "value_error") in errors


def test_wrong_api_version_and_kind() -> None:
    errors = _errors(PatchPolicy, {**_policy(), "apiVersion": "patchpolicy/v2", "kind": "Policy"})
    assert (("apiVersion",), "literal_error") in errors
    assert (("kind",), "literal_error") in errors


def test_effective_from_date_means_start_of_day() -> None:
    data = _policy()
    data["metadata"]["effective_from"] = "2025-04-01"
    p = PatchPolicy.model_validate(data)
    assert p.metadata.effective_from == datetime(2025, 4, 1, tzinfo=UTC)


def test_json_dump_is_canonical_and_reloads() -> None:
    data = _policy(due_soon="P1W", windows=[_window(offset="PT96H")])
    data["spec"]["rules"][0]["within"] = "PT360H"
    p = PatchPolicy.model_validate(data)
    dumped = p.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["spec"]["due_soon"] == "7d"
    assert dumped["spec"]["rules"][0]["within"] == "15d"
    assert dumped["spec"]["windows"][0]["offset"] == "4d"
    assert dumped["spec"]["windows"][0]["start"] == "02:00"
    assert PatchPolicy.model_validate(dumped) == p


def test_clock_sources() -> None:
    assert [c.value for c in ClockSource] == ["fix_released", "published", "first_seen", "kev_added"]
    rule = Rule.model_validate(_rule(clock=["kev_added", "first_seen"]))
    assert rule.clock == [ClockSource.KEV_ADDED, ClockSource.FIRST_SEEN]


# ---------------------------------------------------------------- windows


def test_window_defaults_and_prefix() -> None:
    w = Window.model_validate(_window(rrule="RRULE:FREQ=WEEKLY;BYDAY=SU"))
    assert w.rrule == "FREQ=WEEKLY;BYDAY=SU"
    assert w.timezone == "UTC"
    assert w.start == time(2)
    assert w.hosts is None and w.offset is None


@pytest.mark.parametrize(
    "rrule",
    ["FREQ=MONTHLY;BYDAY=+2TU", "FREQ=DAILY", "FREQ=WEEKLY;UNTIL=20270101T000000Z",
     "FREQ=WEEKLY;UNTIL=20270101T000000", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29"],
)
def test_window_rrules_accepted(rrule: str) -> None:
    assert Window.model_validate(_window(rrule=rrule)).rrule == rrule


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("DTSTART:20260104T020000\nRRULE:FREQ=WEEKLY", "must not carry DTSTART"),
        ("FREQ=WEEKLY;BYDAY=SUN", "invalid RFC 5545 rrule"),
        ("FREQ=FORTNIGHTLY", "invalid RFC 5545 rrule"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270101T000000Z", "invalid RFC 5545 rrule"),
        ("BYDAY=SU", "invalid RFC 5545 rrule"),
    ],
)
def test_window_rrules_rejected(rrule: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Window.model_validate(_window(rrule=rrule))


@pytest.mark.parametrize(
    ("field", "value"),
    [("start", "25:00"), ("start", "2:00"), ("timezone", "Europe/Berln"), ("duration", "0m"),
     ("not_before", "2026-01-01T00:00:00"), ("not_after", "2026-02-30")],
)
def test_window_field_rejections(field: str, value: str) -> None:
    assert ((field,), "value_error") in _errors(Window, _window(**{field: value}))


def test_window_not_after_date_is_end_of_day() -> None:
    w = Window.model_validate(_window(not_before="2026-01-01", not_after="2026-12-31"))
    assert w.not_before == datetime(2026, 1, 1, tzinfo=UTC)
    assert w.not_after == datetime(2027, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- freezes


def test_absolute_freeze_dates_are_inclusive() -> None:
    f = Freeze.model_validate({"id": "f", "from": "2026-12-20", "until": "2027-01-03"})
    assert f.from_ == datetime(2026, 12, 20, tzinfo=UTC)
    assert f.until == datetime(2027, 1, 4, tzinfo=UTC)
    # populate_by_name: code may build one with the Python name.
    assert Freeze(id="f", from_=f.from_, until=f.until) == f


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"from": "2026-12-20", "until": "2027-01-03", "yearly": {"from": "12-20", "until": "01-03"}},
         "either absolute (from/until) or yearly, not both"),
        ({}, "needs from and until, or yearly"),
        ({"from": "2026-12-20"}, "needs both from and until"),
        ({"until": "2026-12-20"}, "needs both from and until"),
    ],
)
def test_freeze_kinds(data: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        Freeze.model_validate({"id": "f", **data})


def test_yearly_period() -> None:
    assert YearlyPeriod.model_validate({"from": "02-29", "until": "03-01"}).from_ == "02-29"
    with pytest.raises(pydantic.ValidationError, match="invalid month-day '02-30'"):
        YearlyPeriod.model_validate({"from": "02-30", "until": "03-01"})
    with pytest.raises(pydantic.ValidationError, match="string_pattern_mismatch|should match pattern"):
        YearlyPeriod.model_validate({"from": "2-3", "until": "03-01"})


# ---------------------------------------------------------------- exceptions


def _exception(**kw: Any) -> dict[str, Any]:
    return {
        "id": "EXC-1",
        "match": "true",
        "justification": "vendor fix pending",
        "approved_by": "jane.doe@example.com",
        "approved_at": "2026-10-01",
        "expires": "2026-12-31",
        **kw,
    }


def test_exception_date_bounds() -> None:
    e = PolicyException.model_validate(_exception())
    assert e.approved_at == datetime(2026, 10, 1, tzinfo=UTC)
    assert e.expires == datetime(2027, 1, 1, tzinfo=UTC)  # valid through 2026-12-31
    assert e.policies is None  # every policy
    assert e.compensating_controls == []


def test_exception_for_a_single_day_is_valid() -> None:
    e = PolicyException.model_validate(_exception(expires="2026-10-01"))
    assert e.expires - e.approved_at == timedelta(days=1)


@pytest.mark.parametrize(
    "expires",
    ["2026-09-30", "2026-10-01T00:00:00Z", "2026-09-30T23:59:59Z", "2026-10-01T01:00:00+01:00"],
)
def test_exception_must_expire_after_approval(expires: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        PolicyException.model_validate(_exception(expires=expires))
    (error,) = info.value.errors()
    assert error["loc"] == ("expires",)
    assert "must be after approved_at" in error["msg"]
    assert "2026-10-01T00:00:00Z" in error["msg"]


def test_exception_expiry_not_checked_when_approval_is_invalid() -> None:
    errors = _errors(PolicyException, _exception(approved_at="yesterday"))
    assert errors == [(("approved_at",), "value_error")]


@pytest.mark.parametrize(
    ("kw", "where", "typ"),
    [
        ({"policies": []}, ("policies",), "too_short"),
        ({"policies": ["pci dss"]}, ("policies", 0), "string_pattern_mismatch"),
        ({"justification": ""}, ("justification",), "string_too_short"),
        ({"approved_by": ""}, ("approved_by",), "string_too_short"),
        ({"match": ""}, ("match",), "string_too_short"),
        ({"expires": "2026-12-31T00:00:00"}, ("expires",), "value_error"),
        ({"approved": "2026-10-01"}, ("approved",), "extra_forbidden"),
    ],
)
def test_exception_rejections(kw: dict[str, Any], where: tuple[Any, ...], typ: str) -> None:
    assert (where, typ) in _errors(PolicyException, _exception(**kw))


def test_exception_set_needs_exceptions() -> None:
    doc = {"apiVersion": "patchpolicy/v1", "kind": "ExceptionSet", "metadata": {"name": "s"}}
    assert (("exceptions",), "missing") in _errors(ExceptionSet, doc)
    assert (("exceptions",), "too_short") in _errors(ExceptionSet, {**doc, "exceptions": []})
    s = ExceptionSet.model_validate({**doc, "exceptions": [_exception()]})
    assert s.metadata.version is None

