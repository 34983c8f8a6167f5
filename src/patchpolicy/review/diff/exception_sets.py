"""The changes of the exceptions of an ExceptionSet present on both sides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from patchpolicy.model.bundle import CompiledException
from patchpolicy.model.exceptions import PolicyException
from patchpolicy.review.diff.changes import (
    Classification,
    DocChanges,
    end_text,
    paired,
    predicate_change,
    renames,
    start_text,
    where_of,
)


def _exception_content(e: PolicyException) -> Any:
    return e.model_dump(mode="json", exclude={"id"})


def diff_exceptions(
    doc: DocChanges, old: Sequence[CompiledException], new: Sequence[CompiledException]
) -> None:
    both, removed, added = paired(old, new, lambda c: c.id)
    for r, a in renames(removed, added, lambda c: _exception_content(c.exception)):
        doc.add(f'exception "{a.id}"', None, Classification.NEUTRAL,
                f'renamed from "{r.id}", same content', r.id, a.id,
                where_of(doc.new_display, a.where))
    for r in removed:
        doc.add(f'exception "{r.id}"', None, Classification.STRENGTHENING,
                "exception removed: the findings it waived count again", r.exception.match, None,
                where_of(doc.old_display, r.where))
    for a in added:
        doc.add(f'exception "{a.id}"', None, Classification.WEAKENING,
                f"new exception through {end_text(a.exception.expires)}: waives the "
                f"findings it matches ({_policies_text(a.exception.policies)})",
                None, a.exception.match, where_of(doc.new_display, a.where))
    for ro, rn in both:
        o, n = ro.exception, rn.exception
        subject = f'exception "{n.id}"'
        where = where_of(doc.new_display, rn.where)
        if o.expires != n.expires:
            later = n.expires > o.expires
            doc.add(subject, "expires", Classification.WEAKENING if later
                    else Classification.STRENGTHENING,
                    "extended: waives for longer" if later else "shortened: expires sooner",
                    end_text(o.expires), end_text(n.expires), where)
        if o.approved_at != n.approved_at:
            earlier = n.approved_at < o.approved_at
            doc.add(subject, "approved_at", Classification.WEAKENING if earlier
                    else Classification.STRENGTHENING,
                    "valid from earlier" if earlier else "valid from later",
                    start_text(o.approved_at), start_text(n.approved_at), where)
        if o.policies != n.policies:
            _exception_policies(doc, subject, o.policies, n.policies, where)
        predicate_change(
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
    doc: DocChanges, subject: str, old: list[str] | None, new: list[str] | None, where: str
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
