"""The fleet snapshot: hosts, their findings and scan times (FORMATS.md section 2).

Two views of one format:

* pydantic models (``FleetSnapshot``, ``Host``, ``Finding``) for the JSON Schema export
  and for small documents written by hand;
* msgspec structs (``HostRecord``, ``FindingRecord``) that the evaluator decodes at
  scale: typed and validated in C, no per-finding pydantic cost (~5 us per object).

A test keeps the two in step field by field. ``FIELDS`` is the tree of every field the
CEL activation carries, derived from the structs; the expression checker reads it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
from pydantic import Field

from patchpolicy.model.common import Day, Model, Timestamp

API_VERSION = "patchpolicy/v1"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"
    UNKNOWN = "unknown"


class FindingStatus(StrEnum):
    OPEN = "open"
    FIXED = "fixed"
    PENDING_REBOOT = "pending_reboot"
    FAILED = "failed"
    NOT_AFFECTED = "not_affected"


SeverityName = Literal["critical", "high", "medium", "low", "none", "unknown"]
StatusName = Literal["open", "fixed", "pending_reboot", "failed", "not_affected"]
CriticalityName = Literal["critical", "high", "medium", "low"]
ExposureName = Literal["internet", "partner", "internal", "isolated"]

# ---------------------------------------------------------------- pydantic (boundary) view


class Package(Model):
    name: str
    version: str | None = None
    purl: str | None = None
    ecosystem: str | None = None


class Kev(Model):
    """CISA KEV catalog entry for the finding's vulnerability."""

    date_added: Day
    due_date: Day | None = None
    ransomware: bool = False


class OperatingSystem(Model):
    family: str | None = None
    version: str | None = None


class Finding(Model):
    id: str = Field(min_length=1, description="Unique within the host, e.g. CVE/package.")
    vuln: str = Field(min_length=1, description="Vulnerability id: CVE, GHSA, OSV, vendor id.")
    aliases: list[str] = []
    package: Package | None = None
    fixed_version: str | None = None
    patch: str | None = Field(default=None, description="Advisory or patch id, e.g. DSA-5724-1.")
    severity: SeverityName = "unknown"
    cvss: Annotated[float, Field(ge=0.0, le=10.0)] | None = None
    cvss_source: str | None = None
    epss: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    epss_percentile: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    kev: Kev | None = None
    published_at: Timestamp | None = None
    fix_released_at: Timestamp | None = None
    first_seen_at: Timestamp | None = None
    status: StatusName = "open"
    status_reason: str | None = Field(
        default=None, description="Why the status is what it is, e.g. a VEX justification."
    )
    fixed_at: Timestamp | None = None
    provenance: dict[str, str] = Field(
        default={}, description="Where a value came from, e.g. {'cvss': 'nvd'}."
    )


class Host(Model):
    id: str = Field(min_length=1)
    name: str | None = None
    env: str | None = None
    tags: list[str] = []
    labels: dict[str, str] = {}
    owner: str | None = None
    criticality: CriticalityName | None = None
    exposure: ExposureName | None = None
    os: OperatingSystem | None = None
    last_scan: Timestamp | None = None
    reboot_pending_since: Timestamp | None = None
    findings: list[Finding] = []


class SnapshotSource(Model):
    tool: str | None = None
    version: str | None = None


class FleetSnapshot(Model):
    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815 - the document's own key
    kind: Literal["FleetSnapshot"]
    taken_at: Timestamp
    source: SnapshotSource | None = None
    hosts: list[Host]


# ---------------------------------------------------------------- msgspec (fast) view

_AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
_Unit = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
_Cvss = Annotated[float, msgspec.Meta(ge=0.0, le=10.0)]
_NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


class PackageRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    version: str | None = None
    purl: str | None = None
    ecosystem: str | None = None


class KevRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    date_added: date
    due_date: date | None = None
    ransomware: bool = False


class OsRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    family: str | None = None
    version: str | None = None


class FindingRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: _NonEmpty
    vuln: _NonEmpty
    aliases: tuple[str, ...] = ()
    package: PackageRecord | None = None
    fixed_version: str | None = None
    patch: str | None = None
    severity: SeverityName = "unknown"
    cvss: _Cvss | None = None
    cvss_source: str | None = None
    epss: _Unit | None = None
    epss_percentile: _Unit | None = None
    kev: KevRecord | None = None
    published_at: _AwareDatetime | None = None
    fix_released_at: _AwareDatetime | None = None
    first_seen_at: _AwareDatetime | None = None
    status: StatusName = "open"
    status_reason: str | None = None
    fixed_at: _AwareDatetime | None = None
    provenance: dict[str, str] = {}


class HostRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: _NonEmpty
    name: str | None = None
    env: str | None = None
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    owner: str | None = None
    criticality: CriticalityName | None = None
    exposure: ExposureName | None = None
    os: OsRecord | None = None
    last_scan: _AwareDatetime | None = None
    reboot_pending_since: _AwareDatetime | None = None
    findings: tuple[FindingRecord, ...] = ()


class SourceRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tool: str | None = None
    version: str | None = None


class SnapshotHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Line 1 of a JSON Lines snapshot, or the single document without its hosts."""

    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815
    kind: Literal["FleetSnapshot"]
    taken_at: _AwareDatetime
    source: SourceRecord | None = None


class SnapshotDocument(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    apiVersion: Literal["patchpolicy/v1"]  # noqa: N815
    kind: Literal["FleetSnapshot"]
    taken_at: _AwareDatetime
    hosts: tuple[HostRecord, ...]
    source: SourceRecord | None = None


# ---------------------------------------------------------------- the CEL field tree

FieldTree = dict[str, "str | FieldTree"]
"""Field name -> CEL type name (``string``, ``double``, ``bool``, ``timestamp``,
``list(string)``, ``map(string,string)``, ``int``), or a nested tree for messages.
Every field may also be null."""


def _cel_type(tp: Any) -> str | FieldTree:
    import typing

    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is Annotated:
        return _cel_type(args[0])
    if origin in (typing.Union, __import__("types").UnionType):
        if len(args) == 1:
            return _cel_type(args[0])
        raise TypeError(f"unsupported union {tp!r}")
    if origin is Literal:
        return "string"
    if origin is tuple:
        return f"list({_cel_type(args[0])})"
    if origin is dict:
        return f"map({_cel_type(args[0])},{_cel_type(args[1])})"
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _struct_tree(tp)
    simple = {str: "string", float: "double", int: "int", bool: "bool",
              datetime: "timestamp", date: "timestamp"}
    if tp in simple:
        return simple[tp]
    raise TypeError(f"unsupported field type {tp!r}")


def _struct_tree(cls: type[msgspec.Struct]) -> FieldTree:
    hints = __import__("typing").get_type_hints(cls, include_extras=True)
    return {
        name: _cel_type(hints[name]) for name in cls.__struct_fields__ if name != "findings"
    }


FIELDS: FieldTree = {"host": _struct_tree(HostRecord), "finding": _struct_tree(FindingRecord)}
"""What ``host`` and ``finding`` carry in a CEL expression. KEV dates are timestamps at
the start of their day UTC inside CEL."""
