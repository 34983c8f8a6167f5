"""The remediation plan as a document: ``tasks.json`` is a ``Plan``; the ``windows`` command
lists ``UpcomingWindow`` occurrences. Frozen msgspec types, made by ``planner`` and
``upcoming``, read by the renderers."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

import msgspec

from patchpolicy.windows import Occurrence

__all__ = [
    "FreezeNote",
    "HostNeeds",
    "Need",
    "Plan",
    "PlanCounts",
    "PlannedFinding",
    "PolicyRef",
    "Priority",
    "Remediation",
    "StreamedPlan",
    "Task",
    "UnscheduledReason",
    "UpcomingWindow",
]


class UnscheduledReason(StrEnum):
    """Why a task has no window."""

    NO_WINDOW = "no_window"
    """No window of the bundle selects the host."""
    NONE_WITHIN_HORIZON = "none_within_horizon"
    """Windows select the host, but none occurs between as-of and as-of + horizon."""
    FROZEN = "frozen"
    """Every occurrence within the horizon is frozen for these findings."""
    RING_SOAK = "ring_soak"
    """Free occurrences exist, but none after the earlier ring's soak within the horizon."""


class Priority(StrEnum):
    """Task urgency (the rule is in the ``planner`` module docstring)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class PlannedFinding(msgspec.Struct, frozen=True):
    """One finding to remediate in a task."""

    id: str
    vuln: str
    package: str | None
    fixed_version: str | None
    patch: str | None
    severity: str
    kev: bool
    verdict: str
    """The most urgent verdict among the policies that need it."""
    deadline: datetime
    policies: tuple[str, ...]
    soak_delayed: bool = False


class Task(msgspec.Struct, frozen=True):
    """One host in one window occurrence (or unscheduled), with what to patch."""

    id: str
    host: str
    owner: str | None
    ring: str | None
    priority: Priority
    deadline: datetime
    """The earliest deadline of the task's findings."""
    window: str | None
    window_policy: str | None
    timezone: str | None
    start: datetime | None
    end: datetime | None
    start_local: str | None
    """RFC 3339 with the zone's offset, e.g. 2026-11-22T02:00:00+01:00."""
    end_local: str | None
    at_risk: bool
    soak_delayed: bool
    soak_until: datetime | None
    """The earliest start the ring soak allowed, when a soak applied."""
    unscheduled: bool
    reason: UnscheduledReason | None
    freezes_allowed: tuple[str, ...]
    """Freezes overlapping the window whose ``allow`` admitted every finding here."""
    patches: tuple[str, ...]
    findings: tuple[PlannedFinding, ...]
    summary: str = ""
    """One line for a ticket title: ``P1 patch web-01: 3 findings (critical, KEV) by 2026-11-24``."""
    highest_severity: str = ""
    policies: tuple[str, ...] = ()
    """The policies that need the task's findings fixed."""
    controls: tuple[str, ...] = ()
    """The controls those policies evidence, e.g. ``PCI-DSS 4.0.1 6.3.3``."""


class PolicyRef(msgspec.Struct, frozen=True):
    name: str
    version: str


class PlanCounts(msgspec.Struct, frozen=True):
    tasks: int
    hosts: int
    findings: int
    at_risk: int
    soak_delayed: int
    unscheduled: int
    by_priority: dict[str, int]
    by_reason: dict[str, int]


class Plan(msgspec.Struct, frozen=True):
    """The remediation plan: ``tasks.json`` is this document."""

    apiVersion: str  # noqa: N815 - the document's own key
    kind: Literal["RemediationPlan"]
    as_of: datetime
    horizon: str
    horizon_end: datetime
    policies: tuple[PolicyRef, ...]
    counts: PlanCounts
    tasks: tuple[Task, ...]
    problems: tuple[str, ...]
    """CEL failures met while planning (each handled fail-closed)."""


@dataclass(frozen=True)
class StreamedPlan:
    """A plan whose tasks are read from disk as often as needed (``planner.stream_plan``):
    ``header`` is the document with no tasks (counts and problems filled in), ``tasks``
    the tasks in document order. ``tasks.json`` made from it equals the in-memory
    ``Plan``'s byte for byte."""

    header: Plan
    tasks: Iterable[Task]
    """Re-iterable, in the order of ``Plan.tasks``."""

    @classmethod
    def of(cls, plan: Plan) -> StreamedPlan:
        """An in-memory plan seen as a stream."""
        return cls(msgspec.structs.replace(plan, tasks=()), plan.tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)


# ---------------------------------------------------------------- what an evaluation hands the planner


class Need(msgspec.Struct, frozen=True, array_like=True):
    """One finding of one host that needs remediation: its earliest deadline and most
    urgent verdict among the policies that plan it, and the binding freezes whose
    ``allow`` does not admit it (evaluated where the finding's record was at hand)."""

    id: str
    vuln: str
    package: str | None
    fixed_version: str | None
    patch: str | None
    severity: str
    kev: bool
    verdict: str
    deadline: datetime
    policies: tuple[str, ...]
    blocked: tuple[int, ...]
    """Indexes (bundle order) of binding freezes that do not admit the finding."""


class HostNeeds(msgspec.Struct, frozen=True, array_like=True):
    """A host with something to remediate, as the planner's first pass saw it: its ring,
    the windows selecting it, the freezes binding it, and its needs (sorted by deadline,
    then finding id). Everything the second pass (window assignment) needs, without the
    host's or the findings' records."""

    host: str
    owner: str | None
    ring: tuple[int, int, str] | None
    windows: tuple[int, ...]
    """Indexes (bundle order) of the windows whose selector selects the host."""
    binding: tuple[int, ...]
    needs: tuple[Need, ...]


@dataclass(frozen=True)
class Remediation:
    """The planner's first pass over an evaluation (made while hosts are judged, in every
    process): the hosts with needs in assignment order (ring, then host id; msgspec JSON
    rows of ``HostNeeds``), the horizon it was made for, and the CEL failures met."""

    hosts: Iterable[bytes]
    count: int
    horizon_end: datetime
    problems: frozenset[str]


# ---------------------------------------------------------------- upcoming windows


class FreezeNote(msgspec.Struct, frozen=True):
    """A freeze overlapping a window occurrence."""

    freeze: str
    policy: str
    allow: str | None
    """The ``allow`` text: what may still be changed."""
    binds: bool | None
    """Whether it selects the host asked about; None when no host was given."""
    hosts: str | None = None
    """The freeze's host selector (CEL), None when it freezes every host of the window."""

    @property
    def applies(self) -> bool:
        """Whether it certainly freezes the occurrence: it binds the host asked about, or
        no host was asked about and it freezes every host."""
        return self.binds is True or (self.binds is None and self.hosts is None)


class UpcomingWindow(msgspec.Struct, frozen=True):
    """One occurrence of one window, with the freezes overlapping it."""

    policy: str
    window: str
    hosts: str | None
    occurrence: Occurrence
    freezes: tuple[FreezeNote, ...]
