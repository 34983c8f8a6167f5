"""ExceptionSet: approved, time-boxed deviations, kept in files their approvers own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from patchpolicy.model.common import EndInstant, Model, SemVer, StartInstant
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

    @model_validator(mode="after")
    def _expires_after_approval(self) -> PolicyException:
        if self.expires <= self.approved_at:
            raise ValueError("expires must be after approved_at")
        return self


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
