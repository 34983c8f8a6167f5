"""The changes of a PatchPolicy present on both sides: metadata, controls, retention,
spec (scope, due_soon, clock, hygiene, exception limits), rules and scheduling."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from patchpolicy.model.bundle import CompiledPolicy
from patchpolicy.model.common import format_duration
from patchpolicy.model.policy import Rule
from patchpolicy.review.diff.changes import (
    Classification,
    DocChanges,
    paired,
    predicate_change,
    renames,
    show_value,
    start_text,
    where_of,
)
from patchpolicy.review.diff.clocks import classify_clock
from patchpolicy.review.fields import unclassified_changes


def _rule_content(rule: Rule) -> Any:
    return rule.model_dump(mode="json", exclude={"id", "title"})


def diff_policy(doc: DocChanges, old: CompiledPolicy, new: CompiledPolicy) -> None:
    om, nm = old.policy.metadata, new.policy.metadata
    doc.neutral_fields("metadata", om, nm, ("title", "description", "owner"), "documentation only")
    if om.effective_from != nm.effective_from:
        a, b = om.effective_from, nm.effective_from
        later = b is not None and (a is None or b > a)
        doc.add("metadata", "effective_from",
                Classification.WEAKENING if later else Classification.STRENGTHENING,
                "in effect later: failures stay warnings longer" if later
                else "in effect earlier: failures count sooner",
                start_text(a) if a else None, start_text(b) if b else None)
    both, gone, new_controls = paired(om.controls, nm.controls, lambda c: c.id)
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
    unclassified(doc, "PatchPolicy", old.policy, new.policy)


def _diff_retention(doc: DocChanges, old: Any, new: Any) -> None:
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


def unclassified(doc: DocChanges, kind: str, old: Any, new: Any) -> None:
    """The safety net: a difference at a field the table does not classify is unknown."""
    dumps = (old.model_dump(mode="json"), new.model_dump(mode="json"))
    for path, a, b in unclassified_changes(kind, *dumps):
        doc.add("document", path, Classification.UNKNOWN,
                "changed; patchpolicy does not classify this field: effect unknown", a, b)


def _diff_spec(doc: DocChanges, old: CompiledPolicy, new: CompiledPolicy) -> None:
    os_, ns = old.policy.spec, new.policy.spec
    predicate_change(doc, "spec", "scope", os_.scope, ns.scope,
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
    hyg_where = where_of(doc.new_display, new.where)
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


def _diff_rules(doc: DocChanges, old: CompiledPolicy, new: CompiledPolicy) -> None:
    both, removed, added = paired(old.rules, new.rules, lambda r: r.rule.id)
    for r, a in renames(removed, added, lambda cr: _rule_content(cr.rule)):
        doc.add(f'rule "{a.rule.id}"', None, Classification.NEUTRAL,
                f'renamed from "{r.rule.id}", same content', r.rule.id, a.rule.id,
                where_of(doc.new_display, a.where))
    for r in removed:
        doc.add(f'rule "{r.rule.id}"', None, Classification.WEAKENING,
                f"rule removed: findings it matched lose its {format_duration(r.rule.within)} deadline",
                r.rule.when, None, where_of(doc.old_display, r.where))
    for a in added:
        doc.add(f'rule "{a.rule.id}"', None, Classification.STRENGTHENING,
                f"rule added: findings it matches get a {format_duration(a.rule.within)} deadline "
                "(the earliest binds)", None, a.rule.when, where_of(doc.new_display, a.where))
    os_clock, ns_clock = old.policy.spec.clock, new.policy.spec.clock
    for ro, rn in both:
        o, n = ro.rule, rn.rule
        where = where_of(doc.new_display, rn.where)
        subject = f'rule "{n.id}"'
        doc.neutral_fields(subject, o, n, ("title",), "documentation only", where)
        predicate_change(doc, subject, "when", o.when, n.when,
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
    doc: DocChanges, label: str, key: str, olds: Sequence[Any], news: Sequence[Any]
) -> None:
    """Windows, freezes and rings steer the plan, never a verdict: always neutral."""
    attr = label  # CompiledWindow.window, CompiledFreeze.freeze, CompiledRing.ring
    both, removed, added = paired(olds, news, lambda c: getattr(c, attr).id)
    why = "scheduling only: no verdict depends on it; the plan changes"
    for r in removed:
        doc.add(f'{label} "{getattr(r, attr).id}"', None, Classification.NEUTRAL,
                f"{label} removed ({why})", where=where_of(doc.old_display, r.where))
    for a in added:
        doc.add(f'{label} "{getattr(a, attr).id}"', None, Classification.NEUTRAL,
                f"{label} added ({why})", where=where_of(doc.new_display, a.where))
    for ro, rn in both:
        o = getattr(ro, attr).model_dump(mode="json", by_alias=True)
        n = getattr(rn, attr).model_dump(mode="json", by_alias=True)
        for name in sorted(o.keys() | n.keys()):
            if o.get(name) != n.get(name):
                doc.add(f'{label} "{getattr(rn, attr).id}"', name, Classification.NEUTRAL, why,
                        _plain_show(o.get(name)), _plain_show(n.get(name)),
                        where_of(doc.new_display, rn.where))


def _plain_show(value: Any) -> str | None:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return show_value(value)
