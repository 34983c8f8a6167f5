"""JSON Schema of every document kind, exported from the models: the documents
patchpolicy reads (``DocumentKind``, pydantic) and the ones it writes (``OutputKind``,
msgspec).

The same schemas are committed under ``schemas/`` at the repository root (a test fails
when they drift) so editors and other tools can validate policies, and consumers the
evidence, plan and diff outputs, without patchpolicy.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, assert_never

import msgspec
from pydantic import BaseModel

from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.fleet import FleetSnapshot
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.model.policytest import PolicyTest

SCHEMA_BASE = "https://patchpolicy.dev/schemas/v1/"


class DocumentKind(StrEnum):
    PATCH_POLICY = "PatchPolicy"
    EXCEPTION_SET = "ExceptionSet"
    FLEET_SNAPSHOT = "FleetSnapshot"
    POLICY_TEST = "PolicyTest"


def model_for(kind: DocumentKind) -> type[BaseModel]:
    match kind:
        case DocumentKind.PATCH_POLICY:
            return PatchPolicy
        case DocumentKind.EXCEPTION_SET:
            return ExceptionSet
        case DocumentKind.FLEET_SNAPSHOT:
            return FleetSnapshot
        case DocumentKind.POLICY_TEST:
            return PolicyTest
        case _:
            assert_never(kind)


def _identified(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as draft 2020-12 with the stable ``$id`` of ``name``."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"{SCHEMA_BASE}{name}.json", **schema}


def _canonical(schema: dict[str, Any]) -> str:
    """Canonical text of a schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_for(kind: DocumentKind) -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of a document kind, with a stable ``$id``."""
    return _identified(kind.value, model_for(kind).model_json_schema(by_alias=True, mode="validation"))


def schema_text(kind: DocumentKind) -> str:
    """Canonical text of the schema: sorted keys, 2-space indent, trailing newline."""
    return _canonical(schema_for(kind))


def schema_filename(kind: DocumentKind) -> str:
    return f"{kind.value}.schema.json"


class OutputKind(StrEnum):
    """The JSON documents patchpolicy writes."""

    EVIDENCE = "Evidence"
    """``evidence.json`` (and ``check --format json``)."""
    ITEM = "Item"
    """One line of ``items.jsonl``."""
    REMEDIATION_PLAN = "RemediationPlan"
    """``tasks.json``."""
    POLICY_DIFF = "PolicyDiff"
    """``diff --format json``."""


def output_type_for(kind: OutputKind) -> type[msgspec.Struct]:
    from patchpolicy.documents import EvidenceDocument, PolicyDiffDocument
    from patchpolicy.model.plan import Plan
    from patchpolicy.model.results import Item

    match kind:
        case OutputKind.EVIDENCE:
            return EvidenceDocument
        case OutputKind.ITEM:
            return Item
        case OutputKind.REMEDIATION_PLAN:
            return Plan
        case OutputKind.POLICY_DIFF:
            return PolicyDiffDocument
        case _:
            assert_never(kind)


def output_schema_for(kind: OutputKind) -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of an output document, with a stable ``$id``."""
    return _identified(kind.value, msgspec.json.schema(output_type_for(kind)))


def output_schema_text(kind: OutputKind) -> str:
    """Canonical text, as ``schema_text``."""
    return _canonical(output_schema_for(kind))


def output_schema_filename(kind: OutputKind) -> str:
    return f"{kind.value}.schema.json"


def write_output_schemas(directory: str) -> list[str]:
    """Write every output schema into ``directory`` (regenerating ``schemas/``); return the
    paths written."""
    from pathlib import Path

    from patchpolicy.snapshot import atomic_write

    written = []
    for kind in OutputKind:
        path = Path(directory) / output_schema_filename(kind)
        atomic_write(path, [output_schema_text(kind).encode()])
        written.append(str(path))
    return written
