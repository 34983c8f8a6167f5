"""diff misses no field: every field of every policy and exception model is classified."""

from __future__ import annotations

import typing
from pathlib import Path

import pydantic

from patchpolicy.loader import load_bundle
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.review.diff import Classification, diff_bundles
from patchpolicy.review.fields import FIELD_TABLE, unclassified_changes


def _models(tp: object) -> list[type[pydantic.BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models(a)]


def _paths(model: type[pydantic.BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        out.append(path)
        for sub in _models(f.annotation):
            out.extend(_paths(sub, path))
    return out


def test_every_model_field_is_classified_and_no_entry_is_stale() -> None:
    for kind, model in (("PatchPolicy", PatchPolicy), ("ExceptionSet", ExceptionSet)):
        paths = set(_paths(model))
        table = set(FIELD_TABLE[kind])
        assert paths - table == set(), f"{kind}: fields the diff does not classify"
        assert table - paths == set(), f"{kind}: table entries for fields that do not exist"


def test_an_unclassified_difference_is_unknown_never_equal() -> None:
    old = {"metadata": {"name": "p", "new_field": 1}, "spec": {"rules": [{"id": "a"}]}}
    new = {"metadata": {"name": "p", "new_field": 2}, "spec": {"rules": [{"id": "b"}]}}
    # rules are diffed by id elsewhere; the unknown field is reported.
    assert list(unclassified_changes("PatchPolicy", old, new)) == [("metadata.new_field", 1, 2)]


POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: p
  version: {version}
  retention: {{years: {years}, basis: "HIPAA 45 CFR 164.316(b)(2)(i)"}}
spec:
  rules:
    - {{id: all, when: 'true', within: 10d}}
"""


def test_retention_shorter_is_a_weakening(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "old" / "p.yaml").write_text(POLICY.format(version="1.0.0", years=6))
    (tmp_path / "new" / "p.yaml").write_text(POLICY.format(version="1.1.0", years=1))
    result = diff_bundles(load_bundle([tmp_path / "old"]), load_bundle([tmp_path / "new"]))
    (change,) = result.changes
    assert change.classification == Classification.WEAKENING and change.field == "retention.years"
    # ...published as a minor bump: the diff fails by default.
    assert result.exit_code() == 1 and result.exit_code(allow_minor_weakening=True) == 0
