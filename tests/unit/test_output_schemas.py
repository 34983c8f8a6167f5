"""The committed JSON Schemas of the outputs (schemas/Evidence, Item, RemediationPlan,
PolicyDiff) match the types they are generated from, and the outputs of a real run on the
example bundle and fleet validate against them; a document with a key the schema does not
know, or a value outside an enum, does not."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from patchpolicy.cli import main
from patchpolicy.documents import DiffSummary
from patchpolicy.review.diff import Classification
from patchpolicy.schema import (
    OutputKind,
    output_schema_filename,
    output_schema_for,
    output_schema_text,
    output_type_for,
)

ROOT = Path(__file__).parents[2]
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
REGENERATE = (
    "the committed output schema is out of date with its type; regenerate with\n"
    "    python -c \"from patchpolicy.schema import write_output_schemas as w; w('schemas')\"\n"
    "and commit the result"
)


def _errors(kind: OutputKind, doc: Any) -> list[str]:
    schema = json.loads((SCHEMAS / output_schema_filename(kind)).read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)
    )


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 1), result.output + result.stderr
    return result.exit_code, result.stdout


# ---------------------------------------------------------------- drift


@pytest.mark.parametrize("kind", list(OutputKind), ids=lambda k: k.value)
def test_committed_output_schema_matches_its_type(kind: OutputKind) -> None:
    committed = SCHEMAS / output_schema_filename(kind)
    assert committed.is_file(), f"{committed} is missing; {REGENERATE}"
    assert committed.read_text(encoding="utf-8") == output_schema_text(kind), REGENERATE


@pytest.mark.parametrize("kind", list(OutputKind), ids=lambda k: k.value)
def test_output_schema_is_valid_draft_2020_12_with_stable_id(kind: OutputKind) -> None:
    schema = output_schema_for(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$id"].endswith(f"/{kind.value}.json")
    assert schema["$defs"][output_type_for(kind).__name__]["type"] == "object"


def test_diff_summary_names_every_classification() -> None:
    fields = set(DiffSummary.__struct_fields__)
    assert fields == {c.value for c in Classification} | {"version_errors", "version_warnings"}


# ---------------------------------------------------------------- real outputs accepted


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "evidence"
    code, _ = _run("evaluate", "-p", str(EXAMPLES / "policies"), "-s", str(EXAMPLES / "fleet.json"),
                   "-o", str(out))
    assert code == 1  # the example fleet fails its gate: the schema must hold either way
    return out


def test_evidence_json_of_a_bundle_matches_its_schema(bundle_dir: Path) -> None:
    doc = json.loads((bundle_dir / "evidence.json").read_text(encoding="utf-8"))
    assert "items_file" in doc and "items" not in doc
    assert _errors(OutputKind.EVIDENCE, doc) == []


def test_every_items_jsonl_line_matches_the_item_schema(bundle_dir: Path) -> None:
    lines = (bundle_dir / "items.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 22
    for n, line in enumerate(lines, 1):
        assert _errors(OutputKind.ITEM, json.loads(line)) == [], f"items.jsonl:{n}"


def test_tasks_json_matches_the_plan_schema(bundle_dir: Path) -> None:
    doc = json.loads((bundle_dir / "tasks.json").read_text(encoding="utf-8"))
    assert doc["kind"] == "RemediationPlan" and doc["tasks"]
    assert _errors(OutputKind.REMEDIATION_PLAN, doc) == []


def test_check_format_json_with_items_inline_matches_the_evidence_schema() -> None:
    _, out = _run("check", "-p", str(EXAMPLES / "policies"), "-s", str(EXAMPLES / "fleet.json"),
                  "--format", "json")
    doc = json.loads(out)
    assert len(doc["items"]) == 22 and "items_file" not in doc
    assert _errors(OutputKind.EVIDENCE, doc) == []


def test_diff_json_with_impact_matches_its_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(EXAMPLES / "policies", tmp_path / "old")
    shutil.copytree(EXAMPLES / "policies", tmp_path / "new")
    shutil.copy(EXAMPLES / "fleet.json", tmp_path / "fleet.json")
    baseline = tmp_path / "new" / "baseline.yaml"
    # A weakening without the major bump it needs: a version check with a warning.
    baseline.write_text(baseline.read_text().replace("within: 15d", "within: 60d")
                        .replace("version: 1.2.0", "version: 1.3.0"))
    monkeypatch.chdir(tmp_path)
    _, out = _run("diff", "old", "new", "-s", "fleet.json", "--format", "json")
    doc = json.loads(out)
    assert doc["impact"] is not None and doc["changes"]
    assert any(d["version_check"] for d in doc["documents"])
    assert _errors(OutputKind.POLICY_DIFF, doc) == []
    _, out = _run("diff", "old", "new", "--format", "json")
    assert _errors(OutputKind.POLICY_DIFF, json.loads(out)) == []


# ---------------------------------------------------------------- drifted outputs refused


def test_an_unknown_key_or_enum_value_is_refused(bundle_dir: Path) -> None:
    doc = json.loads((bundle_dir / "evidence.json").read_text(encoding="utf-8"))
    extra = copy.deepcopy(doc)
    extra["summary"]["gate"]["exit_code"] = 1
    assert _errors(OutputKind.EVIDENCE, extra) == [
        "summary/gate: Additional properties are not allowed ('exit_code' was unexpected)"
    ]
    bad = copy.deepcopy(doc)
    bad["summary"]["by_verdict"]["late"] = 1
    assert _errors(OutputKind.EVIDENCE, bad)
    item = json.loads((bundle_dir / "items.jsonl").read_text(encoding="utf-8").splitlines()[0])
    item["verdict"] = "fine"
    assert _errors(OutputKind.ITEM, item) == ["verdict: 'fine' is not one of " + repr(
        sorted(msgspec.json.schema(output_type_for(OutputKind.ITEM))["$defs"]["Verdict"]["enum"])
    )]
