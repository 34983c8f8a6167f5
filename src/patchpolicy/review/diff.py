"""Semantic diff of two policy bundles: what changed, by document and id, and whether each
change weakens, strengthens or leaves alone what the policies demand; the version bump
each changed document needs; optionally the impact on a fleet snapshot (``impact.py``).

Documents are matched by kind and ``metadata.name`` (never by file), their parts by id:
rules, windows, freezes, rings, controls, exceptions. PolicyTests and snapshots in a
bundle are not diffed (they demand nothing).

Classification of each change (the contract of ``patchpolicy diff``). *Weakening* means
the new version can only let items pass that failed, give later deadlines, or waive
more; *strengthening* the reverse; *neutral* changes no verdict or deadline (documentation,
scheduling); *unknown* means the effect cannot be decided statically.

=====================================================  ==============================
change                                                 classification
=====================================================  ==============================
policy added / removed                                 strengthening / weakening
title, description, owner, rule title                  neutral
effective_from added or later / removed or earlier     weakening / strengthening
control (metadata.controls) added / removed            strengthening / weakening
control title, requirement, framework version          neutral
retention years fewer or removed / more or added       weakening / strengthening
retention basis                                        neutral
any field the table in review/fields.py does not name  unknown (needs a MAJOR bump;
                                                       never silently equal)
rule or hygiene ``controls`` id added / removed        strengthening / weakening
scope wider / narrower / equivalent / undecidable      strengthening / weakening /
(omitted scope = every host)                           neutral / unknown
due_soon longer (earlier warning) / shorter            strengthening / weakening
clock: first source known later / known earlier        weakening / strengthening
clock: first source changed, order not known           unknown
clock: fallback appended / dropped (same first)        weakening (error items get a
                                                       deadline) / strengthening
clock: fallbacks reordered                             unknown
rule added / removed                                   strengthening / weakening
rule renamed (same content, new id)                    neutral
rule within shorter / longer                           strengthening / weakening
rule when wider / narrower / equivalent / undecidable  strengthening / weakening /
                                                       neutral / unknown
rule clock override (compared as effective clocks)     as clock above
cap_by_kev_due_date added / removed                    strengthening / weakening
hygiene bound added or shorter / removed or longer     strengthening / weakening
(max_scan_age, max_reboot_pending; hygiene removed)
exceptions.max_lifetime added or shorter / removed     strengthening / weakening
or longer (over-lifetime exceptions waive nothing)
window, freeze, ring: any change                       neutral (scheduling only: no
                                                       verdict depends on them; the
                                                       plan changes)
exception set added / removed                          weakening / strengthening
exception added / removed                              weakening / strengthening
exception renamed (same content, new id)               neutral
exception expires later / earlier                      weakening / strengthening
exception approved_at earlier / later                  weakening / strengthening
exception policies: any policy added (omitted = all)   weakening
exception policies: only removed                       strengthening
exception match wider or undecidable / narrower        weakening / strengthening
(an exception can only waive: an undecidable change    (equivalent: neutral)
may waive findings it did not before)
justification, compensating_controls, ticket,          neutral
approved_by, set owner/description
=====================================================  ==============================

CEL expressions are compared on the set of items for which they are *true*: each is put
in disjunctive normal form over atoms (``field == lit``, ``field != lit``, ``field in
[lits]``, ``field <op> number``, ``field == null``, a bare bool field; anything else is an
opaque atom compared by its normalised text), then each side's conjunctions are tested
for inclusion in the other's. Enumerated fields (severity, status, criticality,
exposure) use their closed domains, so ``severity != "low"`` is understood. The test is
sound but incomplete: a relation it cannot prove is ``unknown`` (run with
``--snapshot`` for the impact). Items on which an expression errors (a field selected
through a null message, a missing map key) are outside the static analysis.

Version discipline (semantic versioning of ``metadata.version``): a document whose
content changed must have a higher version; the same or a lower version is an *error*
(exit 1). The bump must match the strongest change: a weakening or unknown change
needs a MAJOR bump, a strengthening a MINOR bump, a neutral change a PATCH bump; a
smaller bump is a *warning* (``--fail-on bump`` makes it fail), except that a weakening
published with less than a MAJOR bump fails by default (``--allow-minor-weakening``). In ``0.y.z`` versions a
MINOR bump counts as MAJOR (initial development, as Cargo does). ExceptionSets carry an
optional version: the rule applies when both sides have one; dropping it is an error.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Any, Literal

from patchpolicy.errors import (
    InputError,
    Location,
    ValidationError,
)
from patchpolicy.expr.predicates import PredicateRelation, compare_predicates
from patchpolicy.model.bundle import Bundle, CompiledException, CompiledPolicy
from patchpolicy.model.common import format_duration, format_timestamp
from patchpolicy.model.exceptions import ExceptionSet, PolicyException
from patchpolicy.model.policy import ClockSource, Rule
from patchpolicy.review.fields import unclassified_changes
from patchpolicy.review.impact import Impact

__all__ = [
    "Bump",
    "BundleDiff",
    "Change",
    "Classification",
    "DiffFailOn",
    "DocumentDiff",
    "OutputFormat",
    "PredicateRelation",
    "VersionCheck",
    "bump_level",
    "classify_clock",
    "compare_predicates",
    "diff_bundles",
    "render",
    "run_diff",
]


class Classification(StrEnum):
    """The effect of one change on what the policies demand (the module's table)."""

    WEAKENING = "weakening"
    UNKNOWN = "unknown"
    STRENGTHENING = "strengthening"
    NEUTRAL = "neutral"


# Report order: what a reviewer must look at first.
_ORDER = {
    Classification.WEAKENING: 0,
    Classification.UNKNOWN: 1,
    Classification.STRENGTHENING: 2,
    Classification.NEUTRAL: 3,
}


class Bump(IntEnum):
    """A semantic-version increment, ordered by size."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3


REQUIRED_BUMP: dict[Classification, Bump] = {
    Classification.WEAKENING: Bump.MAJOR,
    Classification.UNKNOWN: Bump.MAJOR,
    Classification.STRENGTHENING: Bump.MINOR,
    Classification.NEUTRAL: Bump.PATCH,
}


class DiffFailOn(StrEnum):
    """What ``--fail-on`` may add to the gate (version errors always fail)."""

    WEAKENING = "weakening"
    UNKNOWN = "unknown"
    BUMP = "bump"
    NOW_FAILING = "now_failing"


class OutputFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


# ====================================================================== clocks

# (a, b): the clock source b never starts before a. A finding is published before any
# scanner can see it or CISA can list it; nothing is known between the other pairs.
_NOT_EARLIER: frozenset[tuple[ClockSource, ClockSource]] = frozenset(
    {
        (ClockSource.PUBLISHED, ClockSource.FIRST_SEEN),
        (ClockSource.PUBLISHED, ClockSource.KEV_ADDED),
    }
)


def classify_clock(
    old: Sequence[ClockSource], new: Sequence[ClockSource]
) -> tuple[Classification, str] | None:
    """Classify a change of clock-source list (first present wins); None when equal."""
    old, new = list(old), list(new)
    if old == new:
        return None
    names = ", ".join
    if old[0] == new[0]:
        if new[: len(old)] == old:
            added = [s.value for s in new[len(old):]]
            return Classification.WEAKENING, (
                f"adds fallback {names(added)}: findings with none of {names(s.value for s in old)} "
                "were errors (failing) and now get a deadline"
            )
        if old[: len(new)] == new:
            dropped = [s.value for s in old[len(new):]]
            return Classification.STRENGTHENING, (
                f"drops fallback {names(dropped)}: findings with none of "
                f"{names(s.value for s in new)} become errors (failing)"
            )
        return Classification.UNKNOWN, (
            f"fallback sources changed (first stays {old[0].value}): effect depends on which "
            "dates a finding has"
        )
    if (old[0], new[0]) in _NOT_EARLIER:
        return Classification.WEAKENING, (
            f"clock starts at {new[0].value}, never earlier than {old[0].value}: later deadlines"
        )
    if (new[0], old[0]) in _NOT_EARLIER:
        return Classification.STRENGTHENING, (
            f"clock starts at {new[0].value}, never later than {old[0].value}: earlier deadlines"
        )
    return Classification.UNKNOWN, (
        f"first clock source changed from {old[0].value} to {new[0].value}: which is earlier "
        "depends on the finding"
    )


# ====================================================================== changes


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
        return (_ORDER[self.classification], self.kind, self.document, self.subject,
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


def _show(value: Any) -> str | None:
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
        return "[" + ", ".join(_show(v) or "null" for v in value) + "]"
    return str(value)


_Display = Callable[[Location], str]


@dataclass
class _Doc:
    """Collects the changes of one document."""

    kind: str
    name: str
    old_display: _Display
    new_display: _Display
    location: str | None
    changes: list[Change] = field(default_factory=list)

    def add(
        self, subject: str, fld: str | None, classification: Classification, reason: str,
        old: Any = None, new: Any = None, where: str | None = None,
    ) -> None:
        self.changes.append(
            Change(self.kind, self.name, subject, fld, classification, reason, _show(old),
                   _show(new), where if where is not None else self.location)
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


def _where(display: _Display, loc: Location) -> str:
    return display(loc) if loc.line <= 0 else f"{display(loc)}:{loc.line}"


def _predicate_change(
    doc: _Doc, subject: str, fld: str, old: str | None, new: str | None,
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


def _paired(
    old: Sequence[Any], new: Sequence[Any], key: Callable[[Any], str]
) -> tuple[list[tuple[Any, Any]], list[Any], list[Any]]:
    """(both, only old, only new), each in id order."""
    a = {key(x): x for x in old}
    b = {key(x): x for x in new}
    both = [(a[k], b[k]) for k in sorted(a.keys() & b.keys())]
    return both, [a[k] for k in sorted(a.keys() - b.keys())], [b[k] for k in sorted(b.keys() - a.keys())]


def _renames(
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


def _rule_content(rule: Rule) -> Any:
    return rule.model_dump(mode="json", exclude={"id", "title"})


def _diff_policy(doc: _Doc, old: CompiledPolicy, new: CompiledPolicy) -> None:
    om, nm = old.policy.metadata, new.policy.metadata
    doc.neutral_fields("metadata", om, nm, ("title", "description", "owner"), "documentation only")
    if om.effective_from != nm.effective_from:
        a, b = om.effective_from, nm.effective_from
        later = b is not None and (a is None or b > a)
        doc.add("metadata", "effective_from",
                Classification.WEAKENING if later else Classification.STRENGTHENING,
                "in effect later: failures stay warnings longer" if later
                else "in effect earlier: failures count sooner",
                _start(a) if a else None, _start(b) if b else None)
    both, gone, new_controls = _paired(om.controls, nm.controls, lambda c: c.id)
    for c in gone:
        doc.add(f'control "{c.id}"', None, Classification.WEAKENING,
                f"no longer evidences {c.framework} {c.id}", c.title or c.id, None)
    for c in new_controls:
        doc.add(f'control "{c.id}"', None, Classification.STRENGTHENING,
                f"now evidences {c.framework} {c.id}", None, c.title or c.id)
    for a, b in both:
        doc.neutral_fields(f'control "{a.id}"', a, b,
                           ("framework", "version", "title", "requirement"),
                           "control description only")
    _diff_retention(doc, om.retention, nm.retention)
    _diff_spec(doc, old, new)
    _unclassified(doc, "PatchPolicy", old.policy, new.policy)


def _diff_retention(doc: _Doc, old: Any, new: Any) -> None:
    """Evidence retention: keeping evidence for fewer years weakens what the policy demands."""
    a = old.years if old is not None else None
    b = new.years if new is not None else None
    if a != b:
        if b is None or (a is not None and b < a):
            cls, why = Classification.WEAKENING, "evidence kept for less time" if b else "retention removed"
        else:
            cls, why = Classification.STRENGTHENING, "evidence kept for longer" if a else "retention added"
        doc.add("metadata", "retention.years", cls, why, a, b)
    if old is not None and new is not None and old.basis != new.basis:
        doc.add("metadata", "retention.basis", Classification.NEUTRAL, "documentation of the retention rule",
                old.basis, new.basis)


def _unclassified(doc: _Doc, kind: str, old: Any, new: Any) -> None:
    """The safety net: a difference at a field the table does not classify is unknown."""
    dumps = (old.model_dump(mode="json"), new.model_dump(mode="json"))
    for path, a, b in unclassified_changes(kind, *dumps):
        doc.add("document", path, Classification.UNKNOWN,
                "changed; patchpolicy does not classify this field: effect unknown", a, b)


def _diff_spec(doc: _Doc, old: CompiledPolicy, new: CompiledPolicy) -> None:
    os_, ns = old.policy.spec, new.policy.spec
    _predicate_change(doc, "spec", "scope", os_.scope, ns.scope,
                      wider=Classification.STRENGTHENING, narrower=Classification.WEAKENING,
                      unknown=Classification.UNKNOWN, what="hosts")
    if os_.due_soon != ns.due_soon:
        longer = ns.due_soon > os_.due_soon
        doc.add("spec", "due_soon",
                Classification.STRENGTHENING if longer else Classification.WEAKENING,
                "longer warning horizon: due_soon earlier" if longer
                else "shorter warning horizon: due_soon later", os_.due_soon, ns.due_soon)
    clock = classify_clock(os_.clock, ns.clock)
    if clock is not None:
        doc.add("spec", "clock", clock[0], clock[1] + " (rules without their own clock)",
                os_.clock, ns.clock)
    _diff_rules(doc, old, new)
    oh, nh = os_.hygiene, ns.hygiene
    hyg_where = _where(doc.new_display, new.where)
    doc.bound("hygiene", "max_scan_age", oh.max_scan_age if oh else None,
              nh.max_scan_age if nh else None, shorter_is=Classification.STRENGTHENING,
              what="scan-age bound", where=hyg_where)
    doc.bound("hygiene", "max_reboot_pending", oh.max_reboot_pending if oh else None,
              nh.max_reboot_pending if nh else None, shorter_is=Classification.STRENGTHENING,
              what="pending-reboot bound", where=hyg_where)
    doc.ids("hygiene", "controls", oh.controls if oh else [], nh.controls if nh else [],
            "hygiene checks", hyg_where)
    oe, ne = os_.exceptions, ns.exceptions
    doc.bound("spec", "exceptions.max_lifetime", oe.max_lifetime if oe else None,
              ne.max_lifetime if ne else None, shorter_is=Classification.STRENGTHENING,
              what="exception lifetime limit (longer-lived exceptions waive nothing)")
    for label, key, olds, news in (
        ("window", "windows", old.windows, new.windows),
        ("freeze", "freezes", old.freezes, new.freezes),
        ("ring", "rings", old.rings, new.rings),
    ):
        _diff_scheduling(doc, label, key, olds, news)


def _diff_rules(doc: _Doc, old: CompiledPolicy, new: CompiledPolicy) -> None:
    both, removed, added = _paired(old.rules, new.rules, lambda r: r.rule.id)
    for r, a in _renames(removed, added, lambda cr: _rule_content(cr.rule)):
        doc.add(f'rule "{a.rule.id}"', None, Classification.NEUTRAL,
                f'renamed from "{r.rule.id}", same content', r.rule.id, a.rule.id,
                _where(doc.new_display, a.where))
    for r in removed:
        doc.add(f'rule "{r.rule.id}"', None, Classification.WEAKENING,
                f"rule removed: findings it matched lose its {format_duration(r.rule.within)} deadline",
                r.rule.when, None, _where(doc.old_display, r.where))
    for a in added:
        doc.add(f'rule "{a.rule.id}"', None, Classification.STRENGTHENING,
                f"rule added: findings it matches get a {format_duration(a.rule.within)} deadline "
                "(the earliest binds)", None, a.rule.when, _where(doc.new_display, a.where))
    os_clock, ns_clock = old.policy.spec.clock, new.policy.spec.clock
    for ro, rn in both:
        o, n = ro.rule, rn.rule
        where = _where(doc.new_display, rn.where)
        subject = f'rule "{n.id}"'
        doc.neutral_fields(subject, o, n, ("title",), "documentation only", where)
        _predicate_change(doc, subject, "when", o.when, n.when,
                          wider=Classification.STRENGTHENING, narrower=Classification.WEAKENING,
                          unknown=Classification.UNKNOWN, what="findings", where=where)
        if o.within != n.within:
            longer = n.within > o.within
            doc.add(subject, "within", Classification.WEAKENING if longer
                    else Classification.STRENGTHENING,
                    "longer SLA: later deadlines" if longer else "shorter SLA: earlier deadlines",
                    o.within, n.within, where)
        if o.clock != n.clock:
            effective = classify_clock(o.clock or os_clock, n.clock or ns_clock)
            if effective is None:
                doc.add(subject, "clock", Classification.NEUTRAL,
                        "same effective clock sources", o.clock, n.clock, where)
            else:
                doc.add(subject, "clock", effective[0], effective[1], o.clock or os_clock,
                        n.clock or ns_clock, where)
        if o.cap_by_kev_due_date != n.cap_by_kev_due_date:
            doc.add(subject, "cap_by_kev_due_date",
                    Classification.STRENGTHENING if n.cap_by_kev_due_date
                    else Classification.WEAKENING,
                    "deadlines capped by the KEV due date" if n.cap_by_kev_due_date
                    else "deadlines no longer capped by the KEV due date",
                    o.cap_by_kev_due_date, n.cap_by_kev_due_date, where)
        doc.ids(subject, "controls", o.controls, n.controls, "its items", where)


def _diff_scheduling(
    doc: _Doc, label: str, key: str, olds: Sequence[Any], news: Sequence[Any]
) -> None:
    """Windows, freezes and rings steer the plan, never a verdict: always neutral."""
    attr = label  # CompiledWindow.window, CompiledFreeze.freeze, CompiledRing.ring
    both, removed, added = _paired(olds, news, lambda c: getattr(c, attr).id)
    why = "scheduling only: no verdict depends on it; the plan changes"
    for r in removed:
        doc.add(f'{label} "{getattr(r, attr).id}"', None, Classification.NEUTRAL,
                f"{label} removed ({why})", where=_where(doc.old_display, r.where))
    for a in added:
        doc.add(f'{label} "{getattr(a, attr).id}"', None, Classification.NEUTRAL,
                f"{label} added ({why})", where=_where(doc.new_display, a.where))
    for ro, rn in both:
        o = getattr(ro, attr).model_dump(mode="json", by_alias=True)
        n = getattr(rn, attr).model_dump(mode="json", by_alias=True)
        for name in sorted(o.keys() | n.keys()):
            if o.get(name) != n.get(name):
                doc.add(f'{label} "{getattr(rn, attr).id}"', name, Classification.NEUTRAL, why,
                        _plain_show(o.get(name)), _plain_show(n.get(name)),
                        _where(doc.new_display, rn.where))


def _start(dt: datetime) -> str:
    """A start instant as written: a date when it is the start of a day UTC."""
    if dt.hour == dt.minute == dt.second == dt.microsecond == 0:
        return dt.date().isoformat()
    return format_timestamp(dt)


def _end(dt: datetime) -> str:
    """An exclusive end instant as written: ``2026-12-31`` for 2027-01-01T00:00:00Z."""
    if dt.hour == dt.minute == dt.second == dt.microsecond == 0:
        return (dt - timedelta(days=1)).date().isoformat()
    return format_timestamp(dt)


def _plain_show(value: Any) -> str | None:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return _show(value)


# ---------------------------------------------------------------------- exception sets


def _exception_content(e: PolicyException) -> Any:
    return e.model_dump(mode="json", exclude={"id"})


def _diff_exceptions(
    doc: _Doc, old: Sequence[CompiledException], new: Sequence[CompiledException]
) -> None:
    both, removed, added = _paired(old, new, lambda c: c.id)
    for r, a in _renames(removed, added, lambda c: _exception_content(c.exception)):
        doc.add(f'exception "{a.id}"', None, Classification.NEUTRAL,
                f'renamed from "{r.id}", same content', r.id, a.id,
                _where(doc.new_display, a.where))
    for r in removed:
        doc.add(f'exception "{r.id}"', None, Classification.STRENGTHENING,
                "exception removed: the findings it waived count again", r.exception.match, None,
                _where(doc.old_display, r.where))
    for a in added:
        doc.add(f'exception "{a.id}"', None, Classification.WEAKENING,
                f"new exception through {_end(a.exception.expires)}: waives the "
                f"findings it matches ({_policies_text(a.exception.policies)})",
                None, a.exception.match, _where(doc.new_display, a.where))
    for ro, rn in both:
        o, n = ro.exception, rn.exception
        subject = f'exception "{n.id}"'
        where = _where(doc.new_display, rn.where)
        if o.expires != n.expires:
            later = n.expires > o.expires
            doc.add(subject, "expires", Classification.WEAKENING if later
                    else Classification.STRENGTHENING,
                    "extended: waives for longer" if later else "shortened: expires sooner",
                    _end(o.expires), _end(n.expires), where)
        if o.approved_at != n.approved_at:
            earlier = n.approved_at < o.approved_at
            doc.add(subject, "approved_at", Classification.WEAKENING if earlier
                    else Classification.STRENGTHENING,
                    "valid from earlier" if earlier else "valid from later",
                    _start(o.approved_at), _start(n.approved_at), where)
        if o.policies != n.policies:
            _exception_policies(doc, subject, o.policies, n.policies, where)
        _predicate_change(
            doc, subject, "match", o.match, n.match, wider=Classification.WEAKENING,
            narrower=Classification.STRENGTHENING, unknown=Classification.WEAKENING,
            what="findings", where=where,
            unknown_reason="changed, effect unknown; counted as weakening: it may waive "
            "findings it did not waive before",
        )
        doc.neutral_fields(subject, o, n, ("justification", "compensating_controls", "ticket",
                                           "approved_by"), "record of the approval only", where)


def _policies_text(policies: Sequence[str] | None) -> str:
    return "every policy" if policies is None else "policies " + ", ".join(policies)


def _exception_policies(
    doc: _Doc, subject: str, old: list[str] | None, new: list[str] | None, where: str
) -> None:
    if new is None:
        doc.add(subject, "policies", Classification.WEAKENING, "now waives under every policy",
                old, "(every policy)", where)
        return
    if old is None:
        doc.add(subject, "policies", Classification.STRENGTHENING,
                "no longer waives under every policy", "(every policy)", new, where)
        return
    added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
    if added:
        also = f"; no longer under {', '.join(removed)}" if removed else ""
        doc.add(subject, "policies", Classification.WEAKENING,
                f"now also waives under {', '.join(added)}{also}", old, new, where)
    elif removed:
        doc.add(subject, "policies", Classification.STRENGTHENING,
                f"no longer waives under {', '.join(removed)}", old, new, where)
    else:
        doc.add(subject, "policies", Classification.NEUTRAL, "order only", old, new, where)


# ====================================================================== versions


def _precedence(version: str) -> tuple[Any, ...]:
    """SemVer 2.0.0 precedence key (build metadata ignored)."""
    core, _, pre = version.split("+", 1)[0].partition("-")
    major, minor, patch = (int(x) for x in core.split("."))
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (major, minor, patch, 0 if pre else 1, ids)


def bump_level(old: str, new: str) -> Bump | None:
    """The increment from ``old`` to ``new``; None when ``new`` is lower.

    In ``0.y.z`` (initial development) a MINOR increment counts as MAJOR.
    """
    a, b = _precedence(old), _precedence(new)
    if b < a:
        return None
    if b == a:
        return Bump.NONE
    if b[0] > a[0]:
        return Bump.MAJOR
    if b[1] > a[1]:
        return Bump.MAJOR if a[0] == 0 else Bump.MINOR
    return Bump.PATCH


@dataclass(frozen=True)
class VersionCheck:
    """The version-discipline verdict of one document present on both sides."""

    severity: Literal["ok", "warning", "error"]
    required: Bump
    actual: Bump | None
    """None when the version went down or was removed."""
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "required": self.required.name.lower(),
            "actual": self.actual.name.lower() if self.actual is not None else None,
            "message": self.message,
        }


def _strongest(changes: Sequence[Change]) -> tuple[Bump, Classification | None]:
    if not changes:
        return Bump.NONE, None
    c = min(changes, key=lambda c: (-REQUIRED_BUMP[c.classification], _ORDER[c.classification]))
    return REQUIRED_BUMP[c.classification], c.classification


def check_version(
    old: str | None, new: str | None, changes: Sequence[Change]
) -> VersionCheck | None:
    """Apply the version rule (module docstring); None when there is nothing to check
    (no version on the old side, or no version on either)."""
    required, why = _strongest(changes)
    need = f"needs a {required.name} bump ({why.value})" if why is not None else ""
    if old is None:
        return None
    if new is None:
        return VersionCheck("error", required, None, f"version {old} removed")
    actual = bump_level(old, new)
    if actual is None:
        return VersionCheck("error", required, None, f"version went down: {old} -> {new}")
    if changes and actual == Bump.NONE:
        return VersionCheck("error", required, actual,
                            f"content changed without a version bump (still {new}): {need}")
    if actual < required:
        return VersionCheck("warning", required, actual,
                            f"{old} -> {new} is a {actual.name} bump: {need}")
    if actual == Bump.NONE:
        return VersionCheck("ok", required, actual, "unchanged")
    return VersionCheck("ok", required, actual, f"{old} -> {new}: {actual.name} bump")


# ====================================================================== bundles


@dataclass(frozen=True)
class DocumentDiff:
    """One document (policy or exception set) on either side, with its changes."""

    kind: str
    name: str
    status: Literal["added", "removed", "changed", "unchanged"]
    old_version: str | None
    new_version: str | None
    location: str | None
    changes: tuple[Change, ...]
    version: VersionCheck | None

    def counts(self) -> dict[Classification, int]:
        tally = Counter(c.classification for c in self.changes)
        return {k: tally.get(k, 0) for k in Classification}

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "location": self.location,
            "counts": {k.value: v for k, v in self.counts().items()},
            "version_check": self.version.as_json() if self.version else None,
        }


@dataclass(frozen=True)
class BundleDiff:
    """The semantic diff of two bundles, with the impact when a snapshot was given."""

    old: str
    new: str
    documents: tuple[DocumentDiff, ...]
    impact: Impact | None = None

    @property
    def changes(self) -> tuple[Change, ...]:
        """Every change, weakenings first, then unknown, strengthening, neutral."""
        return tuple(sorted((c for d in self.documents for c in d.changes), key=Change.sort_key))

    def counts(self) -> dict[Classification, int]:
        tally = Counter(c.classification for c in self.changes)
        return {k: tally.get(k, 0) for k in Classification}

    def version_issues(self, severity: str) -> list[DocumentDiff]:
        return [d for d in self.documents if d.version is not None and d.version.severity == severity]

    def failures(
        self, fail_on: frozenset[DiffFailOn] = frozenset(), *, allow_minor_weakening: bool = False
    ) -> list[str]:
        """Why the gate fails, one line per reason; empty when it passes.

        A weakening published with less than a major bump fails by default (the most
        dangerous bump mistake: consumers pinned to ^MAJOR take it silently).
        """
        reasons = [
            f"{d.kind} {d.name}: {d.version.message}" for d in self.version_issues("error")
            if d.version is not None
        ]
        if not allow_minor_weakening:
            reasons.extend(
                f"{d.kind} {d.name}: weakening published as a {d.version.actual.name} bump "
                f"({d.version.message}); --allow-minor-weakening accepts it"
                for d in self.version_issues("warning")
                if d.version is not None and d.version.actual is not None
                and DiffFailOn.BUMP not in fail_on
                and any(c.classification == Classification.WEAKENING for c in d.changes)
            )
        counts = self.counts()
        if DiffFailOn.WEAKENING in fail_on and counts[Classification.WEAKENING]:
            reasons.append(f"{counts[Classification.WEAKENING]} weakening change(s)")
        if DiffFailOn.UNKNOWN in fail_on and counts[Classification.UNKNOWN]:
            reasons.append(f"{counts[Classification.UNKNOWN]} change(s) of unknown effect")
        if DiffFailOn.BUMP in fail_on:
            reasons.extend(
                f"{d.kind} {d.name}: {d.version.message}" for d in self.version_issues("warning")
                if d.version is not None
            )
        if DiffFailOn.NOW_FAILING in fail_on and self.impact is not None:
            from patchpolicy.review.impact import Direction

            n = self.impact.counts[Direction.NOW_FAILING]
            if n:
                reasons.append(f"{n} item(s) now failing on {self.impact.snapshot}")
        return reasons

    def exit_code(
        self, fail_on: frozenset[DiffFailOn] = frozenset(), *, allow_minor_weakening: bool = False
    ) -> int:
        """0 when the gate passes, 1 when it fails (version errors always fail)."""
        return 1 if self.failures(fail_on, allow_minor_weakening=allow_minor_weakening) else 0


def _identity(loc: Location) -> str:
    return loc.file


def _policy_doc(
    old: CompiledPolicy | None, new: CompiledPolicy | None, od: _Display, nd: _Display
) -> DocumentDiff:
    cp = new if new is not None else old
    assert cp is not None
    display = nd if new is not None else od
    doc = _Doc("PatchPolicy", cp.name, od, nd, _where(display, cp.where))
    if old is None:
        assert new is not None
        doc.add("document", None, Classification.STRENGTHENING,
                f"policy added: {len(new.rules)} rule(s) now apply", None, new.version)
    elif new is None:
        doc.add("document", None, Classification.WEAKENING,
                f"policy removed: its {len(old.rules)} rule(s) no longer apply", old.version, None)
    else:
        _diff_policy(doc, old, new)
    return _document(doc, old.version if old else None, new.version if new else None,
                     old is None, new is None)


def _document(
    doc: _Doc, old_version: str | None, new_version: str | None, added: bool, removed: bool
) -> DocumentDiff:
    changes = tuple(sorted(doc.changes, key=Change.sort_key))
    status: Literal["added", "removed", "changed", "unchanged"] = (
        "added" if added else "removed" if removed else "changed" if changes else "unchanged"
    )
    version = None if added or removed else check_version(old_version, new_version, changes)
    if status == "unchanged" and version is not None and version.severity == "ok":
        version = None if version.actual == Bump.NONE else version
    return DocumentDiff(doc.kind, doc.name, status, old_version, new_version, doc.location,
                        changes, version)


def _exception_doc(
    name: str,
    old: tuple[ExceptionSet, list[CompiledException]] | None,
    new: tuple[ExceptionSet, list[CompiledException]] | None,
    od: _Display, nd: _Display,
) -> DocumentDiff:
    side = new if new is not None else old
    assert side is not None
    display = nd if new is not None else od
    location = _where(display, Location(side[1][0].where.file)) if side[1] else None
    doc = _Doc("ExceptionSet", name, od, nd, location)
    if old is None:
        assert new is not None
        ids = ", ".join(c.id for c in new[1])
        doc.add("document", None, Classification.WEAKENING,
                f"exception set added: {len(new[1])} exception(s) waive findings ({ids})")
    elif new is None:
        ids = ", ".join(c.id for c in old[1])
        doc.add("document", None, Classification.STRENGTHENING,
                f"exception set removed: {len(old[1])} exception(s) no longer waive ({ids})")
    else:
        doc.neutral_fields("metadata", old[0].metadata, new[0].metadata,
                           ("owner", "description"), "documentation only")
        _diff_exceptions(doc, old[1], new[1])
        _unclassified(doc, "ExceptionSet", old[0], new[0])
    return _document(
        doc,
        old[0].metadata.version if old else None,
        new[0].metadata.version if new else None,
        old is None, new is None,
    )


def _exception_sets(bundle: Bundle) -> dict[str, tuple[ExceptionSet, list[CompiledException]]]:
    sets: dict[str, tuple[ExceptionSet, list[CompiledException]]] = {}
    for c in bundle.exceptions:
        name = c.exception_set.metadata.name
        sets.setdefault(name, (c.exception_set, []))[1].append(c)
    return sets


def diff_bundles(
    old: Bundle, new: Bundle, *, old_label: str = "old", new_label: str = "new",
    old_display: _Display = _identity, new_display: _Display = _identity,
    impact: Impact | None = None,
) -> BundleDiff:
    """Compare two loaded bundles document by document (kind, then name order)."""
    olds = {p.name: p for p in old.policies}
    news = {p.name: p for p in new.policies}
    documents = [
        _policy_doc(olds.get(name), news.get(name), old_display, new_display)
        for name in sorted(olds.keys() | news.keys())
    ]
    oset, nset = _exception_sets(old), _exception_sets(new)
    documents.extend(
        _exception_doc(name, oset.get(name), nset.get(name), old_display, new_display)
        for name in sorted(oset.keys() | nset.keys())
    )
    return BundleDiff(old_label, new_label, tuple(documents), impact)


# ====================================================================== sides (paths, git)


@dataclass(frozen=True)
class _Side:
    """One side of the diff on disk: a working-tree path, or a revision checked out into
    a temporary directory (``root``) whose file names are shown as ``REV:path``."""

    label: str
    paths: tuple[Path, ...]
    rev: str | None = None
    root: Path | None = None
    """The checkout (revisions) or the current directory (working tree)."""

    def display(self, loc: Location) -> str:
        """A file name as the user knows it: ``REV:path``, or relative to the cwd."""
        if self.root is None:
            return loc.file
        try:
            rel = Path(loc.file).relative_to(self.root).as_posix()
        except ValueError:
            return loc.file
        return f"{self.rev}:{rel}" if self.rev is not None else rel


def _git(args: Sequence[str], cwd: Path) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as e:
        raise InputError("git is not installed: it is needed to read a revision") from e
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return proc.stdout


def _toplevel(cwd: Path) -> Path:
    return Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip()).resolve()


def _repo_path(path: str, cwd: Path, top: Path, *, git_relative: bool) -> str:
    """A path inside the repository, relative to its top level (POSIX form).

    ``git_relative``: as in ``git show REV:path``, a path is relative to the top level
    unless it starts with ``./`` or ``../``.
    """
    if git_relative and not (path in (".", "..") or path.startswith(("./", "../"))):
        return path.strip("/")
    absolute = (cwd / path).resolve()
    try:
        rel = absolute.relative_to(top)
    except ValueError as e:
        raise InputError(f"{path}: outside the git repository at {top}") from e
    text = rel.as_posix()
    return "" if text == "." else text


def _checkout(rev: str, repo_path: str, cwd: Path, stack: ExitStack, label: str) -> _Side:
    """Write the policy files under ``repo_path`` at ``rev`` into a temporary directory."""
    from patchpolicy.loader import SUFFIXES

    top = _toplevel(cwd)
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).decode().strip()
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, *([repo_path] if repo_path else [])], top)
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="patchpolicy-diff-")))
    root = tmp / "tree"
    found = False
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_name = entry.partition(b"\t")
        mode, kind, obj = meta.decode().split()
        name = raw_name.decode("utf-8", "surrogateescape")
        inside = not repo_path or name == repo_path or name.startswith(repo_path + "/")
        if kind != "blob" or mode == "120000" or not inside:
            continue
        if Path(name).suffix.lower() not in SUFFIXES:
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(["cat-file", "blob", obj], top))
        found = True
    paths = (root / repo_path,) if found else ()
    return _Side(label, paths, rev, root)


def _open_side(spec: str, cwd: Path, stack: ExitStack) -> _Side:
    """A path if it exists, else ``REV:path`` read from git."""
    if (cwd / spec).exists():
        return _Side(spec, (cwd / spec,), root=cwd)
    if ":" in spec:
        rev, _, path = spec.partition(":")
        if not rev:
            raise InputError(f"{spec}: missing revision before ':' (e.g. main:policies)")
        top = _toplevel(cwd)
        return _checkout(rev, _repo_path(path, cwd, top, git_relative=True), cwd, stack, spec)
    raise InputError(
        f"{spec}: no such file or directory (for a git revision write REV:PATH, "
        "or use --base REV)"
    )


def _load(side: _Side) -> Bundle:
    from patchpolicy.loader import load_bundle

    if not side.paths:
        return Bundle(policies=(), exceptions=(), tests=(), files=())
    try:
        return load_bundle(side.paths)
    except ValidationError as e:
        raise ValidationError(
            [replace(d, location=replace(d.location, file=side.display(d.location)))
             for d in e.diagnostics]
        ) from e


def run_diff(
    specs: Sequence[str],
    *,
    base: str | None = None,
    snapshot: Path | None = None,
    as_of: datetime | None = None,
    cwd: Path | None = None,
) -> BundleDiff:
    """``patchpolicy diff``: OLD NEW (paths or ``REV:path``), or ``--base REV PATH``.

    Raises InputError for bad usage, unknown revisions or paths, and ValidationError
    (file names shown as ``REV:path`` for revisions) when either bundle is invalid.
    Temporary checkouts are removed before returning.
    """
    cwd = cwd if cwd is not None else Path.cwd()
    if as_of is not None and snapshot is None:
        raise InputError("--as-of needs --snapshot (it sets the instant of the impact analysis)")
    with ExitStack() as stack:
        if base is not None:
            if len(specs) != 1:
                raise InputError("with --base give exactly one PATH (the bundle in the working tree)")
            path = specs[0]
            top = _toplevel(cwd)
            old = _checkout(base, _repo_path(path, cwd, top, git_relative=False), cwd, stack,
                            f"{base}:{path}")
            new = _Side(path, (cwd / path,) if (cwd / path).exists() else (), root=cwd)
        else:
            if len(specs) != 2:
                raise InputError("give OLD and NEW (paths or REV:PATH), or --base REV PATH")
            old = _open_side(specs[0], cwd, stack)
            new = _open_side(specs[1], cwd, stack)
        if not old.paths and not new.paths:
            raise InputError(f"no policy files in {old.label} nor in {new.label}")
        old_bundle, new_bundle = _load(old), _load(new)
        effect = None
        if snapshot is not None:
            from patchpolicy.review.impact import impact

            effect = impact(old_bundle, new_bundle, snapshot, as_of=as_of,
                            label=snapshot.as_posix())
        return diff_bundles(
            old_bundle, new_bundle, old_label=old.label, new_label=new.label,
            old_display=old.display, new_display=new.display,
            impact=effect,
        )


# ====================================================================== rendering

_HEADINGS = {
    Classification.WEAKENING: "Weakening",
    Classification.UNKNOWN: "Changed, effect unknown",
    Classification.STRENGTHENING: "Strengthening",
    Classification.NEUTRAL: "Neutral",
}
_DIRECTION_LABELS = {
    "now_failing": "now failing",
    "no_longer_failing": "no longer failing",
    "deadline_earlier": "deadline earlier",
    "deadline_later": "deadline later",
    "verdict_changed": "verdict changed",
}
MARKDOWN_IMPACT_ROWS = 50
"""Changed items listed in a markdown comment (the counts always cover all)."""


def render(result: BundleDiff, fmt: OutputFormat | str = OutputFormat.TEXT) -> str:
    """The diff as plain text, a markdown PR comment, or JSON; deterministic."""
    fmt = OutputFormat(fmt)
    if fmt == OutputFormat.JSON:
        return json.dumps(as_json(result), indent=2, ensure_ascii=False) + "\n"
    if fmt == OutputFormat.MARKDOWN:
        return _markdown(result)
    return _text(result)


def _ts(dt: datetime | None) -> str:
    return format_timestamp(dt) if dt is not None else "-"


def as_json(result: BundleDiff) -> dict[str, Any]:
    """The machine form: summary, documents, changes (weakenings first), impact."""
    counts = result.counts()
    out: dict[str, Any] = {
        "apiVersion": "patchpolicy/v1",
        "kind": "PolicyDiff",
        "old": result.old,
        "new": result.new,
        "summary": {
            **{k.value: v for k, v in counts.items()},
            "version_errors": len(result.version_issues("error")),
            "version_warnings": len(result.version_issues("warning")),
        },
        "documents": [d.as_json() for d in result.documents],
        "changes": [c.as_json() for c in result.changes],
        "impact": None,
    }
    if result.impact is not None:
        im = result.impact
        out["impact"] = {
            "snapshot": im.snapshot,
            "as_of": format_timestamp(im.as_of),
            "counts": {k.value: v for k, v in im.counts.items()},
            "items": [
                {
                    "direction": e.direction.value,
                    "policy": e.policy,
                    "host": e.host,
                    "finding": e.finding,
                    "check": e.check,
                    "old_verdict": e.old_verdict,
                    "new_verdict": e.new_verdict,
                    "old_deadline": format_timestamp(e.old_deadline) if e.old_deadline else None,
                    "new_deadline": format_timestamp(e.new_deadline) if e.new_deadline else None,
                    "old_rule": e.old_rule,
                    "new_rule": e.new_rule,
                }
                for e in im.entries
            ],
        }
    return out


def _arrow(old: str | None, new: str | None) -> str:
    return f"{old if old is not None else '(none)'} -> {new if new is not None else '(none)'}"


def _version_text(d: DocumentDiff) -> str:
    if d.old_version == d.new_version:
        return d.new_version or "-"
    return _arrow(d.old_version, d.new_version)


def _text(result: BundleDiff) -> str:
    counts = result.counts()
    errors, warnings = result.version_issues("error"), result.version_issues("warning")
    lines = [
        f"patchpolicy diff: {result.old} -> {result.new}",
        ", ".join(f"{n} {k.value}" for k, n in counts.items())
        + f"; version: {len(errors)} error(s), {len(warnings)} warning(s)",
    ]
    changes = result.changes
    if not changes:
        lines.append("no semantic changes")
    for cls in Classification:
        group = [c for c in changes if c.classification == cls]
        if not group:
            continue
        lines += ["", f"{_HEADINGS[cls].upper()} ({len(group)})"]
        for c in group:
            values = f": {_arrow(c.old, c.new)}" if c.old is not None or c.new is not None else ""
            where = f"  [{c.location}]" if c.location else ""
            lines.append(f"  {c.kind} {c.document}: {c.what}{values}")
            lines.append(f"      {c.reason}{where}")
    checked = [d for d in result.documents if d.version is not None]
    if checked:
        lines += ["", "VERSIONS"]
        for d in checked:
            assert d.version is not None
            lines.append(f"  {d.version.severity:<7} {d.kind} {d.name} "
                         f"{_version_text(d)}: {d.version.message}")
    if result.impact is not None:
        im = result.impact
        lines += ["", f"IMPACT on {im.snapshot} at {format_timestamp(im.as_of)}",
                  "  " + ", ".join(f"{_DIRECTION_LABELS[k.value]} {n}" for k, n in im.counts.items())]
        for e in im.entries:
            lines.append(
                f"  {_DIRECTION_LABELS[e.direction.value]:<17} {e.policy} {e.host} {e.subject}: "
                f"{_arrow(e.old_verdict, e.new_verdict)}, deadline "
                f"{_ts(e.old_deadline)} -> {_ts(e.new_deadline)}"
            )
    return "\n".join(lines) + "\n"


def _code(text: str | None) -> str:
    """An inline code span that survives backticks and table pipes."""
    if text is None:
        return "*(none)*"
    text = text.replace("|", "\\|").replace("\n", " ")
    longest = 0
    run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown(result: BundleDiff) -> str:
    counts = result.counts()
    out = [
        "### patchpolicy diff",
        "",
        f"{_code(result.old)} → {_code(result.new)}",
        "",
    ]
    headline = [f"**{counts[Classification.WEAKENING]} weakening**" if counts[Classification.WEAKENING]
                else "0 weakening"]
    headline += [f"{counts[k]} {k.value}" for k in list(Classification)[1:]]
    errors, warnings = result.version_issues("error"), result.version_issues("warning")
    headline.append(
        f"**{len(errors)} version error(s)**" if errors else "0 version errors"
    )
    headline.append(f"{len(warnings)} version warning(s)")
    out += [" · ".join(headline), ""]
    shown = [d for d in result.documents if d.status != "unchanged" or d.version is not None]
    if shown:
        out += [
            "| document | status | version | weakening | unknown | strengthening | neutral | version check |",
            "|---|---|---|---:|---:|---:|---:|---|",
        ]
        for d in shown:
            dc = d.counts()
            check = "-" if d.version is None else (
                "ok" if d.version.severity == "ok"
                else f"**{d.version.severity}**: {d.version.message}"
            )
            out.append(
                f"| {d.kind} {_code(d.name)} | {d.status} | {_version_text(d).replace('->', '→')} "
                f"| {dc[Classification.WEAKENING]} | {dc[Classification.UNKNOWN]} "
                f"| {dc[Classification.STRENGTHENING]} | {dc[Classification.NEUTRAL]} "
                f"| {check.replace('|', chr(92) + '|')} |"
            )
        out.append("")
    else:
        out += ["No semantic changes.", ""]
    for cls in Classification:
        group = [c for c in result.changes if c.classification == cls]
        if not group:
            continue
        body = []
        for c in group:
            values = ""
            if c.old is not None or c.new is not None:
                values = f": {_code(c.old)} → {_code(c.new)}"
            where = f" ({_code(c.location)})" if c.location else ""
            body.append(f"- **{c.kind} {_code(c.document)}** {c.what}{values} — {c.reason}{where}")
        if cls == Classification.NEUTRAL:
            out += [f"<details><summary>{_HEADINGS[cls]} ({len(group)})</summary>", "", *body,
                    "", "</details>", ""]
        else:
            out += [f"#### {_HEADINGS[cls]} ({len(group)})", "", *body, ""]
    if result.impact is not None:
        im = result.impact
        out += [
            f"#### Impact on {_code(im.snapshot)} at {format_timestamp(im.as_of)}",
            "",
            "| " + " | ".join(_DIRECTION_LABELS[k.value] for k in im.counts) + " |",
            "|" + "---:|" * len(im.counts),
            "| " + " | ".join(str(n) for n in im.counts.values()) + " |",
            "",
        ]
        if im.entries:
            rows = im.entries[:MARKDOWN_IMPACT_ROWS]
            more = len(im.entries) - len(rows)
            out += [
                f"<details><summary>Changed items ({len(im.entries)})</summary>",
                "",
                "| direction | policy | host | finding / check | verdict | deadline |",
                "|---|---|---|---|---|---|",
            ]
            out += [
                f"| {_DIRECTION_LABELS[e.direction.value]} | {_code(e.policy)} | {_code(e.host)} "
                f"| {_code(e.subject)} | {e.old_verdict or '-'} → {e.new_verdict or '-'} "
                f"| {_ts(e.old_deadline)} → {_ts(e.new_deadline)} |"
                for e in rows
            ]
            if more:
                out.append(f"| … {more} more (see `--format json`) | | | | | |")
            out += ["", "</details>", ""]
    return "\n".join(out).rstrip("\n") + "\n"
