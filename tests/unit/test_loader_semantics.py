"""The semantic checks (loader/semantics.py): each one finds its own mistake and no other
check fires on it, and every check written is run."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from patchpolicy.loader import read_documents, semantics, validate_document
from patchpolicy.loader.compile import Loaded

INVALID = Path(__file__).parents[1] / "data" / "invalid"

_POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: {name}
  version: 1.0.0{controls}
spec:
  rules:
    - id: critical
      when: finding.severity == "critical"
      within: 15d{rules}{windows}
"""
_CONTROL = '\n    - {framework: PCI-DSS, version: 4.0.1, id: "6.3.3"}'
_EXCEPTION = """\
  - id: {ident}
    match: 'finding.severity == "critical"'
    justification: isolated on VLAN 40.
    approved_by: jane.doe@example.com
    approved_at: 2026-10-01
    expires: 2026-12-31
"""
_SET = "apiVersion: patchpolicy/v1\nkind: ExceptionSet\nmetadata:\n  name: q4\nexceptions:\n"


def _policy(name: str = "p", controls: str = "", rules: str = "", windows: str = "") -> str:
    return _POLICY.format(name=name, controls=controls, rules=rules, windows=windows)


CASES: dict[str, str | Path] = {
    "unique_document_names": _policy("same") + "---\n" + _policy("same"),
    "unique_exception_ids": _SET + _EXCEPTION.format(ident="E1") + _EXCEPTION.format(ident="E1"),
    "unique_item_ids": INVALID / "duplicate-rule-id.yaml",
    "unique_control_ids": _policy(controls="\n  controls:" + _CONTROL + _CONTROL),
    "known_controls": INVALID / "unknown-control-id.yaml",
    "window_bounds_in_order": _policy(windows="""
  windows:
    - id: w
      rrule: FREQ=WEEKLY;BYDAY=SA
      start: "02:00"
      duration: 4h
      not_before: 2027-01-01T00:00:00Z
      not_after: 2026-01-01T00:00:00Z"""),
    "window_schedules": INVALID / "window-never-occurs.yaml",
    "known_policies": INVALID / "exception-unknown-policy.yaml",
    "exception_lifetimes": INVALID / "exception-over-max-lifetime.yaml",
}


def _documents(case: str | Path, tmp_path: Path) -> semantics.Documents:
    if isinstance(case, Path):
        path, raw = case, case.read_bytes()
    else:
        path, raw = tmp_path / "case.yaml", case.encode()
    docs, errs = read_documents(path, raw)
    assert errs == []
    loaded = []
    for doc in docs:
        model, errs = validate_document(doc)
        assert errs == [], errs
        assert model is not None
        loaded.append(Loaded(doc, model))
    return semantics.Documents.of(loaded)


def test_every_check_is_run() -> None:
    """A check written in semantics.py but left out of CHECKS would never run."""
    written = {
        name for name, fn in inspect.getmembers(semantics, inspect.isfunction)
        if fn.__module__ == semantics.__name__ and not name.startswith("_")
        and name != "semantic_checks"
    }
    assert written == {check.__name__ for check in semantics.CHECKS}
    assert written == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_check_finds_its_own_mistake(name: str, tmp_path: Path) -> None:
    docs = _documents(CASES[name], tmp_path)
    found = {check.__name__: list(check(docs)) for check in semantics.CHECKS}
    assert found.pop(name), f"{name} found nothing"
    assert {other: diags for other, diags in found.items() if diags} == {}


def test_a_clean_bundle_passes_every_check(tmp_path: Path) -> None:
    text = _policy(controls="\n  controls:" + _CONTROL, rules='\n      controls: ["6.3.3"]')
    docs = _documents(text + "---\n" + _SET + _EXCEPTION.format(ident="E1"), tmp_path)
    assert (len(docs.policies), len(docs.sets), len(docs.tests)) == (1, 1, 0)
    assert semantics.semantic_checks([]) == []
    assert [d for check in semantics.CHECKS for d in check(docs)] == []
