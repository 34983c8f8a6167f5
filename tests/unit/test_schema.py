"""The committed JSON Schemas (schemas/ at the repository root) match the models, and they
accept the example documents and reject broken ones without patchpolicy installed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from patchpolicy.cli import main
from patchpolicy.loader import read_documents
from patchpolicy.schema import (
    DocumentKind,
    OutputKind,
    model_for,
    output_schema_filename,
    schema_filename,
    schema_for,
    schema_text,
)

ROOT = Path(__file__).parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
REGENERATE = (
    "the committed schema is out of date with the models; regenerate every schema with\n"
    "    for k in PatchPolicy ExceptionSet FleetSnapshot PolicyTest; do\n"
    "        patchpolicy schema $k > schemas/$k.schema.json; done\n"
    "and commit the result"
)


def _validator(kind: DocumentKind) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / schema_filename(kind)).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _errors(kind: DocumentKind, doc: Any) -> list[str]:
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in _validator(kind).iter_errors(doc)
    )


def _plain(data: Any) -> Any:
    """ruamel's round-trip containers and scalar strings -> plain JSON types."""
    return json.loads(json.dumps(data))


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    # The loader's own ruamel configuration: timestamps stay text, as in a YAML editor
    # that validates against the schema.
    docs, errors = read_documents(path)
    assert not errors, errors
    return [_plain(d.data) for d in docs]


# ---------------------------------------------------------------- drift


@pytest.mark.parametrize("kind", list(DocumentKind), ids=lambda k: k.value)
def test_committed_schema_matches_models(kind: DocumentKind) -> None:
    committed = SCHEMAS / schema_filename(kind)
    assert committed.is_file(), f"{committed} is missing; {REGENERATE}"
    assert committed.read_text(encoding="utf-8") == schema_text(kind), REGENERATE


@pytest.mark.parametrize("kind", list(DocumentKind), ids=lambda k: k.value)
def test_cli_prints_exactly_the_committed_schema(kind: DocumentKind) -> None:
    result = CliRunner().invoke(main, ["schema", kind.value])
    assert result.exit_code == 0, result.output
    assert result.output == (SCHEMAS / schema_filename(kind)).read_text(encoding="utf-8")


def test_schemas_directory_holds_one_file_per_kind() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(
        [schema_filename(k) for k in DocumentKind] + [output_schema_filename(k) for k in OutputKind]
    )


@pytest.mark.parametrize("kind", list(DocumentKind), ids=lambda k: k.value)
def test_schema_is_valid_draft_2020_12_with_stable_id(kind: DocumentKind) -> None:
    schema = schema_for(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{kind.value}.json")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["kind"] == {"const": kind.value, "title": "Kind", "type": "string"}


def test_model_for_covers_every_kind() -> None:
    models = {model_for(k) for k in DocumentKind}
    assert len(models) == len(DocumentKind)
    for kind in DocumentKind:
        assert model_for(kind).__name__ == kind.value


# ---------------------------------------------------------------- examples accepted


def _example_policy_documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((EXAMPLES / "policies").glob("*.yaml")):
        out.extend(
            (f"{path.name}#{i}", doc) for i, doc in enumerate(_yaml_documents(path))
        )
    return out


EXAMPLE_DOCS = _example_policy_documents()


def test_examples_are_present() -> None:
    kinds = {doc["kind"] for _, doc in EXAMPLE_DOCS}
    assert {"PatchPolicy", "ExceptionSet"} <= kinds


@pytest.mark.parametrize(("name", "doc"), EXAMPLE_DOCS, ids=[n for n, _ in EXAMPLE_DOCS])
def test_example_policy_documents_match_their_schema(name: str, doc: dict[str, Any]) -> None:
    assert _errors(DocumentKind(doc["kind"]), doc) == []


def test_example_fleet_matches_schema() -> None:
    fleet = json.loads((EXAMPLES / "fleet.json").read_text(encoding="utf-8"))
    assert _errors(DocumentKind.FLEET_SNAPSHOT, fleet) == []


# ---------------------------------------------------------------- broken documents rejected


def _pci() -> dict[str, Any]:
    return copy.deepcopy(dict(EXAMPLE_DOCS)["pci.yaml#0"])


def _exceptions() -> dict[str, Any]:
    return copy.deepcopy(dict(EXAMPLE_DOCS)["exceptions-payments.yaml#0"])


def _fleet() -> dict[str, Any]:
    return json.loads((EXAMPLES / "fleet.json").read_text(encoding="utf-8"))


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node: Any = doc
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
    return doc


def _delete(doc: dict[str, Any], path: str) -> dict[str, Any]:
    node: Any = doc
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for p in parts[:-1]:
        node = node[p]
    del node[parts[-1]]
    return doc


@pytest.mark.parametrize(
    ("label", "kind", "make", "expected"),
    [
        ("typo'd key", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.rules.0.whithin", "14d"), "'whithin' was unexpected"),
        ("missing within", DocumentKind.PATCH_POLICY,
         lambda: _delete(_pci(), "spec.rules.1.within"), "'within' is a required property"),
        ("empty rules", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.rules", []), "should be non-empty"),
        ("bad duration", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.due_soon", "30 days"), "does not match"),
        ("months", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.rules.0.within", "P1M"), "does not match"),
        ("semver", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "metadata.version", "v2"), "does not match"),
        ("wrong apiVersion", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "apiVersion", "patchpolicy/v2"), "'patchpolicy/v1' was expected"),
        ("wrong kind", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "kind", "PatchPolicey"), "'PatchPolicy' was expected"),
        ("unknown clock source", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.clock", ["first_seen", "discovered"]), "is not one of"),
        ("bad local time", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.windows", [
             {"id": "w", "rrule": "FREQ=WEEKLY", "start": "25:00", "duration": "4h"}
         ]), "does not match"),
        ("bad id", DocumentKind.PATCH_POLICY,
         lambda: _set(_pci(), "spec.rules.0.id", "-kev"), "does not match"),
        ("exception without match", DocumentKind.EXCEPTION_SET,
         lambda: _delete(_exceptions(), "exceptions.0.match"), "'match' is a required property"),
        ("exception bad date", DocumentKind.EXCEPTION_SET,
         lambda: _set(_exceptions(), "exceptions.0.expires", "2026-02-30"),
         "is not valid under any of the given schemas"),
        ("exception naive approved_at", DocumentKind.EXCEPTION_SET,
         lambda: _set(_exceptions(), "exceptions.0.approved_at", "2026-10-01T09:00:00"),
         "is not valid under any of the given schemas"),
        ("no exceptions", DocumentKind.EXCEPTION_SET,
         lambda: _set(_exceptions(), "exceptions", []), "should be non-empty"),
        ("fleet severity", DocumentKind.FLEET_SNAPSHOT,
         lambda: _set(_fleet(), "hosts.0.findings.0.severity", "CRITICAL"), "is not one of"),
        ("fleet cvss range", DocumentKind.FLEET_SNAPSHOT,
         lambda: _set(_fleet(), "hosts.0.findings.0.cvss", 11.0),
         "is not valid under any of the given schemas"),
        ("fleet naive timestamp", DocumentKind.FLEET_SNAPSHOT,
         lambda: _set(_fleet(), "taken_at", "2026-11-20T06:00:00"), "does not match"),
        ("fleet unknown host key", DocumentKind.FLEET_SNAPSHOT,
         lambda: _set(_fleet(), "hosts.0.enviroment", "prod"), "'enviroment' was unexpected"),
        ("fleet no hosts key", DocumentKind.FLEET_SNAPSHOT,
         lambda: _delete(_fleet(), "hosts"), "'hosts' is a required property"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " in v else None,
)
def test_broken_documents_are_rejected(
    label: str, kind: DocumentKind, make: Any, expected: str
) -> None:
    errors = _errors(kind, make())
    assert errors, f"{label}: accepted by the schema"
    assert any(expected in e for e in errors), errors


def test_schema_and_model_agree_on_a_broken_document() -> None:
    """What the committed schema rejects, the model rejects too (and vice versa here)."""
    import pydantic

    doc = _set(_pci(), "spec.rules.0.whithin", "14d")
    with pytest.raises(pydantic.ValidationError):
        model_for(DocumentKind.PATCH_POLICY).model_validate(doc)
    model_for(DocumentKind.PATCH_POLICY).model_validate(_pci())
