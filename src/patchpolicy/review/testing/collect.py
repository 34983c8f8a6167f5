"""Reading policy tests: the PolicyTest documents under the given paths (and the policy
and exception files beside them, as coverage targets), each test's bundle loaded once
per file set with the test's fixture exceptions added, and each case's snapshot."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from patchpolicy.errors import (
    Diagnostic,
    ExprError,
    InputError,
    Location,
    SnapshotError,
    ValidationError,
)
from patchpolicy.expr import compile_expression
from patchpolicy.loader import (
    HOST_FINDING,
    SourceDocument,
    discover,
    discover_checked,
    expression_location,
    load_bundle,
    read_documents,
    validate_document,
)
from patchpolicy.model.bundle import Bundle, CompiledException
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.fleet import FleetSnapshot, HostRecord, SnapshotDocument
from patchpolicy.model.policy import PatchPolicy
from patchpolicy.model.policytest import PolicyTest
from patchpolicy.review.testing.results import Coverage, Target
from patchpolicy.review.testing.targets import policy_targets, resolved

_NOT_POLICY = frozenset({"PolicyTest", "FleetSnapshot"})


@dataclass(frozen=True)
class PolicyTestFile:
    """A PolicyTest document and the file it is in."""

    path: Path
    doc: SourceDocument
    test: PolicyTest


@dataclass
class Collected:
    """What the paths hold: the tests, the files never part of a bundle, the targets."""

    tests: list[PolicyTestFile] = field(default_factory=list)
    not_policy: set[Path] = field(default_factory=set)
    """Files holding only tests and snapshots: never part of a test's bundle."""
    coverage: Coverage = field(default_factory=Coverage)


def collect(paths: Sequence[str | Path]) -> Collected:
    """Every PolicyTest under ``paths``, and the policy and exception files there as
    coverage targets; ValidationError with every invalid document."""
    files, problems = discover_checked(paths)
    if not files and not problems:
        raise InputError(f"{', '.join(str(p) for p in paths)}: no test files found")
    out = Collected()
    diags: list[Diagnostic] = list(problems)
    for f in files:
        if not f.exists():
            diags.append(Diagnostic(Location(str(f)), "no such file or directory"))
            continue
        docs, errs = read_documents(f)
        diags.extend(errs)
        if docs and all(d.kind in _NOT_POLICY for d in docs):
            out.not_policy.add(f.resolve())
        for doc in docs:
            if doc.kind not in ("PolicyTest", "PatchPolicy", "ExceptionSet"):
                continue
            model, errs = validate_document(doc)
            diags.extend(errs)
            if isinstance(model, PolicyTest):
                out.tests.append(PolicyTestFile(f, doc, model))
            elif isinstance(model, PatchPolicy):
                policy_targets(out.coverage, doc, model)
            elif isinstance(model, ExceptionSet):
                for i, e in enumerate(model.exceptions):
                    out.coverage.add(
                        ("exception", resolved(doc.path), "", e.id),
                        Target("exception", None, e.id, doc.where(("exceptions", i)),
                               f'exception set "{model.metadata.name}": '),
                    )
    if any(d.severity == "error" for d in diags):
        raise ValidationError([d for d in diags if d.severity == "error"])
    if not out.tests:
        raise InputError(f"{', '.join(str(p) for p in paths)}: no PolicyTest documents found")
    for t in out.tests:
        for snap in [t.test.spec.snapshot, *(c.snapshot for c in t.test.spec.cases)]:
            if isinstance(snap, str):
                out.not_policy.add((t.path.parent / snap).resolve())
    return out


class BundleCache:
    """Loads each distinct file set once; adds a test's fixture exceptions."""

    def __init__(self, not_policy: set[Path]) -> None:
        self.not_policy = not_policy
        self.cache: dict[tuple[str, ...], Bundle] = {}

    def files(self, t: PolicyTestFile) -> list[Path]:
        base = t.path.parent
        roots = (
            [Path(os.path.normpath(base / p)) for p in t.test.spec.policies]
            if t.test.spec.policies is not None else [base]
        )
        out: list[Path] = []
        for root in roots:
            if root.is_dir():
                out.extend(f for f in discover([root]) if f.resolve() not in self.not_policy)
            else:
                out.append(root)  # named explicitly: taken as given (the loader reports a missing file)
        if not out:
            raise InputError(
                f'{t.doc.where()}: test "{t.test.metadata.name}": no policy files in '
                + ", ".join(str(r) for r in roots)
            )
        return out

    def bundle(self, t: PolicyTestFile) -> tuple[Bundle, frozenset[str]]:
        """The test's bundle and the ids of its fixture exceptions."""
        files = self.files(t)
        key = tuple(sorted({resolved(f) for f in files}))
        bundle = self.cache.get(key)
        if bundle is None:
            bundle = self.cache[key] = load_bundle(files)
        fixtures = _fixture_exceptions(t, bundle)
        if not fixtures:
            return bundle, frozenset()
        merged = tuple(sorted((*bundle.exceptions, *fixtures), key=lambda e: e.id))
        return dataclasses.replace(bundle, exceptions=merged), frozenset(e.id for e in fixtures)


def _fixture_exceptions(t: PolicyTestFile, bundle: Bundle) -> list[CompiledException]:
    """The test's inline exceptions, compiled as an exception set named after the test;
    ValidationError when an id is taken, a policy unknown or a match does not compile."""
    spec = t.test.spec
    if not spec.exceptions:
        return []
    ctx = f'test "{t.test.metadata.name}": '
    diags: list[Diagnostic] = []
    names = {p.name for p in bundle.policies}
    taken = {e.id for e in bundle.exceptions}
    eset = ExceptionSet.model_validate({
        "apiVersion": "patchpolicy/v1",
        "kind": "ExceptionSet",
        "metadata": {"name": t.test.metadata.name},
        "exceptions": [e.model_dump(by_alias=True) for e in spec.exceptions],
    })
    out: list[CompiledException] = []
    for i, exc in enumerate(eset.exceptions):
        loc: tuple[str | int, ...] = ("spec", "exceptions", i)
        label = f'{ctx}exception "{exc.id}": '
        if exc.id in taken:
            diags.append(Diagnostic(t.doc.where((*loc, "id")), f"{label}id already used in the bundle"))
        taken.add(exc.id)
        diags.extend(
            Diagnostic(t.doc.where((*loc, "policies", j)), f"{label}names unknown policy '{name}'")
            for j, name in enumerate(exc.policies or []) if name not in names
        )
        try:
            match = compile_expression(exc.match, roots=HOST_FINDING, expect_bool=True)
        except ExprError as e:
            where = expression_location(t.doc, (*loc, "match"), e.offset)
            diags.append(Diagnostic(where, f"{label}match: {e.message}"))
            continue
        out.append(CompiledException(exc, eset, match, t.doc.where(loc)))
    if diags:
        raise ValidationError(diags)
    return out


def case_hosts(t: PolicyTestFile, snap: str | FleetSnapshot) -> tuple[datetime, list[HostRecord]]:
    """A case's snapshot (a file beside the test, or inline): its time and hosts."""
    if isinstance(snap, str):
        from patchpolicy.snapshot import open_snapshot

        source = open_snapshot(t.path.parent / snap)
        return source.header.taken_at, list(source.hosts())
    try:
        doc = msgspec.convert(snap.model_dump(mode="json"), SnapshotDocument)
    except msgspec.ValidationError as e:  # pragma: no cover - the pydantic model checked it
        raise SnapshotError(f"{t.doc.where()}: inline snapshot: {e}") from e
    return doc.taken_at, list(doc.hosts)
