"""JSON Schema of every document kind, exported from the models.

The same schemas are committed under ``schemas/`` at the repository root (a test fails
when they drift) so editors and other tools can validate policies without patchpolicy.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, assert_never

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


def schema_for(kind: DocumentKind) -> dict[str, Any]:
    """The draft 2020-12 JSON Schema of a document kind, with a stable ``$id``."""
    schema = model_for(kind).model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_BASE}{kind.value}.json",
        **schema,
    }


def schema_text(kind: DocumentKind) -> str:
    """Canonical text of the schema: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema_for(kind), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_filename(kind: DocumentKind) -> str:
    return f"{kind.value}.schema.json"
