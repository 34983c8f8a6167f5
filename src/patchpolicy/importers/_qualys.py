"""What the Qualys XML and CSV readers share: status, severity and score words, the
glossary's markup as plain text, and one detection turned into entries."""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass, field
from datetime import datetime

from patchpolicy.importers._common import check_cvss
from patchpolicy.importers._json import Node
from patchpolicy.importers.interface import Entry
from patchpolicy.model.fleet import CriticalityName, SeverityName, StatusName

SEVERITY: dict[str, SeverityName] = {"5": "critical", "4": "high", "3": "medium", "2": "low", "1": "low"}
CRITICALITY: dict[str, CriticalityName] = {
    "5": "critical", "4": "high", "3": "medium", "2": "low", "1": "low",
}
# Upper-cased, without "-" or spaces: the XML writes "Re-Opened", the CSV "REOPENED".
STATUS: dict[str, StatusName] = {"ACTIVE": "open", "NEW": "open", "REOPENED": "open", "FIXED": "fixed"}
_EMPTY = frozenset({"", "-", "'-", "N/A"})
_CVSS_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)")


def blank(text: str | None) -> bool:
    return text is None or text.strip() in _EMPTY


def status_of(text: str | None, where: Node) -> StatusName:
    if blank(text):
        return "open"  # information-gathered detections carry no status: present now
    assert text is not None
    mapped = STATUS.get(re.sub(r"[-\s_]", "", text).upper())
    if mapped is None:
        raise where.error(f"unknown status {text.strip()!r}: expected ACTIVE, NEW, REOPENED or FIXED")
    return mapped


def severity_of(text: str | None, informational: bool, where: Node) -> SeverityName:
    if informational:
        return "none"
    if blank(text):
        raise where.error("no severity")
    assert text is not None
    mapped = SEVERITY.get(text.strip())
    if mapped is None:
        raise where.error(f"unknown severity {text.strip()!r}: expected 1 to 5")
    return mapped


def score_of(text: str | None, where: Node) -> float | None:
    """A CVSS score, alone or as Qualys writes it with its vector: ``9.0 (AV:N/...)``."""
    if blank(text):
        return None
    assert text is not None
    m = _CVSS_TEXT.match(text)
    if m is None:
        raise where.error(f"{text.strip()!r} is not a CVSS score")
    return check_cvss(where, float(m.group(1)))


_LINK = re.compile(r"<A\s[^>]*?HREF\s*=\s*[\"']([^\"']*)[\"'][^>]*>(.*?)</A\s*>", re.I | re.S)
_BREAK = re.compile(r"<(?:P|BR|LI|DT|DD)\b[^>]*>", re.I)
_TAG = re.compile(r"</?[A-Za-z][^>]*>")


def plain_text(markup: str | None) -> str | None:
    """Qualys writes its glossary texts in HTML (``<P>``, ``<BR>``, ``<A HREF>``,
    ``&quot;``): the text, with paragraph breaks as newlines and each link as
    ``text (url)``, so nothing the report says is lost and no markup reaches a renderer."""
    if blank(markup):
        return None
    assert markup is not None
    text = _LINK.sub(lambda m: f"{m.group(2).strip()} ({m.group(1)})" if m.group(2).strip() != m.group(1) else m.group(1), markup)
    text = _TAG.sub("", _BREAK.sub("\n", text))
    lines = [" ".join(line.split()) for line in html.unescape(text).splitlines()]
    out = "\n".join(line for line in lines if line)
    return out or None


def cves_of(text: str | None) -> list[str]:
    if blank(text):
        return []
    assert text is not None
    return list(dict.fromkeys(c.strip() for c in re.split(r"[,\s]+", text) if c.strip()))


@dataclass
class Detection:
    """One QID on one host, as the host listing says it (the glossary adds the rest)."""

    qid: str
    where: str
    informational: bool
    kind: str | None
    status: StatusName
    first_found: datetime | None
    last_found: datetime | None
    last_fixed: datetime | None
    port: str | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    first_source: str = "FIRST_FOUND"  # the report field first_found came from


@dataclass(frozen=True)
class Details:
    """A QID's glossary entry: what every detection of it shares."""

    severity: str | None
    cves: tuple[str, ...]
    solution: str | None
    cvss: float | None
    cvss_version: int
    published_at: datetime | None = None
    fix_released_at: datetime | None = None


def detection_entries(d: Detection, details: Details, severity: SeverityName, cvss_source: str) -> list[Entry]:
    prov = {"qualys_qid": d.qid, **d.provenance}
    if d.kind:
        prov["qualys_type"] = d.kind
    if d.port:
        prov["port"] = d.port
    if details.cvss is not None:
        prov["cvss"] = f"{cvss_source} v{details.cvss_version}"
    if d.status == "fixed" and d.last_fixed is not None:
        prov["fixed_at"] = "qualys last_fixed"
    base = Entry(
        vuln=f"QUALYS-{d.qid}",
        where=d.where,
        location=f"qualys-qid:{d.qid}",
        patch=details.solution,
        severity=severity,
        cvss=details.cvss,
        cvss_source=cvss_source if details.cvss is not None else None,
        published_at=details.published_at,
        fix_released_at=details.fix_released_at,
        status=d.status,
        fixed_at=d.last_fixed if d.status == "fixed" else None,
        first_seen_at=d.first_found,
        first_seen_at_source=d.first_source if d.first_found is not None else None,
        provenance=prov,
    )
    if not details.cves:
        return [base]
    return [
        dataclasses.replace(base, vuln=cve, where=f"{d.where}.cve[{i}]", provenance=dict(prov))
        for i, cve in enumerate(details.cves)
    ]


def latest_of(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None
