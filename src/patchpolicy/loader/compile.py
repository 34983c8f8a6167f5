"""The expression layer: every CEL expression of the documents that passed the schema
compiled once (per distinct text and roots), its errors and warnings pinned to the column
inside the expression, into the compiled policies, exceptions and tests of a bundle."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pydantic

from patchpolicy.errors import Diagnostic, ExprError, Location
from patchpolicy.loader.positions import SourceDocument, expression_location, message_context
from patchpolicy.model.bundle import (
    CompiledException,
    CompiledFreeze,
    CompiledPolicy,
    CompiledRing,
    CompiledRule,
    CompiledWindow,
)
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.model.policytest import PolicyTest

HOST = frozenset({"host"})
HOST_FINDING = frozenset({"host", "finding"})


@dataclass
class Loaded:
    """A document that passed the schema layer, with its model."""

    doc: SourceDocument
    model: pydantic.BaseModel


_COMPILED: contextvars.ContextVar[dict[tuple[str, frozenset[str]], Any] | None] = (
    contextvars.ContextVar("patchpolicy_loader_compiled", default=None)
)
"""Per check_bundle call: each distinct (expression, roots) is analysed and compiled once
and the CompiledExpression shared (policies repeat expressions: ``finding.kev != null``,
``host.env == "prod"``), which also shares its memo. Errors are kept too, and reported
at every place the text occurs."""


@contextmanager
def _one_compilation_each() -> Iterator[None]:
    token = _COMPILED.set({})
    try:
        yield
    finally:
        _COMPILED.reset(token)


def compile_all(
    loaded: list[Loaded], diags: list[Diagnostic]
) -> tuple[list[CompiledPolicy], list[CompiledException], list[tuple[PolicyTest, Location]]]:
    """The compiled policies, exceptions and tests of ``loaded``; problems go to ``diags``
    (a part whose expression fails is left out, or compiled as None)."""
    policies: list[CompiledPolicy] = []
    exceptions: list[CompiledException] = []
    tests: list[tuple[PolicyTest, Location]] = []
    with _one_compilation_each():
        for item in loaded:
            doc, model = item.doc, item.model
            if isinstance(model, PatchPolicy):
                policies.append(_compile_policy(doc, model, diags))
            elif isinstance(model, ExceptionSet):
                exceptions.extend(_compile_exceptions(doc, model, diags))
            elif isinstance(model, PolicyTest):
                tests.append((model, doc.where()))
    return policies, exceptions, tests


def _compile_exceptions(
    doc: SourceDocument, model: ExceptionSet, diags: list[Diagnostic]
) -> Iterator[CompiledException]:
    for i, exc in enumerate(model.exceptions):
        loc: tuple[str | int, ...] = ("exceptions", i, "match")
        match = _compile(doc, loc, exc.match, HOST_FINDING, "match", diags)
        if match is not None:
            yield CompiledException(exc, model, match, doc.where(("exceptions", i)))


def _compile_policy(doc: SourceDocument, policy: PatchPolicy, diags: list[Diagnostic]) -> CompiledPolicy:
    spec = policy.spec
    scope = None
    if spec.scope is not None:
        scope = _compile(doc, ("spec", "scope"), spec.scope, HOST, "scope", diags)
    rules = []
    for i, rule in enumerate(spec.rules):
        loc: tuple[str | int, ...] = ("spec", "rules", i, "when")
        when = _compile(doc, loc, rule.when, HOST_FINDING, "when", diags)
        rules.append(CompiledRule(rule, when, doc.where(("spec", "rules", i))))
    windows = []
    for i, w in enumerate(spec.windows):
        hosts = None
        if w.hosts is not None:
            hosts = _compile(doc, ("spec", "windows", i, "hosts"), w.hosts, HOST, "hosts", diags)
        windows.append(CompiledWindow(w, hosts, doc.where(("spec", "windows", i))))
    freezes = []
    for i, fz in enumerate(spec.freezes):
        fhosts = allow = None
        if fz.hosts is not None:
            fhosts = _compile(doc, ("spec", "freezes", i, "hosts"), fz.hosts, HOST, "hosts", diags)
        if fz.allow is not None:
            allow = _compile(
                doc, ("spec", "freezes", i, "allow"), fz.allow, HOST_FINDING, "allow", diags
            )
        freezes.append(CompiledFreeze(fz, fhosts, allow, doc.where(("spec", "freezes", i))))
    rings = []
    for i, ring in enumerate(spec.rings):
        rhosts = _compile(doc, ("spec", "rings", i, "hosts"), ring.hosts, HOST, "hosts", diags)
        rings.append(CompiledRing(ring, rhosts, doc.where(("spec", "rings", i))))
    return CompiledPolicy(
        policy, doc.where(), scope, tuple(rules), tuple(windows), tuple(freezes), tuple(rings)
    )


def _compile(
    doc: SourceDocument,
    loc: tuple[str | int, ...],
    source: str,
    roots: frozenset[str],
    what: str,
    diags: list[Diagnostic],
) -> Any:
    """The compiled expression at ``loc``, its warnings added to ``diags``; None (and the
    error in ``diags``) when it does not compile."""
    from patchpolicy.expr import compile_expression

    cache = _COMPILED.get()
    outcome = cache.get((source, roots)) if cache is not None else None
    if outcome is None:
        try:
            outcome = compile_expression(source, roots=roots, expect_bool=True)
        except ExprError as failed:
            outcome = failed
        if cache is not None:
            cache[(source, roots)] = outcome
    if isinstance(outcome, ExprError):
        diags.append(
            Diagnostic(
                expression_location(doc, loc, outcome.offset),
                f"{message_context(doc, loc)}{what}: {outcome.message}",
            )
        )
        return None
    compiled = outcome
    warnings = compiled.warnings
    if what == "match":
        # Exception matches are pre-filtered by their equality guards (expr/guards.py):
        # reading a guarded id costs a dict lookup, not an evaluation per finding.
        from patchpolicy.expr.guards import equality_guards

        guarded = {f"field {g.root}.{g.field}:" for g in equality_guards(source)}
        warnings = tuple(w for w in warnings if not any(g in w for g in guarded))
    diags.extend(
        Diagnostic(
            expression_location(doc, loc, 0),
            f"{message_context(doc, loc)}{what}: {warning}",
            severity="warning",
        )
        for warning in warnings
    )
    return compiled
