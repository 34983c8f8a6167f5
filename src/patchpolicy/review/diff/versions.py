"""Version discipline (semantic versioning of ``metadata.version``): a document whose
content changed must have a higher version; the same or a lower version is an *error*
(exit 1). The bump must match the strongest change: a weakening or unknown change
needs a MAJOR bump, a strengthening a MINOR bump, a neutral change a PATCH bump; a
smaller bump is a *warning* (``--fail-on bump`` makes it fail), except that a weakening
published with less than a MAJOR bump fails by default (``--allow-minor-weakening``). In ``0.y.z`` versions a
MINOR bump counts as MAJOR (initial development, as Cargo does). ExceptionSets carry an
optional version: the rule applies when both sides have one; dropping it is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from patchpolicy.review.diff.changes import REPORT_ORDER, Change, Classification


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
    c = min(changes, key=lambda c: (-REQUIRED_BUMP[c.classification], REPORT_ORDER[c.classification]))
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
