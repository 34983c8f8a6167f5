"""The diff of two loaded bundles, document by document, and the gate on it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from patchpolicy.errors import Location
from patchpolicy.model.bundle import Bundle, CompiledException, CompiledPolicy
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.review.diff.changes import Change, Classification, Display, DocChanges, where_of
from patchpolicy.review.diff.exception_sets import diff_exceptions
from patchpolicy.review.diff.policies import diff_policy, unclassified
from patchpolicy.review.diff.versions import Bump, VersionCheck, check_version
from patchpolicy.review.impact import Impact


class DiffFailOn(StrEnum):
    """What ``--fail-on`` may add to the gate (version errors always fail)."""

    WEAKENING = "weakening"
    UNKNOWN = "unknown"
    BUMP = "bump"
    NOW_FAILING = "now_failing"


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
    old: CompiledPolicy | None, new: CompiledPolicy | None, od: Display, nd: Display
) -> DocumentDiff:
    cp = new if new is not None else old
    assert cp is not None
    display = nd if new is not None else od
    doc = DocChanges("PatchPolicy", cp.name, od, nd, where_of(display, cp.where))
    if old is None:
        assert new is not None
        doc.add("document", None, Classification.STRENGTHENING,
                f"policy added: {len(new.rules)} rule(s) now apply", None, new.version)
    elif new is None:
        doc.add("document", None, Classification.WEAKENING,
                f"policy removed: its {len(old.rules)} rule(s) no longer apply", old.version, None)
    else:
        diff_policy(doc, old, new)
    return _document(doc, old.version if old else None, new.version if new else None,
                     old is None, new is None)


def _document(
    doc: DocChanges, old_version: str | None, new_version: str | None, added: bool, removed: bool
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
    od: Display, nd: Display,
) -> DocumentDiff:
    side = new if new is not None else old
    assert side is not None
    display = nd if new is not None else od
    location = where_of(display, Location(side[1][0].where.file)) if side[1] else None
    doc = DocChanges("ExceptionSet", name, od, nd, location)
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
        diff_exceptions(doc, old[1], new[1])
        unclassified(doc, "ExceptionSet", old[0], new[0])
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
    old_display: Display = _identity, new_display: Display = _identity,
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
