"""PolicyTest: unit tests for policies, run by ``patchpolicy test`` (like ``opa test``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from patchpolicy.model.common import Model, Timestamp
from patchpolicy.model.policy import Identifier

ItemVerdictName = Literal[
    "remediated", "remediated_late", "open", "due_soon", "overdue",
    "excepted", "not_affected", "untracked", "error",
]
HostCheckName = Literal["scan_stale", "never_scanned", "reboot_overdue"]


class Expectation(Model):
    """The expected verdict of one (policy, host, finding) item, or of one host check."""

    policy: Identifier
    host: str = Field(min_length=1)
    finding: str | None = None
    verdict: ItemVerdictName | None = None
    rule: str | None = Field(default=None, description="expected binding rule")
    deadline: Timestamp | None = None
    check: HostCheckName | None = None
    failing: bool | None = Field(default=None, description="expected failing state of the check")

    @model_validator(mode="after")
    def _one_target(self) -> Expectation:
        if self.check is not None:
            if self.finding is not None or self.verdict is not None:
                raise ValueError("a host-check expectation has no finding or verdict")
            if self.failing is None:
                raise ValueError("a host-check expectation needs failing: true|false")
        elif self.finding is None or self.verdict is None:
            raise ValueError("an item expectation needs finding and verdict")
        return self


class TestCase(Model):
    __test__ = False  # not a pytest class

    name: str = Field(min_length=1)
    description: str | None = None
    snapshot: str | dict[str, Any] = Field(
        description="a snapshot file (relative to the test file) or an inline FleetSnapshot"
    )
    as_of: Timestamp | None = None
    expect: list[Expectation] = Field(min_length=1)


class PolicyTestMetadata(Model):
    name: Identifier
    description: str | None = None


class PolicyTestSpec(Model):
    policies: list[str] | None = Field(
        default=None, description="bundle paths relative to the test file; omitted = its folder"
    )
    cases: list[TestCase] = Field(min_length=1)


class PolicyTest(Model):
    __test__ = False

    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815
    kind: Literal["PolicyTest"]
    metadata: PolicyTestMetadata
    spec: PolicyTestSpec
