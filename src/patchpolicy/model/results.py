"""What an evaluation produces: verdicts per item, host checks, exception and control status.

Items are msgspec structs: an evaluation of 10^6 findings creates many of them, and
msgspec builds and encodes them an order of magnitude faster than pydantic.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class Verdict(StrEnum):
    """Exactly one per (policy, host, finding); FORMATS.md section 3."""

    REMEDIATED = "remediated"
    REMEDIATED_LATE = "remediated_late"
    OPEN = "open"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    EXCEPTED = "excepted"
    NOT_AFFECTED = "not_affected"
    UNTRACKED = "untracked"
    ERROR = "error"


class CheckVerdict(StrEnum):
    """Outcome of one host-hygiene check."""

    OK = "ok"
    SCAN_STALE = "scan_stale"
    NEVER_SCANNED = "never_scanned"
    REBOOT_OVERDUE = "reboot_overdue"
    ERROR = "error"


class Bucket(StrEnum):
    """The gate's view of a verdict (conftest-style outcome buckets)."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    WAIVED = "waived"


BUCKET_OF: dict[str, Bucket] = {
    Verdict.REMEDIATED: Bucket.PASS,
    Verdict.REMEDIATED_LATE: Bucket.WARN,
    Verdict.OPEN: Bucket.PASS,
    Verdict.DUE_SOON: Bucket.WARN,
    Verdict.OVERDUE: Bucket.FAIL,
    Verdict.EXCEPTED: Bucket.WAIVED,
    Verdict.NOT_AFFECTED: Bucket.PASS,
    Verdict.UNTRACKED: Bucket.PASS,
    Verdict.ERROR: Bucket.FAIL,
    CheckVerdict.OK: Bucket.PASS,
    CheckVerdict.SCAN_STALE: Bucket.FAIL,
    CheckVerdict.NEVER_SCANNED: Bucket.FAIL,
    CheckVerdict.REBOOT_OVERDUE: Bucket.FAIL,
    CheckVerdict.ERROR: Bucket.FAIL,
}

#: Not remediated and on an SLA clock: what the ageing chart, the POA&M and the planner track.
OPEN_VERDICTS = frozenset({Verdict.OVERDUE, Verdict.DUE_SOON, Verdict.OPEN})

# Worst first: the order `check` lists items in.
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "none": 4, "unknown": 5}
"""Most severe first: the one severity order of reports, worst items and tasks."""
VERDICT_ORDER = {
    Verdict.ERROR: 0, Verdict.OVERDUE: 1, Verdict.DUE_SOON: 2, Verdict.REMEDIATED_LATE: 3,
    Verdict.EXCEPTED: 4, Verdict.OPEN: 5, Verdict.UNTRACKED: 6, Verdict.NOT_AFFECTED: 7,
    Verdict.REMEDIATED: 8,
}


class RuleMatch(msgspec.Struct, frozen=True):
    """A rule whose ``when`` matched, with the deadline it gives."""

    rule: str
    within: str
    clock_source: str | None
    clock_start: datetime | None
    deadline: datetime | None
    capped_by_kev: bool = False


class Item(msgspec.Struct, frozen=True, omit_defaults=False):
    """The verdict of one (policy, host, finding) and everything that explains it."""

    policy: str
    host: str
    finding: str
    vuln: str
    package: str | None
    severity: str
    status: str
    verdict: Verdict
    bucket: Bucket
    binding_rule: str | None = None
    matches: tuple[RuleMatch, ...] = ()
    clock_source: str | None = None
    clock_start: datetime | None = None
    deadline: datetime | None = None
    days_left: int | None = None
    """Whole days from as-of to the deadline, negative when overdue (toward zero)."""
    fixed_at: datetime | None = None
    exception: str | None = None
    expired_exceptions: tuple[str, ...] = ()
    controls: tuple[str, ...] = ()
    before_effective: bool = False
    message: str | None = None
    """Why the verdict is `error`, or a note a reviewer needs."""
    kev: bool = False
    owner: str | None = None
    fixed_version: str | None = None
    patch: str | None = None


class HostCheck(msgspec.Struct, frozen=True):
    """One hygiene check of one host under one policy."""

    policy: str
    host: str
    check: str
    """``scan_freshness``, ``reboot`` or ``scope`` (scope could not be evaluated)."""
    verdict: CheckVerdict
    bucket: Bucket
    detail: str
    controls: tuple[str, ...] = ()
    before_effective: bool = False
    observed_at: datetime | None = None
    """The last scan (``scan_freshness``), or since when a reboot is pending (``reboot``)."""
    due: datetime | None = None
    """When the check fails or failed: ``observed_at`` plus the policy's limit."""


class ExceptionStatus(StrEnum):
    VALID = "valid"
    EXPIRING_SOON = "expiring_soon"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    OVER_LIFETIME = "over_lifetime"
    ERROR = "error"
    """Its match failed at run time: it fails the gate like any error item."""


class ExceptionReport(msgspec.Struct, frozen=True):
    id: str
    exception_set: str
    policies: tuple[str, ...]
    status: ExceptionStatus
    approved_by: str
    approved_at: datetime
    expires: datetime
    ticket: str | None
    justification: str
    compensating_controls: tuple[str, ...]
    items_covered: int
    """Items this exception waives at as-of (0 unless it is valid or expiring soon)."""
    orphaned: bool
    """True when the exception matched no finding in the snapshot (never for an error)."""
    items_matched: int = 0
    """Items its match selects, whatever its status (what it would cover if valid)."""
    over_lifetime_for: tuple[str, ...] = ()
    """Policies whose exceptions.max_lifetime it exceeds: it covers nothing under them."""
    error: str | None = None
    """Why its match failed, for status error."""


class ControlStatus(StrEnum):
    SATISFIED = "satisfied"
    NOT_SATISFIED = "not_satisfied"
    NOT_ASSESSED = "not_assessed"
    """Its policy judged nothing (no host in scope): never satisfied by default."""


class ControlReport(msgspec.Struct, frozen=True):
    policy: str
    framework: str
    framework_version: str
    control: str
    title: str | None
    status: ControlStatus
    counts: dict[str, int]
    """Verdict -> count of items and host checks attributed to this control."""
    failing: tuple[str, ...]
    """References ``policy/host/finding`` or ``policy/host#check`` of failing entries."""
    failing_total: int
    requirement: str | None = None


class PolicyInfo(msgspec.Struct, frozen=True):
    name: str
    version: str
    title: str | None
    file: str
    effective_from: datetime | None
    in_effect: bool
    retention_years: int | None = None
    retention_basis: str | None = None
    owner: str | None = None
    """``metadata.owner``: who answers for the policy (a team or an address)."""


class InputFile(msgspec.Struct, frozen=True):
    path: str
    sha256: str
    size: int


class SnapshotInput(msgspec.Struct, frozen=True, omit_defaults=True):
    """The snapshot read. Of a sharded one (several JSON Lines files, or a directory of
    them): ``path`` as given (the directory, or the files joined by ``, ``), ``sha256``
    and ``size`` of the shards' bytes one after another, and ``shards`` each file in the
    order read; ``shards`` is absent for one file."""

    path: str
    sha256: str
    size: int
    taken_at: datetime
    source_tool: str | None
    source_version: str | None
    shards: tuple[InputFile, ...] = ()


class RunInputs(msgspec.Struct, frozen=True):
    """What an evaluation read, with digests, so an auditor can re-check the evidence."""

    policies: tuple[InputFile, ...]
    snapshot: SnapshotInput
    tool_version: str
