"""The semantic layer, across the documents of a bundle: one function per check, each
yielding its problems pinned to the place in the file; ``CHECKS`` runs them all."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from patchpolicy.errors import Diagnostic, Location
from patchpolicy.loader.compile import Loaded
from patchpolicy.loader.positions import SourceDocument
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.policy import Freeze, PatchPolicy, Ring, Rule, Window
from patchpolicy.model.policytest import PolicyTest


@dataclass(frozen=True)
class Documents:
    """The documents that passed the schema layer, by kind, each with its source."""

    policies: list[tuple[SourceDocument, PatchPolicy]]
    sets: list[tuple[SourceDocument, ExceptionSet]]
    tests: list[tuple[SourceDocument, PolicyTest]]

    @classmethod
    def of(cls, loaded: Iterable[Loaded]) -> Documents:
        loaded = list(loaded)
        return cls(
            [(x.doc, x.model) for x in loaded if isinstance(x.model, PatchPolicy)],
            [(x.doc, x.model) for x in loaded if isinstance(x.model, ExceptionSet)],
            [(x.doc, x.model) for x in loaded if isinstance(x.model, PolicyTest)],
        )


Check = Callable[[Documents], Iterable[Diagnostic]]


def semantic_checks(loaded: Iterable[Loaded]) -> list[Diagnostic]:
    """Cross-document checks: ids, references, time order, lifetimes, control ids."""
    docs = Documents.of(loaded)
    return [d for check in CHECKS for d in check(docs)]


def _duplicates(
    items: Iterable[tuple[str, Location]], what: str, ctx: str = ""
) -> Iterator[Diagnostic]:
    first: dict[str, Location] = {}
    for ident, where in items:
        if ident in first:
            yield Diagnostic(where, f'{ctx}duplicate {what} id "{ident}" (first defined at {first[ident]})')
        else:
            first[ident] = where


def _policy_context(p: PatchPolicy) -> str:
    return f'policy "{p.metadata.name}": '


def unique_document_names(docs: Documents) -> Iterator[Diagnostic]:
    """No two policies, exception sets or tests share a name."""
    groups: list[tuple[str, Sequence[tuple[SourceDocument, PatchPolicy | ExceptionSet | PolicyTest]]]] = [
        ("policy", docs.policies), ("exception set", docs.sets), ("test", docs.tests),
    ]
    for what, group in groups:
        yield from _duplicates(((m.metadata.name, d.where(("metadata", "name"))) for d, m in group), what)


def unique_exception_ids(docs: Documents) -> Iterator[Diagnostic]:
    """No two exceptions of the bundle share an id, whatever set they are in."""
    yield from _duplicates(
        (
            (e.id, d.where(("exceptions", i, "id")))
            for d, s in docs.sets
            for i, e in enumerate(s.exceptions)
        ),
        "exception",
    )


def unique_item_ids(docs: Documents) -> Iterator[Diagnostic]:
    """Within a policy, no two rules, windows, freezes or rings share an id."""
    for doc, p in docs.policies:
        spec = p.spec
        groups: list[tuple[str, str, Sequence[Rule | Window | Freeze | Ring]]] = [
            ("rule", "rules", spec.rules),
            ("window", "windows", spec.windows),
            ("freeze", "freezes", spec.freezes),
            ("ring", "rings", spec.rings),
        ]
        for what, key, items in groups:
            yield from _duplicates(
                ((it.id, doc.where(("spec", key, i, "id"))) for i, it in enumerate(items)),
                what,
                _policy_context(p),
            )


def unique_control_ids(docs: Documents) -> Iterator[Diagnostic]:
    """Within a policy, no two controls of ``metadata.controls`` share an id."""
    for doc, p in docs.policies:
        yield from _duplicates(
            ((c.id, doc.where(("metadata", "controls", i, "id")))
             for i, c in enumerate(p.metadata.controls)),
            "control",
            _policy_context(p),
        )


def known_controls(docs: Documents) -> Iterator[Diagnostic]:
    """Every control a rule or the hygiene check names is declared in metadata.controls."""
    for doc, p in docs.policies:
        spec = p.spec
        control_ids = [c.id for c in p.metadata.controls]
        refs: list[tuple[tuple[str | int, ...], str, list[str]]] = [
            (("spec", "rules", i, "controls"), f'rule "{r.id}"', r.controls)
            for i, r in enumerate(spec.rules)
        ]
        if spec.hygiene is not None:
            refs.append((("spec", "hygiene", "controls"), "hygiene", spec.hygiene.controls))
        for loc, label, ids in refs:
            for j, cid in enumerate(ids):
                if cid not in control_ids:
                    close = difflib.get_close_matches(cid, control_ids, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else (
                        f" (declared: {', '.join(control_ids)})" if control_ids
                        else " (metadata.controls declares none)"
                    )
                    yield Diagnostic(
                        doc.where((*loc, j)),
                        f"{_policy_context(p)}{label}: unknown control '{cid}'{hint}",
                    )


def _in_order(w: Window) -> bool:
    return w.not_before is None or w.not_after is None or w.not_before < w.not_after


def window_bounds_in_order(docs: Documents) -> Iterator[Diagnostic]:
    """A window's not_before is before its not_after."""
    for doc, p in docs.policies:
        for i, w in enumerate(p.spec.windows):
            if not _in_order(w):
                yield Diagnostic(
                    doc.where(("spec", "windows", i, "not_before")),
                    f'{_policy_context(p)}window "{w.id}": not_before is not before not_after',
                )


def window_schedules(docs: Documents) -> Iterator[Diagnostic]:
    """Window and freeze sanity (windows/checks.py), pinned to the window or freeze in the file.

    Recurrences are checked for the year after the policy's effective_from, or after
    windows.ANCHOR_DATE: never the wall clock, so validation is reproducible.
    """
    from patchpolicy import windows as windows_mod

    for doc, policy in docs.policies:
        spec = policy.spec
        eff = policy.metadata.effective_from
        reference = eff if eff is not None else datetime.combine(
            windows_mod.ANCHOR_DATE, datetime.min.time(), tzinfo=UTC
        )
        # A window whose not_before is not before its not_after is reported once, by
        # window_bounds_in_order; checking its recurrence would add "no occurrence" for the
        # same mistake.
        sane = [w for w in spec.windows if _in_order(w)]
        issues = windows_mod.check_windows(sane, reference) + windows_mod.check_freezes(
            spec.freezes
        )
        for issue in issues:
            yield Diagnostic(
                _schedule_place(doc, policy, issue.kind, issue.id, issue.message),
                f'policy "{policy.metadata.name}": {issue.kind} "{issue.id}": {issue.message}',
                severity=issue.severity,
            )


def _schedule_place(
    doc: SourceDocument, policy: PatchPolicy, kind: str, ident: str, message: str
) -> Location:
    """The window or freeze ``ident`` in the file; a message that leads with a field
    ("rrule never occurs", "until ... is not after from ...") is pinned to that field's
    value."""
    spec = policy.spec
    key = "windows" if kind == "window" else "freezes"
    items: Sequence[Window | Freeze] = spec.windows if kind == "window" else spec.freezes
    index = {it.id: i for i, it in enumerate(items)}[ident]
    loc: tuple[str | int, ...] = ("spec", key, index)
    field = message.split(" ", 1)[0].rstrip(":")
    node = doc.data.get("spec", {}).get(key, [])[index]
    if isinstance(node, dict) and field in node:
        loc = (*loc, field)
    return doc.where(loc)


def _exception_context(s: ExceptionSet, exception_id: str) -> str:
    return f'exception set "{s.metadata.name}": exception "{exception_id}": '


def known_policies(docs: Documents) -> Iterator[Diagnostic]:
    """Every policy an exception names in ``policies`` is in the bundle."""
    known = {p.metadata.name for _, p in docs.policies}
    names = sorted(known)
    for doc, s in docs.sets:
        for i, e in enumerate(s.exceptions):
            for j, name in enumerate(e.policies or []):
                if name not in known:
                    close = difflib.get_close_matches(name, names, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    yield Diagnostic(
                        doc.where(("exceptions", i, "policies", j)),
                        f"{_exception_context(s, e.id)}names unknown policy '{name}'{hint}",
                    )


def exception_lifetimes(docs: Documents) -> Iterator[Diagnostic]:
    """An exception lasts no longer than the max_lifetime of each policy it covers (an
    error that leaves evaluation possible: the evaluator marks it over_lifetime)."""
    by_name = {p.metadata.name: p for _, p in docs.policies}
    # Policies with a max_lifetime, shortest first: an exception for every policy is
    # compared with those it outlives only (not each of 10^4 policies, issue 12 #8).
    limited = sorted(
        (p.spec.exceptions.max_lifetime, name)
        for name, p in by_name.items()
        if p.spec.exceptions is not None and p.spec.exceptions.max_lifetime is not None
    )
    limits = [limit for limit, _ in limited]
    for doc, s in docs.sets:
        for i, e in enumerate(s.exceptions):
            lifetime = e.expires - e.approved_at
            if e.policies is not None:
                names = e.policies
            else:
                outlived = bisect.bisect_left(limits, lifetime)
                names = sorted(name for _, name in limited[:outlived])
            for name in names:
                pol = by_name.get(name)
                limit = pol.spec.exceptions.max_lifetime if pol and pol.spec.exceptions else None
                if limit is not None and lifetime > limit:
                    yield Diagnostic(
                        doc.where(("exceptions", i, "expires")),
                        f"{_exception_context(s, e.id)}lasts {lifetime.days}d, longer than "
                        f"policy '{name}' allows (max_lifetime {limit.days}d)",
                        blocks_evaluation=False,
                    )


CHECKS: tuple[Check, ...] = (
    unique_document_names,
    unique_exception_ids,
    unique_item_ids,
    unique_control_ids,
    known_controls,
    window_bounds_in_order,
    window_schedules,
    known_policies,
    exception_lifetimes,
)
"""Every semantic check, in the order their problems are collected (the bundle sorts them).
An empty rule list is refused by the schema (``PolicySpec.rules`` has ``min_length=1``),
so no check here repeats it."""
