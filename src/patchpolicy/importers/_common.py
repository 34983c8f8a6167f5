"""Vocabulary shared by the format modules: severities, CVSS v3 scores, package URLs,
fix states and lenient semantic-version ranges. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import Node
from patchpolicy.model.fleet import SeverityName

# ------------------------------------------------------------------------- severity

_SEVERITY_WORDS: dict[str, SeverityName] = {
    "critical": "critical",
    "high": "high",
    "important": "high",  # Red Hat's word for high
    "medium": "medium",
    "moderate": "medium",  # GitHub advisories
    "low": "low",
    "negligible": "low",  # Grype: a real but negligible issue is still low, never none
    "none": "none",
    "info": "none",  # CycloneDX: informational, no risk score
    "unknown": "unknown",
}


def severity_word(node: Node) -> SeverityName:
    """Map a scanner's severity word (any case) onto patchpolicy's; unknown words fail."""
    word = node.as_str()
    mapped = _SEVERITY_WORDS.get(word.strip().lower())
    if mapped is None:
        raise node.error(f"unknown severity {word!r}")
    return mapped


def severity_of_score(score: float) -> SeverityName:
    """The CVSS v3 qualitative rating of a base score."""
    if score == 0.0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def check_cvss(node: Node, score: float) -> float:
    if not 0.0 <= score <= 10.0:
        raise node.error(f"CVSS score {score} is outside 0..10")
    return score


# ------------------------------------------------------------------------- CVSS v3

_CVSS3_WEIGHTS: dict[str, dict[str, float]] = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup_31(x: float) -> float:
    # CVSS v3.1 Appendix A: round up to one decimal, robust to floating-point noise.
    i = round(x * 100000)
    if i % 10000 == 0:
        return i / 100000.0
    return (math.floor(i / 10000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """The CVSS v3.0/v3.1 base score of a vector (``CVSS:3.1/AV:N/...``), or None when the
    vector is not a complete v3 base vector (v2 and v4 vectors give None)."""
    parts = vector.strip().split("/")
    if not parts or not parts[0].startswith("CVSS:3."):
        return None
    metrics: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition(":")
        if not sep:
            return None
        metrics[key] = value
    try:
        scope = metrics["S"]
        pr = _PR[scope][metrics["PR"]]
        w = {k: _CVSS3_WEIGHTS[k][metrics[k]] for k in _CVSS3_WEIGHTS}
    except KeyError:
        return None
    iss = 1 - (1 - w["C"]) * (1 - w["I"]) * (1 - w["A"])
    if scope == "U":  # noqa: SIM108 - the spec's two formulas, side by side
        impact = 6.42 * iss
    else:
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    exploitability = 8.22 * w["AV"] * w["AC"] * pr * w["UI"]
    if impact <= 0:
        return 0.0
    raw = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    if parts[0] == "CVSS:3.0":
        return math.ceil(min(raw, 10.0) * 10 - 1e-9) / 10.0
    return _roundup_31(min(raw, 10.0))


# ------------------------------------------------------------------------- CVSS choice


@dataclass(frozen=True)
class CvssCandidate:
    """One CVSS score a report offers: who scored it (``source``) and which version."""

    source: str
    version: int  # 2, 3 or 4
    score: float


def best_cvss(candidates: list[CvssCandidate], vendor_first: tuple[str, ...] = ()) -> CvssCandidate | None:
    """Choose the score to trust: NVD v3, then a vendor's v3 (``vendor_first`` in order, then
    the others in the order given), then v4, then NVD v2, then any v2."""

    def rank(c: CvssCandidate, index: int) -> tuple[int, int, int]:
        nvd = c.source == "nvd"
        if c.version == 3:
            tier = 0 if nvd else 1
        elif c.version == 4:
            tier = 2
        else:
            tier = 3 if nvd else 4
        pref = vendor_first.index(c.source) if c.source in vendor_first else len(vendor_first)
        return (tier, pref, index)

    if not candidates:
        return None
    return min(enumerate(candidates), key=lambda ic: rank(ic[1], ic[0]))[1]


def normalize_source(name: str) -> str:
    """``NVD``/``nvd@nist.gov``/``nvd:cpe`` -> ``nvd``; other names lowercased."""
    low = name.strip().lower()
    if low in ("nvd", "nvd@nist.gov", "nvd:cpe", "national vulnerability database"):
        return "nvd"
    return low


# ------------------------------------------------------------------------- package URLs


def _enc(text: str) -> str:
    # purl spec: percent-encode everything but unreserved characters; ':' may stay.
    return quote(text, safe="").replace("%3A", ":")


def build_purl(
    ptype: str,
    name: str,
    version: str | None = None,
    namespace: str | None = None,
    qualifiers: Mapping[str, str] | None = None,
) -> str:
    """A canonical package URL (type lowercased, segments encoded, qualifiers sorted)."""
    text = f"pkg:{ptype.lower()}/"
    if namespace:
        text += "/".join(_enc(seg) for seg in namespace.split("/") if seg) + "/"
    text += _enc(name)
    if version:
        text += "@" + _enc(version)
    if qualifiers:
        items = sorted((k.lower(), v) for k, v in qualifiers.items() if v)
        if items:
            text += "?" + "&".join(f"{k}={_enc(v)}" for k, v in items)
    return text


def purl_for_ecosystem(ecosystem: str, name: str, version: str | None) -> str | None:
    """A purl for an OSV ecosystem package when it can be built exactly, else None."""
    base = ecosystem.split(":", 1)[0]
    if base == "Go":
        if name == "stdlib" or "/" not in name:
            return None
        ns, _, short = name.rpartition("/")
        v = version if version is None or version.startswith("v") else f"v{version}"
        return build_purl("golang", short, v, ns)
    if base == "crates.io":
        return build_purl("cargo", name, version)
    if base == "npm":
        if name.startswith("@") and "/" in name:
            scope, _, short = name.partition("/")
            return build_purl("npm", short, version, scope)
        return build_purl("npm", name, version)
    if base == "PyPI":
        return build_purl("pypi", re.sub(r"[-_.]+", "-", name).lower(), version)
    if base == "Maven":
        group, sep, artifact = name.partition(":")
        return build_purl("maven", artifact, version, group) if sep else None
    if base == "RubyGems":
        return build_purl("gem", name, version)
    if base == "NuGet":
        return build_purl("nuget", name, version)
    if base == "Packagist":
        vendor, sep, short = name.partition("/")
        return build_purl("composer", short, version, vendor) if sep else None
    if base == "Hex":
        return build_purl("hex", name, version)
    if base == "Pub":
        return build_purl("pub", name, version)
    if base in ("Debian", "Ubuntu"):
        return build_purl("deb", name, version, base.lower())
    if base == "Alpine":
        return build_purl("apk", name, version, "alpine")
    return None


# ------------------------------------------------------------------------- fix states

FIX_STATE_WONT_FIX = "wont-fix"


# ------------------------------------------------------------------------- versions

_LENIENT_SEMVER = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def semver_key(version: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]] | None:
    """A sort key with SemVer 2.0 precedence; missing minor/patch count as 0 (``0.1`` is
    ``0.1.0``, as OSV data writes it). None when ``version`` is not semver-like."""
    m = _LENIENT_SEMVER.match(version.strip())
    if not m:
        return None
    major, minor, patch = (int(g) if g else 0 for g in m.group(1, 2, 3))
    pre = m.group(4)
    if pre is None:
        return (major, minor, patch, 1, ())
    idents = tuple((0, int(i)) if i.isdigit() else (1, i) for i in pre.split("."))
    return (major, minor, patch, 0, idents)


_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz", ".tar.bz2")
_ARCHIVE_SCHEMES = ("docker-archive:", "oci-archive:", "oci-dir:", "dir:", "file:")


def is_archive_path(name: str) -> bool:
    """Whether a scan target names an image archive on disk (``--input alpine.tar``,
    ``docker-archive:x.tar``) rather than the image: such a path says nothing of the image."""
    low = name.lower()
    return low.startswith(_ARCHIVE_SCHEMES) or low.endswith(_ARCHIVE_SUFFIXES)


def last_path_component(path: str) -> str | None:
    """``/builds/acme/payments`` -> ``payments``: a checkout's directory, by git's
    convention the repository's name. None for a URL, ``.``, ``/`` or a bare name."""
    if "://" in path or path.startswith("git@"):
        return None
    stripped = path.rstrip("/")
    if "/" not in stripped:
        return None
    last = stripped.rsplit("/", 1)[1]
    return last if last not in ("", ".", "..") else None


def read_head(path: Path, name: str, size: int, empty: str) -> tuple[bytes, bytes]:
    """The first ``size`` bytes of the file and its first byte past a BOM and white space
    (``{``, ``<``...), to tell JSON, XML and CSV apart; ``ImporterError`` when the file
    cannot be read or holds nothing (``empty`` says what was expected)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(size)
    except OSError as e:
        raise ImporterError(f"{name}: cannot read: {e.strerror or e}") from e
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not first:
        raise ImporterError(f"{name}: empty file: {empty}")
    return head, first
