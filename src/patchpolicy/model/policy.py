"""PatchPolicy: SLAs, hygiene, exception limits, windows, freezes and rings (FORMATS.md 1)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from patchpolicy.model.common import (
    Duration,
    EndInstant,
    LocalTime,
    Model,
    SemVer,
    StartInstant,
    ZoneName,
)

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=128,
        description="An id: letters, digits, '.', '_' and '-', starting with a letter or digit.",
    ),
]
Cel = Annotated[str, Field(min_length=1, description="A CEL expression.")]


class ClockSource(StrEnum):
    """Where an SLA clock starts; the first one present in a finding wins."""

    FIX_RELEASED = "fix_released"
    PUBLISHED = "published"
    FIRST_SEEN = "first_seen"
    KEV_ADDED = "kev_added"


DEFAULT_CLOCK = (ClockSource.FIX_RELEASED, ClockSource.PUBLISHED, ClockSource.FIRST_SEEN)


class Control(Model):
    """A control of a framework that the policy evidences."""

    framework: str = Field(min_length=1, description="e.g. PCI-DSS, ISO-27001, HIPAA")
    version: str = Field(min_length=1, description="the framework's version, e.g. 4.0.1")
    id: str = Field(min_length=1, description="the control id, e.g. 6.3.3")
    title: str | None = None
    requirement: str | None = Field(
        default=None, description="what the standard literally requires (for the report)"
    )


class Retention(Model):
    """How long the evidence this policy produces must be kept, and why."""

    years: int = Field(ge=1, le=100)
    basis: str = Field(min_length=1, description="e.g. 45 CFR 164.316(b)(2)(i)")


class PolicyMetadata(Model):
    name: Identifier
    version: SemVer
    title: str | None = None
    description: str | None = None
    owner: str | None = None
    effective_from: StartInstant | None = None
    controls: list[Control] = []
    retention: Retention | None = Field(
        default=None, description="evidence retention, stated in the evidence and reports"
    )


class Rule(Model):
    id: Identifier
    title: str | None = None
    when: Cel
    within: Duration
    clock: list[ClockSource] | None = Field(
        default=None, min_length=1, description="overrides spec.clock for this rule"
    )
    cap_by_kev_due_date: bool = False
    controls: list[str] = Field(default=[], description="ids from metadata.controls")


class Hygiene(Model):
    max_scan_age: Duration | None = None
    max_reboot_pending: Duration | None = None
    controls: list[str] = []


class ExceptionLimits(Model):
    max_lifetime: Duration | None = None


class Window(Model):
    """A recurring maintenance window: RFC 5545 recurrence of a local start time."""

    id: Identifier
    hosts: Cel | None = Field(default=None, description="CEL over host; omitted = every host")
    rrule: str = Field(min_length=1, description="RFC 5545 RRULE of the local start date")
    start: LocalTime
    duration: Duration
    offset: Duration | None = Field(
        default=None, description="shift every occurrence later, e.g. 4d after Patch Tuesday"
    )
    timezone: ZoneName = "UTC"
    not_before: StartInstant | None = None
    not_after: EndInstant | None = None

    @field_validator("rrule")
    @classmethod
    def _rrule_parses(cls, value: str) -> str:
        import warnings
        from datetime import UTC, datetime

        from dateutil.rrule import rrulestr

        text = value.strip()
        if text.upper().startswith("RRULE:"):
            text = text[6:]
        if "DTSTART" in text.upper():
            raise ValueError("rrule must not carry DTSTART: the window's start and timezone set it")
        # A UTC UNTIL (the RFC 5545 form for zoned starts) needs an aware start, a local
        # UNTIL a naive one: the rule is valid when either parses.
        error: Exception | None = None
        for start in (datetime(2000, 1, 3), datetime(2000, 1, 3, tzinfo=UTC)):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    rrulestr(text, dtstart=start)
                return text
            except (ValueError, TypeError, DeprecationWarning) as e:
                error = e
        raise ValueError(f"invalid RFC 5545 rrule {value!r}: {error}")


class YearlyPeriod(Model):
    """Every year from ``from`` (start of day) until ``until`` (end of day), in a zone."""

    from_: str = Field(alias="from", pattern=r"^\d{2}-\d{2}$", description="MM-DD")
    until: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD, inclusive")

    @field_validator("from_", "until")
    @classmethod
    def _real_day(cls, value: str) -> str:
        from datetime import date

        month, day = int(value[:2]), int(value[3:])
        try:
            date(2024, month, day)  # a leap year, so 02-29 is accepted
        except ValueError as e:
            raise ValueError(f"invalid month-day {value!r}: {e}") from e
        return value


class Freeze(Model):
    """A period when no change may be made, absolute or yearly, except what ``allow`` lets."""

    model_config = Model.model_config | {"populate_by_name": True}

    id: Identifier
    from_: StartInstant | None = Field(default=None, alias="from")
    until: EndInstant | None = None
    yearly: YearlyPeriod | None = None
    timezone: ZoneName = "UTC"
    hosts: Cel | None = Field(default=None, description="CEL over host; omitted = every host")
    allow: Cel | None = Field(
        default=None, description="CEL over host and finding: changes still allowed"
    )
    reason: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Freeze:
        absolute = self.from_ is not None or self.until is not None
        if absolute and self.yearly is not None:
            raise ValueError("a freeze is either absolute (from/until) or yearly, not both")
        if not absolute and self.yearly is None:
            raise ValueError("a freeze needs from and until, or yearly")
        if absolute and (self.from_ is None or self.until is None):
            raise ValueError("an absolute freeze needs both from and until")
        return self


class Ring(Model):
    """A rollout stage: hosts in a later ring patch only after earlier rings soaked."""

    id: Identifier
    hosts: Cel
    soak: Duration | None = Field(
        default=None, description="time after this ring's window before the next ring may start"
    )


class PolicySpec(Model):
    scope: Cel | None = Field(default=None, description="CEL over host; omitted = every host")
    due_soon: Duration = Field(default="7d", validate_default=True)
    clock: list[ClockSource] = Field(default=list(DEFAULT_CLOCK), min_length=1)
    rules: list[Rule] = Field(min_length=1)
    hygiene: Hygiene | None = None
    exceptions: ExceptionLimits | None = None
    windows: list[Window] = []
    freezes: list[Freeze] = []
    rings: list[Ring] = []


class PatchPolicy(Model):
    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815 - the document's own key
    kind: Literal["PatchPolicy"]
    metadata: PolicyMetadata
    spec: PolicySpec
