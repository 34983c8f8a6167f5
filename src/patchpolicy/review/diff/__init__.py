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

How CEL expressions are compared (``scope``, ``when``, ``match``) is in
``patchpolicy.expr.predicates``; the version rule in ``versions``. The package, one
module per job: ``changes`` (the change record and its collector), ``clocks``
(clock-source lists), ``policies`` and ``exception_sets`` (the diffing of each kind of
document), ``versions`` (the bump a change needs), ``bundles`` (the documents of two
bundles and the gate), ``git_sources`` (reading OLD and NEW from paths or git
revisions, ``run_diff``). The text, markdown and JSON forms are in
``patchpolicy.render.diff``.
"""

from __future__ import annotations

from patchpolicy.expr.predicates import PredicateRelation, compare_predicates
from patchpolicy.review.diff.bundles import BundleDiff, DiffFailOn, DocumentDiff, diff_bundles
from patchpolicy.review.diff.changes import Change, Classification
from patchpolicy.review.diff.clocks import classify_clock
from patchpolicy.review.diff.git_sources import run_diff
from patchpolicy.review.diff.versions import Bump, VersionCheck, bump_level, check_version

__all__ = [
    "Bump",
    "BundleDiff",
    "Change",
    "Classification",
    "DiffFailOn",
    "DocumentDiff",
    "PredicateRelation",
    "VersionCheck",
    "bump_level",
    "check_version",
    "classify_clock",
    "compare_predicates",
    "diff_bundles",
    "run_diff",
]
