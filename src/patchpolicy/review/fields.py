"""How ``diff`` classifies every field of every policy and exception document.

``FIELD_TABLE`` names each field path of the PatchPolicy and ExceptionSet models (list
items without an index: ``spec.rules.within``) with the rule the diff applies to it; a
test walks the models and fails when a field is missing here, so a new field cannot be
silently equal. ``unclassified_changes`` is the safety net at run time: any difference at
a path the table does not name is reported as ``unknown`` (it needs a major bump).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["BY_ID", "FIELD_TABLE", "unclassified_changes"]

BY_ID = "parts matched by id and diffed field by field (see their entries)"

_POLICY = {
    "apiVersion": "identity: documents of another version do not load",
    "kind": "identity: documents are matched by kind and name",
    "metadata": "container",
    "metadata.name": "identity: documents are matched by kind and name",
    "metadata.version": "version discipline (the bump each change needs)",
    "metadata.title": "neutral: documentation only",
    "metadata.description": "neutral: documentation only",
    "metadata.owner": "neutral: documentation only",
    "metadata.effective_from": "later or added: weakening; earlier or removed: strengthening",
    "metadata.controls": BY_ID,
    "metadata.controls.id": "control added: strengthening; removed: weakening",
    "metadata.controls.framework": "neutral: control description only",
    "metadata.controls.version": "neutral: control description only",
    "metadata.controls.title": "neutral: control description only",
    "metadata.controls.requirement": "neutral: control description only",
    "metadata.retention": "container",
    "metadata.retention.years": "fewer years or removed: weakening; more or added: strengthening",
    "metadata.retention.basis": "neutral: documentation of the retention rule",
    "spec": "container",
    "spec.scope": "wider: strengthening; narrower: weakening; undecidable: unknown",
    "spec.due_soon": "longer: strengthening; shorter: weakening",
    "spec.clock": "first source known later: weakening; earlier: strengthening; else unknown",
    "spec.rules": BY_ID,
    "spec.rules.id": "rule added: strengthening; removed: weakening; renamed: neutral",
    "spec.rules.title": "neutral: documentation only",
    "spec.rules.when": "wider: strengthening; narrower: weakening; undecidable: unknown",
    "spec.rules.within": "shorter: strengthening; longer: weakening",
    "spec.rules.clock": "as spec.clock, compared as effective clocks",
    "spec.rules.cap_by_kev_due_date": "added: strengthening; removed: weakening",
    "spec.rules.controls": "control added: strengthening; removed: weakening",
    "spec.hygiene": "container",
    "spec.hygiene.max_scan_age": "added or shorter: strengthening; removed or longer: weakening",
    "spec.hygiene.max_reboot_pending": "added or shorter: strengthening; removed or longer: weakening",
    "spec.hygiene.controls": "control added: strengthening; removed: weakening",
    "spec.exceptions": "container",
    "spec.exceptions.max_lifetime": "added or shorter: strengthening; removed or longer: weakening",
    "spec.windows": BY_ID,
    "spec.freezes": BY_ID,
    "spec.rings": BY_ID,
}
for _part, _fields in (
    ("spec.windows", ("id", "hosts", "rrule", "start", "duration", "offset", "timezone",
                      "not_before", "not_after")),
    ("spec.freezes", ("id", "from_", "until", "yearly", "yearly.from_", "yearly.until",
                      "timezone", "hosts", "allow", "reason")),
    ("spec.rings", ("id", "hosts", "soak")),
):
    for _f in _fields:
        _POLICY[f"{_part}.{_f}"] = "neutral: scheduling only (no verdict depends on it; the plan changes)"

_EXCEPTION_SET = {
    "apiVersion": "identity: documents of another version do not load",
    "kind": "identity: documents are matched by kind and name",
    "metadata": "container",
    "metadata.name": "identity: documents are matched by kind and name",
    "metadata.version": "version discipline (the bump each change needs)",
    "metadata.owner": "neutral: documentation only",
    "metadata.description": "neutral: documentation only",
    "exceptions": BY_ID,
    "exceptions.id": "exception added: weakening; removed: strengthening; renamed: neutral",
    "exceptions.policies": "any policy added (omitted = all): weakening; only removed: strengthening",
    "exceptions.match": "wider or undecidable: weakening; narrower: strengthening",
    "exceptions.justification": "neutral: record of the approval only",
    "exceptions.compensating_controls": "neutral: record of the approval only",
    "exceptions.ticket": "neutral: record of the approval only",
    "exceptions.approved_by": "neutral: record of the approval only",
    "exceptions.approved_at": "earlier: weakening; later: strengthening",
    "exceptions.expires": "later: weakening; earlier: strengthening",
}

FIELD_TABLE: dict[str, dict[str, str]] = {"PatchPolicy": _POLICY, "ExceptionSet": _EXCEPTION_SET}
"""Per document kind, field path -> how the diff classifies a change of it."""


def unclassified_changes(kind: str, old: Any, new: Any) -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) for every difference between two documents' plain data (pydantic
    ``model_dump(mode="json", by_alias=False)``) at a path ``FIELD_TABLE`` does not name.

    Descends through containers; stops at parts matched by id (their fields are diffed
    by the specific rules) and at every classified leaf.
    """
    table = FIELD_TABLE[kind]
    yield from _walk(table, "", old, new)


def _walk(table: dict[str, str], prefix: str, old: Any, new: Any) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else key
            a, b = old.get(key), new.get(key)
            rule = table.get(path)
            if rule is None:
                if a != b:
                    yield path, a, b
            elif rule == "container":
                yield from _walk(table, path, a if a is not None else {}, b if b is not None else {})
        return
    if old != new:
        yield prefix, old, new
