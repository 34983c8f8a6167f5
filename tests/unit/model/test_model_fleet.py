"""The fleet snapshot's two views (pydantic and msgspec) agree, and FIELDS is the CEL tree."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import msgspec
import pydantic
import pytest

from patchpolicy.model.fleet import (
    FIELDS,
    Finding,
    FindingRecord,
    FleetSnapshot,
    Host,
    HostRecord,
    Kev,
    KevRecord,
    OperatingSystem,
    OsRecord,
    Package,
    PackageRecord,
    SnapshotDocument,
    SnapshotSource,
    SourceRecord,
)

FLEET = Path(__file__).parents[3] / "examples" / "fleet.json"
PAIRS = [
    (Finding, FindingRecord),
    (Host, HostRecord),
    (Package, PackageRecord),
    (Kev, KevRecord),
    (OperatingSystem, OsRecord),
    (SnapshotSource, SourceRecord),
    (FleetSnapshot, SnapshotDocument),
]


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=lambda c: c.__name__)
def test_views_have_the_same_fields_and_defaults(
    model: type[pydantic.BaseModel], struct: type[msgspec.Struct]
) -> None:
    assert sorted(model.model_fields) == sorted(struct.__struct_fields__)
    for field in msgspec.structs.fields(struct):
        info = model.model_fields[field.name]
        where = f"{model.__name__}.{field.name}"
        if info.is_required():
            assert field.required, f"{where} is required in the pydantic view only"
            continue
        assert not field.required, f"{where} is required in the msgspec view only"
        default = field.default if field.default is not msgspec.NODEFAULT else field.default_factory()
        assert info.default == (list(default) if isinstance(default, tuple) else default), where


@pytest.mark.parametrize(("model", "struct"), PAIRS, ids=lambda c: c.__name__)
def test_literal_value_sets_agree(model: type[pydantic.BaseModel], struct: type[msgspec.Struct]) -> None:
    hints = typing.get_type_hints(struct, include_extras=True)
    for name, info in model.model_fields.items():
        a = _literals(info.annotation)
        b = _literals(hints[name])
        assert a == b, f"{model.__name__}.{name}"


def _literals(tp: Any) -> set[str]:
    if typing.get_origin(tp) is typing.Literal:
        return set(typing.get_args(tp))
    out: set[str] = set()
    for arg in typing.get_args(tp):
        out |= _literals(arg)
    return out


def test_example_fleet_decodes_the_same_in_both_views() -> None:
    raw = FLEET.read_bytes()
    doc = msgspec.json.decode(raw, type=SnapshotDocument)
    model = FleetSnapshot.model_validate(json.loads(raw))
    assert len(doc.hosts) == len(model.hosts) == 7
    assert doc.taken_at == model.taken_at
    for rec, host in zip(doc.hosts, model.hosts, strict=True):
        assert rec.id == host.id
        assert [f.id for f in rec.findings] == [f.id for f in host.findings]
        for fr, f in zip(rec.findings, host.findings, strict=True):
            assert fr.severity == f.severity
            assert fr.published_at == f.published_at
            assert (fr.kev is None) == (f.kev is None)


BAD_FINDINGS = [
    {"severity": "CRITICAL"},
    {"status": "closed"},
    {"cvss": 10.5},
    {"epss": -0.1},
    {"published_at": "2024-07-01T13:15:00"},  # no offset
    {"kev": {"due_date": "2024-07-31"}},  # date_added required
    {"unknown_field": 1},
    {"id": ""},
]


@pytest.mark.parametrize("change", BAD_FINDINGS, ids=lambda c: next(iter(c)))
def test_both_views_reject_the_same_bad_finding(change: dict[str, Any]) -> None:
    finding = {"id": "CVE-1/pkg", "vuln": "CVE-1", **change}
    with pytest.raises(pydantic.ValidationError):
        Finding.model_validate(finding)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(json.dumps(finding), type=FindingRecord)


def test_fields_tree_is_what_cel_sees() -> None:
    host, finding = FIELDS["host"], FIELDS["finding"]
    assert isinstance(host, dict) and isinstance(finding, dict)
    assert "findings" not in host  # a finding is bound on its own
    assert host["env"] == "string"
    assert host["tags"] == "list(string)"
    assert host["labels"] == "map(string,string)"
    assert host["last_scan"] == "timestamp"
    assert host["os"] == {"family": "string", "version": "string"}
    assert finding["severity"] == "string"
    assert finding["cvss"] == "double"
    assert finding["kev"] == {"date_added": "timestamp", "due_date": "timestamp", "ransomware": "bool"}
    assert set(finding) == set(FindingRecord.__struct_fields__)
    assert set(host) == set(HostRecord.__struct_fields__) - {"findings"}
