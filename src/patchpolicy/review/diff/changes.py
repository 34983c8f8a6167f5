"""The unit of a semantic diff: one classified ``Change``, the ``DocChanges`` collector
that the policy and exception-set diffs add to, and the helpers they share (pairing
parts by id, renames, predicate changes, values as a reviewer reads them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from patchpolicy.errors import Location
from patchpolicy.expr.predicates import PredicateRelation, compare_predicates
from patchpolicy.model.common import format_duration, format_timestamp


class Classification(StrEnum):
    """The effect of one change on what the policies demand (the module's table)."""

    WEAKENING = "weakening"
    UNKNOWN = "unknown"
    STRENGTHENING = "strengthening"
    NEUTRAL = "neutral"


# Report order: what a reviewer must look at first.
REPORT_ORDER = {
    Classification.WEAKENING: 0,
    Classification.UNKNOWN: 1,
    Classification.STRENGTHENING: 2,
    Classification.NEUTRAL: 3,
}


@dataclass(frozen=True)
class Change:
    """One semantic change of one document, classified, with the reason in words."""

    kind: str
    """``PatchPolicy`` or ``ExceptionSet``."""
    document: str
    subject: str
    """What changed: ``document``, ``metadata``, ``spec``, ``rule "kev"``, ``hygiene``,
    ``control "6.3.3"``, ``window "w"``, ``exception "EXC-1"`` ..."""
    field: str | None
    classification: Classification
    reason: str
    old: str | None = None
    new: str | None = None
    location: str | None = None
    """``file:line`` of the changed part (the new side; the old side for a removal)."""

    @property
    def what(self) -> str:
        return self.subject if self.field is None else f"{self.subject} {self.field}"

    def sort_key(self) -> tuple[int, str, str, str, str]:
        return (REPORT_ORDER[self.classification], self.kind, self.document, self.subject,
                self.field or "")

    def as_json(self) -> dict[str, Any]:
        return {
            "classification": self.classification.value,
            "kind": self.kind,
            "document": self.document,
            "subject": self.subject,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "reason": self.reason,
            "location": self.location,
        }


def show_value(value: Any) -> str | None:
    """A value as a reviewer reads it: durations ``30d``, timestamps RFC 3339, lists."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) or "null" for v in value) + "]"
    return str(value)


Display = Callable[[Location], str]


@dataclass
class DocChanges:
    """Collects the changes of one document."""

    kind: str
    name: str
    old_display: Display
    new_display: Display
    location: str | None
    changes: list[Change] = field(default_factory=list)

    def add(
        self, subject: str, fld: str | None, classification: Classification, reason: str,
        old: Any = None, new: Any = None, where: str | None = None,
    ) -> None:
        self.changes.append(
            Change(self.kind, self.name, subject, fld, classification, reason, show_value(old),
                   show_value(new), where if where is not None else self.location)
        )

    def bound(
        self, subject: str, fld: str, old: timedelta | None, new: timedelta | None,
        *, shorter_is: Classification, what: str, where: str | None = None,
    ) -> None:
        """A duration limit: None means absent. ``shorter_is`` names a shorter/new one."""
        if old == new:
            return
        other = (Classification.WEAKENING if shorter_is == Classification.STRENGTHENING
                 else Classification.STRENGTHENING)
        if old is None:
            self.add(subject, fld, shorter_is, f"{what} added", old, new, where)
        elif new is None:
            self.add(subject, fld, other, f"{what} removed", old, new, where)
        elif new < old:
            self.add(subject, fld, shorter_is, f"{what} shorter", old, new, where)
        else:
            self.add(subject, fld, other, f"{what} longer", old, new, where)

    def ids(
        self, subject: str, fld: str, old: Sequence[str], new: Sequence[str], what: str,
        where: str | None = None,
    ) -> None:
        """Control references: an added one attributes more, a removed one less."""
        added = sorted(set(new) - set(old))
        removed = sorted(set(old) - set(new))
        if removed:
            self.add(subject, fld, Classification.WEAKENING,
                     f"{what} no longer attributed to {', '.join(removed)}", old, new, where)
        if added:
            self.add(subject, fld, Classification.STRENGTHENING,
                     f"{what} now attributed to {', '.join(added)}", old, new, where)
        if not added and not removed and list(old) != list(new):
            self.add(subject, fld, Classification.NEUTRAL, "order only", old, new, where)

    def neutral_fields(
        self, subject: str, old: Any, new: Any, fields: Sequence[str], reason: str,
        where: str | None = None,
    ) -> None:
        for name in fields:
            a, b = getattr(old, name), getattr(new, name)
            if a != b:
                self.add(subject, name, Classification.NEUTRAL, reason, a, b, where)


def where_of(display: Display, loc: Location) -> str:
    return display(loc) if loc.line <= 0 else f"{display(loc)}:{loc.line}"


def predicate_change(
    doc: DocChanges, subject: str, fld: str, old: str | None, new: str | None,
    *, wider: Classification, narrower: Classification, unknown: Classification,
    what: str, unknown_reason: str = "changed, effect unknown", where: str | None = None,
) -> None:
    if old == new:
        return
    relation = compare_predicates(old, new)
    if relation == PredicateRelation.EQUIVALENT:
        doc.add(subject, fld, Classification.NEUTRAL, f"rewritten, selects the same {what}",
                old, new, where)
    elif relation == PredicateRelation.WIDER:
        doc.add(subject, fld, wider, f"wider: selects more {what}", old, new, where)
    elif relation == PredicateRelation.NARROWER:
        doc.add(subject, fld, narrower, f"narrower: selects fewer {what}", old, new, where)
    else:
        doc.add(subject, fld, unknown, unknown_reason, old, new, where)


def paired(
    old: Sequence[Any], new: Sequence[Any], key: Callable[[Any], str]
) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """(both, only old, only new), each in id order."""
    a = {key(x): x for x in old}
    b = {key(x): x for x in new}
    both = [(a[k], b[k]) for k in sorted(a.keys() & b.keys())]
    return both, [a[k] for k in sorted(a.keys() - b.keys())], [b[k] for k in sorted(b.keys() - a.keys())]


def renames(
    removed: list[Any], added: list[Any], content: Callable[[Any], Any]
) -> list[tuple[Any, Any]]:
    """Pairs (old, new) of a removed and an added part with the same content."""
    pairs = []
    for r in list(removed):
        for a in added:
            if content(r) == content(a):
                pairs.append((r, a))
                removed.remove(r)
                added.remove(a)
                break
    return pairs


def start_text(dt: datetime) -> str:
    """A start instant as written: a date when it is the start of a day UTC."""
    if dt.hour == dt.minute == dt.second == dt.microsecond == 0:
        return dt.date().isoformat()
    return format_timestamp(dt)


def end_text(dt: datetime) -> str:
    """An exclusive end instant as written: ``2026-12-31`` for 2027-01-01T00:00:00Z."""
    if dt.hour == dt.minute == dt.second == dt.microsecond == 0:
        return (dt - timedelta(days=1)).date().isoformat()
    return format_timestamp(dt)
