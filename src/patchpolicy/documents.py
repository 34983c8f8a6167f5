"""The JSON documents patchpolicy writes, as types: the source of their JSON Schemas in
``schemas/`` (``schema.output_schema_for``).

``evidence.json`` (and ``check --format json``) is an ``EvidenceDocument``, one line of
``items.jsonl`` a ``model.results.Item``, ``tasks.json`` a ``model.plan.Plan``, and
``diff --format json`` a ``PolicyDiffDocument``. The renderers build the evidence and the
diff as plain data; ``tests/unit/test_output_schemas.py`` validates real outputs against
these schemas, so a renderer that adds or renames a key fails there (the structs here
forbid unknown keys).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from patchpolicy.model.results import (
    Bucket,
    CheckVerdict,
    ControlReport,
    ExceptionReport,
    HostCheck,
    InputFile,
    Item,
    PolicyInfo,
    SnapshotInput,
    Verdict,
)
from patchpolicy.render.interface import RenderOptions
from patchpolicy.review.diff.changes import Classification
from patchpolicy.review.impact import Direction

__all__ = ["EvidenceDocument", "PolicyDiffDocument"]


class _Doc(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A JSON object with exactly these keys (``additionalProperties: false``)."""


# ---------------------------------------------------------------- evidence.json


class Tool(_Doc, frozen=True):
    name: str
    version: str


class EvidenceInputs(_Doc, frozen=True):
    """What the evaluation read, with digests."""

    policies: tuple[InputFile, ...]
    snapshot: SnapshotInput


class HostCheckCounts(_Doc, frozen=True):
    by_verdict: dict[CheckVerdict, int]
    by_bucket: dict[Bucket, int]


class GateSummary(_Doc, frozen=True):
    """The gate's verdict, which the exit code states too (0 pass, 1 fail)."""

    result: Literal["pass", "fail"]
    failing: int
    fail_on: tuple[str, ...]
    reasons: dict[str, int]
    empty_scope: tuple[str, ...]
    allow_empty_scope: bool


class EvidenceSummary(_Doc, frozen=True):
    """Counts of the evaluation; verdict and bucket counts leave out zeros."""

    hosts_read: int
    findings_read: int
    items_judged: int
    hosts_in_scope: dict[str, int]
    """Policy name -> hosts it judged."""
    by_verdict: dict[Verdict, int]
    by_bucket: dict[Bucket, int]
    by_policy: dict[str, dict[Verdict, int]]
    host_checks: HostCheckCounts
    gate: GateSummary


class ItemsFile(_Doc, frozen=True):
    """Where the bundle's items are: ``items.jsonl``, one ``Item`` per line."""

    path: str
    count: int
    size: int
    sha256: str


class EvidenceDocument(_Doc, frozen=True):
    """``evidence.json`` of an evidence bundle (``items_file``, ``files`` and
    ``render_options`` set), or ``check --format json`` (``items`` inline)."""

    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815 - the document's own key
    kind: Literal["Evidence"]
    tool: Tool
    as_of: datetime
    inputs: EvidenceInputs
    policies: tuple[PolicyInfo, ...]
    summary: EvidenceSummary
    controls: tuple[ControlReport, ...]
    exceptions: tuple[ExceptionReport, ...]
    host_checks: tuple[HostCheck, ...]
    items: tuple[Item, ...] | UnsetType = UNSET
    items_file: ItemsFile | UnsetType = UNSET
    files: tuple[str, ...] | UnsetType = UNSET
    """The files the bundle must hold (``verify`` proves it complete with them)."""
    render_options: RenderOptions | UnsetType = UNSET
    """The caps and grouping the other files were made with."""


# ---------------------------------------------------------------- diff --format json


Bump = Literal["none", "patch", "minor", "major"]


class DiffSummary(_Doc, frozen=True):
    """Changes per classification (every classification present), and version issues."""

    weakening: int
    unknown: int
    strengthening: int
    neutral: int
    version_errors: int
    version_warnings: int


class VersionCheckDocument(_Doc, frozen=True):
    severity: Literal["ok", "warning", "error"]
    required: Bump
    actual: Bump | None
    """None when the version went down or was removed."""
    message: str


class DocumentDiffDocument(_Doc, frozen=True):
    """One policy or exception set on either side."""

    kind: str
    name: str
    status: Literal["added", "removed", "changed", "unchanged"]
    old_version: str | None
    new_version: str | None
    location: str | None
    counts: dict[Classification, int]
    version_check: VersionCheckDocument | None


class ChangeDocument(_Doc, frozen=True):
    """One semantic change, classified, with the reason in words."""

    classification: Classification
    kind: str
    document: str
    subject: str
    field: str | None
    old: str | None
    new: str | None
    reason: str
    location: str | None


class ImpactItemDocument(_Doc, frozen=True):
    """One item (``finding`` set) or host check (``check`` set) whose verdict or deadline changed."""

    direction: Direction
    policy: str
    host: str
    finding: str | None
    check: str | None
    old_verdict: str | None
    new_verdict: str | None
    old_deadline: datetime | None
    new_deadline: datetime | None
    old_rule: str | None
    new_rule: str | None


class ImpactDocument(_Doc, frozen=True):
    snapshot: str
    as_of: datetime
    counts: dict[Direction, int]
    items: tuple[ImpactItemDocument, ...]


class PolicyDiffDocument(_Doc, frozen=True):
    """``patchpolicy diff --format json``."""

    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815 - the document's own key
    kind: Literal["PolicyDiff"]
    old: str
    new: str
    summary: DiffSummary
    documents: tuple[DocumentDiffDocument, ...]
    changes: tuple[ChangeDocument, ...]
    """Weakenings first, then unknown, strengthening, neutral."""
    impact: ImpactDocument | None
    """Set when a snapshot was given (``-s``)."""
