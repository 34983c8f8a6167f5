"""PolicyTest: unit tests for policies, run by ``patchpolicy test`` (like ``opa test``).

A test names a bundle (paths relative to the test file), and cases: each a fleet snapshot
(inline or a file), an as-of time, and expectations. An expectation asserts one of

* an item: the verdict (and optionally binding rule, deadline, covering exception) of
  one (policy, host, finding);
* a host check: the verdict of ``scan_freshness``, ``reboot`` or ``scope`` for one
  (policy, host);
* a schedule: the window (or unscheduled reason) the planner puts a finding into.

Exceptions written inline in ``spec.exceptions`` are test fixtures: they join the bundle
for this test only, so a pack's directory never ships a test's exceptions.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from patchpolicy.model.common import Duration, Model, Timestamp
from patchpolicy.model.exceptions import PolicyException
from patchpolicy.model.fleet import FleetSnapshot
from patchpolicy.model.policy import Identifier

ItemVerdictName = Literal[
    "remediated", "remediated_late", "open", "due_soon", "overdue",
    "excepted", "not_affected", "untracked", "error",
]
CheckVerdictName = Literal["ok", "scan_stale", "never_scanned", "reboot_overdue", "error"]
CheckName = Literal["scan_freshness", "reboot", "scope"]
UnscheduledName = Literal["no_window", "none_within_horizon", "frozen", "ring_soak"]

ITEM_VERDICTS: frozenset[str] = frozenset(get_args(ItemVerdictName))
CHECK_VERDICTS: frozenset[str] = frozenset(get_args(CheckVerdictName))


class Expectation(Model):
    """What one (policy, host, finding) item, host check or schedule must be.

    With ``check``: a host-check expectation (``verdict`` from ok, scan_stale,
    never_scanned, reboot_overdue, error). Otherwise ``finding`` is required, with a
    ``verdict`` (item verdicts) and/or schedule fields (``window``, ``window_start``,
    ``at_risk``, ``unscheduled``). Fields left out are not compared.
    """

    policy: Identifier
    host: str = Field(min_length=1)
    finding: str | None = Field(default=None, description="the finding id on the host")
    check: CheckName | None = Field(default=None, description="a host check instead of an item")
    verdict: ItemVerdictName | CheckVerdictName | None = None
    rule: str | None = Field(default=None, description="expected binding rule")
    deadline: Timestamp | None = None
    exception: str | None = Field(default=None, description="expected covering exception id")
    window: str | None = Field(default=None, description="expected window of the planned task")
    window_start: Timestamp | None = Field(
        default=None, description="expected start of that window occurrence"
    )
    at_risk: bool | None = Field(default=None, description="expected at_risk of the planned task")
    unscheduled: UnscheduledName | None = Field(
        default=None, description="expected reason the finding has no window"
    )

    @property
    def schedules(self) -> bool:
        """True when this expectation asserts something about the plan."""
        return (
            self.window is not None or self.window_start is not None
            or self.at_risk is not None or self.unscheduled is not None
        )

    @model_validator(mode="after")
    def _one_target(self) -> Expectation:
        if self.check is not None:
            if self.finding is not None or self.rule is not None or self.deadline is not None:
                raise ValueError("a host-check expectation has no finding, rule or deadline")
            if self.exception is not None or self.schedules:
                raise ValueError("a host-check expectation has no exception or schedule fields")
            if self.verdict is None:
                raise ValueError("a host-check expectation needs a verdict")
            if self.verdict not in CHECK_VERDICTS:
                raise ValueError(
                    f"host-check verdict {self.verdict!r} is not one of {', '.join(sorted(CHECK_VERDICTS))}"
                )
            return self
        if self.finding is None:
            raise ValueError("an item expectation needs a finding (or check: for a host check)")
        if self.verdict is None and not self.schedules:
            raise ValueError("an item expectation needs a verdict or a schedule field")
        if self.verdict is not None and self.verdict not in ITEM_VERDICTS:
            raise ValueError(
                f"item verdict {self.verdict!r} is not one of {', '.join(sorted(ITEM_VERDICTS))}"
            )
        if self.unscheduled is not None and (self.window is not None or self.window_start is not None):
            raise ValueError("unscheduled excludes window and window_start")
        return self


class TestCase(Model):
    """One snapshot at one as-of time, with what the evaluation must give."""

    __test__ = False  # not a pytest class

    name: str = Field(min_length=1)
    description: str | None = None
    snapshot: str | FleetSnapshot | None = Field(
        default=None,
        description="a snapshot file (relative to the test file) or an inline FleetSnapshot; "
        "omitted = spec.snapshot",
    )
    as_of: Timestamp | None = Field(default=None, description="default: the snapshot's taken_at")
    horizon: Duration = Field(
        default="90d", validate_default=True, description="planning horizon for schedule expectations"
    )
    expect: list[Expectation] = Field(min_length=1)


class PolicyTestMetadata(Model):
    name: Identifier
    description: str | None = None


class PolicyTestSpec(Model):
    policies: list[str] | None = Field(
        default=None,
        description="bundle paths relative to the test file; omitted = the test file's folder "
        "(other tests and their snapshot files excluded)",
    )
    snapshot: str | FleetSnapshot | None = Field(
        default=None, description="the default snapshot of every case"
    )
    exceptions: list[PolicyException] = Field(
        default=[], description="test-only exceptions added to the bundle for this test"
    )
    cases: list[TestCase] = Field(min_length=1)

    @model_validator(mode="after")
    def _every_case_has_a_snapshot(self) -> PolicyTestSpec:
        if self.snapshot is None:
            missing = [c.name for c in self.cases if c.snapshot is None]
            if missing:
                raise ValueError(
                    f"case(s) {', '.join(missing)} have no snapshot and spec.snapshot is not set"
                )
        return self


class PolicyTest(Model):
    __test__ = False

    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815
    kind: Literal["PolicyTest"]
    metadata: PolicyTestMetadata
    spec: PolicyTestSpec
