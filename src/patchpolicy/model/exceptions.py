"""ExceptionSet: approved, time-boxed deviations, kept in files their approvers own."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from patchpolicy.model.common import EndInstant, Model, SemVer, StartInstant, format_timestamp
from patchpolicy.model.policy import Cel, Identifier


class PolicyException(Model):
    """Covers the findings ``match`` selects while approved_at <= as-of < expires."""

    id: Identifier
    policies: list[Identifier] | None = Field(
        default=None, min_length=1, description="policy names; omitted = every policy"
    )
    match: Cel
    justification: str = Field(min_length=1)
    compensating_controls: list[str] = []
    ticket: str | None = None
    approved_by: str = Field(min_length=1)
    approved_at: StartInstant
    expires: EndInstant

    @field_validator("expires")
    @classmethod
    def _expires_after_approval(cls, value: datetime, info: ValidationInfo) -> datetime:
        # A field validator (not a model one) so the error is reported at ``expires``.
        approved = info.data.get("approved_at")
        if approved is not None and value <= approved:
            raise ValueError(
                f"must be after approved_at: the exception would end at "
                f"{format_timestamp(value)} but is approved at {format_timestamp(approved)} "
                "(a date-only expires is valid through that day)"
            )
        return value


class ExceptionSetMetadata(Model):
    name: Identifier
    version: SemVer | None = None
    owner: str | None = None
    description: str | None = None


class ExceptionSet(Model):
    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815
    kind: Literal["ExceptionSet"]
    metadata: ExceptionSetMetadata
    exceptions: list[PolicyException] = Field(min_length=1)
