"""Qualys VM reports: the ``ASSET_DATA_REPORT`` XML and the VMDR "Asset Vuln Datalist" CSV.

Mapping (docs/importers.md has the tables): one host per ``HOST`` (XML) or per asset (CSV
rows grouped by Asset Id); one entry per (QID, CVE) detection, or ``QUALYS-<qid>`` when the
QID names no CVE. Status ACTIVE / NEW / REOPENED -> open, FIXED -> fixed (``fixed_at`` =
Last Fixed); FIRST_FOUND / First Detected -> ``first_seen_at``; Patch Released ->
``fix_released_at``; severity 5 critical, 4 high, 3 medium, 2 and 1 low, and an
information-gathered detection (type ``Ig``) is ``none`` whatever its severity. A host's
scan time is the latest time Qualys looked at it: its latest LAST_FOUND / Last Detected or
Last Fixed, else the report's generation time.

The XML is untrusted: read through ``_xml.xml_events`` (no entity, no DTD fetched; the
external DTD Qualys declares is never read) and streamed. The vulnerability details
(title, severity, CVEs, solution) are in a GLOSSARY *after* the hosts, so each detection
is kept as a compact ``_Detection`` while the hosts stream by, and joined to the
glossary at the end; every element is cleared once read.

The CSV has a preamble (report name and date, company, user) before its header row; its
dates (``Feb 03, 2026 07:00 AM``) are in the timezone the preamble's date names
(``GMT-0500``), else UTC.
"""

from __future__ import annotations

import csv
import dataclasses
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element

from patchpolicy.errors import ImporterError
from patchpolicy.importers._common import check_cvss, read_head
from patchpolicy.importers._json import Node
from patchpolicy.importers._xml import child_text, xml_events
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, MultiHostImporter, ParsedReport
from patchpolicy.model.common import parse_timestamp
from patchpolicy.model.fleet import CriticalityName, OsRecord, SeverityName, StatusName

if TYPE_CHECKING:
    from _csv import Reader

SEVERITY: dict[str, SeverityName] = {"5": "critical", "4": "high", "3": "medium", "2": "low", "1": "low"}
CRITICALITY: dict[str, CriticalityName] = {
    "5": "critical", "4": "high", "3": "medium", "2": "low", "1": "low",
}
# Upper-cased, without "-" or spaces: the XML writes "Re-Opened", the CSV "REOPENED".
STATUS: dict[str, StatusName] = {"ACTIVE": "open", "NEW": "open", "REOPENED": "open", "FIXED": "fixed"}
_EMPTY = frozenset({"", "-", "'-", "N/A"})
_CVSS_TEXT = re.compile(r"^\s*(\d+(?:\.\d+)?)")


def _blank(text: str | None) -> bool:
    return text is None or text.strip() in _EMPTY


def _status(text: str | None, where: Node) -> StatusName:
    if _blank(text):
        return "open"  # information-gathered detections carry no status: present now
    assert text is not None
    mapped = STATUS.get(re.sub(r"[-\s_]", "", text).upper())
    if mapped is None:
        raise where.error(f"unknown status {text.strip()!r}: expected ACTIVE, NEW, REOPENED or FIXED")
    return mapped


def _severity(text: str | None, informational: bool, where: Node) -> SeverityName:
    if informational:
        return "none"
    if _blank(text):
        raise where.error("no severity")
    assert text is not None
    mapped = SEVERITY.get(text.strip())
    if mapped is None:
        raise where.error(f"unknown severity {text.strip()!r}: expected 1 to 5")
    return mapped


def _score(text: str | None, where: Node) -> float | None:
    """A CVSS score, alone or as Qualys writes it with its vector: ``9.0 (AV:N/...)``."""
    if _blank(text):
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
    if _blank(markup):
        return None
    assert markup is not None
    text = _LINK.sub(lambda m: f"{m.group(2).strip()} ({m.group(1)})" if m.group(2).strip() != m.group(1) else m.group(1), markup)
    text = _TAG.sub("", _BREAK.sub("\n", text))
    lines = [" ".join(line.split()) for line in html.unescape(text).splitlines()]
    out = "\n".join(line for line in lines if line)
    return out or None


def _cves(text: str | None) -> list[str]:
    if _blank(text):
        return []
    assert text is not None
    return list(dict.fromkeys(c.strip() for c in re.split(r"[,\s]+", text) if c.strip()))


@dataclass
class _Detection:
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
class _Details:
    """A QID's glossary entry: what every detection of it shares."""

    severity: str | None
    cves: tuple[str, ...]
    solution: str | None
    cvss: float | None
    cvss_version: int
    published_at: datetime | None = None
    fix_released_at: datetime | None = None


def _entries(d: _Detection, details: _Details, severity: SeverityName, cvss_source: str) -> list[Entry]:
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


def _latest(*times: datetime | None) -> datetime | None:
    present = [t for t in times if t is not None]
    return max(present) if present else None


class QualysImporter(MultiHostImporter):
    format = ImporterFormat.QUALYS

    def load_reports(self, path: Path, label: str | None = None) -> list[ParsedReport]:
        name = label if label is not None else str(path)
        _, first = read_head(path, name, 4096, "expected a qualys XML or CSV report")
        if first in (b"{", b"["):
            raise ImporterError(f"{name}: not a qualys report: it is JSON (qualys reports are XML or CSV)")
        if first == b"<":
            return _XmlReader(name).read(path)
        return _CsvReader(name).read(path)

    def parse(self, root: Node) -> ParsedReport:
        raise root.error("not a qualys report: Qualys reports are XML or CSV, not JSON")


# ---------------------------------------------------------------- ASSET_DATA_REPORT XML


@dataclass
class _XmlHost:
    where: str
    keys: dict[str, str]
    os: str | None
    tags: tuple[str, ...]
    labels: dict[str, str]
    detections: list[_Detection]


class _XmlReader:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: list[_Detection] = []  # the detections of the HOST being read

    def node(self, where: str) -> Node:
        return Node(None, where, self.name)

    def read(self, path: Path) -> list[ParsedReport]:
        hosts: list[_XmlHost] = []
        glossary: dict[str, _Details] = {}
        generated: datetime | None = None
        parents: list[Element] = []
        n_info = 0
        for event, elem in xml_events(path, self.name, "qualys"):
            if event == "start":
                if not parents and elem.tag != "ASSET_DATA_REPORT":
                    raise ImporterError(
                        f"{self.name}: not a qualys report: root element <{elem.tag}>,"
                        " expected <ASSET_DATA_REPORT>"
                    )
                if elem.tag == "HOST" and len(parents) == 2:
                    n_info = 0
                parents.append(elem)
                continue
            parents.pop()
            parent = parents[-1] if parents else None
            tag = elem.tag
            if tag == "VULN_INFO":
                where = f"$.HOST[{len(hosts)}].VULN_INFO[{n_info}]"
                self._pending.append(self._detection(elem, where))
                n_info += 1
                _drop(parent, elem)
            elif tag == "HOST" and parent is not None and parent.tag == "HOST_LIST":
                hosts.append(self._host(elem, f"$.HOST[{len(hosts)}]"))
                _drop(parent, elem)
            elif tag == "VULN_DETAILS":
                qid, details = self._details(elem, f"$.GLOSSARY.VULN_DETAILS[{len(glossary)}]")
                glossary[qid] = details
                _drop(parent, elem)
            elif tag == "GENERATION_DATETIME":
                generated = self._time(elem.text, "$.HEADER.GENERATION_DATETIME")
            elif tag in ("RISK_SCORE_PER_HOST", "APPENDICES"):
                _drop(parent, elem)
        if not hosts:
            raise ImporterError(f"{self.name}: the report has no HOST")
        return [self._report(h, glossary, generated) for h in hosts]

    def _time(self, text: str | None, where: str) -> datetime | None:
        if _blank(text):
            return None
        assert text is not None
        try:
            return parse_timestamp(text.strip())
        except ValueError as e:
            raise self.node(where).error(str(e)) from None

    def _detection(self, elem: Element, where: str) -> _Detection:
        qid = child_text(elem, "QID")
        if not qid:
            raise self.node(where).error("VULN_INFO without QID")
        kind = child_text(elem, "TYPE")
        port = child_text(elem, "PORT")
        prov: dict[str, str] = {}
        fqdn = child_text(elem, "FQDN")
        if fqdn:
            prov["qualys_fqdn"] = fqdn
        return _Detection(
            qid=qid,
            where=where,
            informational=(kind or "").strip().lower() == "ig",
            kind=kind,
            status=_status(child_text(elem, "VULN_STATUS"), self.node(f"{where}.VULN_STATUS")),
            first_found=self._time(child_text(elem, "FIRST_FOUND"), f"{where}.FIRST_FOUND"),
            last_found=self._time(child_text(elem, "LAST_FOUND"), f"{where}.LAST_FOUND"),
            last_fixed=self._time(child_text(elem, "LAST_FIXED"), f"{where}.LAST_FIXED"),
            port=None if _blank(port) or port == "0" else f"{port}/{(child_text(elem, 'PROTOCOL') or 'tcp').lower()}",
            provenance=prov,
        )

    def _host(self, elem: Element, where: str) -> _XmlHost:
        named = {
            "qualys-dns": child_text(elem, "DNS"),
            "qualys-ip": child_text(elem, "IP"),
            "qualys-netbios": child_text(elem, "NETBIOS"),
        }
        keys = {k: v for k, v in named.items() if v}
        if not keys:
            raise self.node(where).error("HOST without DNS, IP or NETBIOS")
        labels = dict(keys)
        groups = [(g.text or "").strip() for g in elem.iterfind("ASSET_GROUPS/ASSET_GROUP_TITLE")]
        if any(groups):
            labels["qualys-asset-groups"] = ",".join(g for g in groups if g)
        tags = tuple(dict.fromkeys(
            t for t in ((x.text or "").strip() for x in elem.iterfind("ASSET_TAGS/ASSET_TAG")) if t
        ))
        detections, self._pending = self._pending, []
        return _XmlHost(where, keys, child_text(elem, "OPERATING_SYSTEM"), tags, labels, detections)

    def _details(self, elem: Element, where: str) -> tuple[str, _Details]:
        qid = child_text(elem, "QID")
        if not qid:
            raise self.node(where).error("VULN_DETAILS without QID")
        where = f"$.GLOSSARY.VULN_DETAILS[qid {qid}]"
        cvss = _score(child_text(elem, "CVSS3_SCORE/CVSS3_BASE"), self.node(f"{where}.CVSS3_BASE"))
        version = 3
        if cvss is None:
            cvss, version = _score(child_text(elem, "CVSS_SCORE/CVSS_BASE"), self.node(f"{where}.CVSS_BASE")), 2
        cves = [(c.text or "").strip() for c in elem.iterfind("CVE_ID_LIST/CVE_ID/ID")]
        return qid, _Details(
            severity=child_text(elem, "SEVERITY"),
            cves=tuple(dict.fromkeys(c for c in cves if c)),
            solution=plain_text(child_text(elem, "SOLUTION")),
            cvss=cvss,
            cvss_version=version,
        )

    def _report(self, h: _XmlHost, glossary: dict[str, _Details], generated: datetime | None) -> ParsedReport:
        entries: list[Entry] = []
        for d in h.detections:
            details = glossary.get(d.qid)
            if details is None:
                raise self.node(d.where).error(f"QID {d.qid} has no VULN_DETAILS in the GLOSSARY")
            severity = _severity(details.severity, d.informational,
                                 self.node(f"$.GLOSSARY.VULN_DETAILS[qid {d.qid}].SEVERITY"))
            entries += _entries(d, details, severity, "qualys")
        seen = _latest(*(_latest(d.last_found, d.last_fixed) for d in h.detections))
        return ParsedReport(
            file=self.name,
            format=ImporterFormat.QUALYS,
            host_keys=tuple(dict.fromkeys(h.keys.values())),
            entries=entries,
            scan_time=seen or generated,
            tool="qualys",
            host_name=h.keys.get("qualys-dns") or h.keys.get("qualys-netbios"),
            os=None if h.os is None else OsRecord(version=h.os),
            tags=h.tags,
            labels=h.labels,
            # The machine's own names (address, DNS name) meet other scanners' hosts.
            match_keys=tuple(v for k, v in h.keys.items() if k in ("qualys-ip", "qualys-dns") and v),
        )


def _drop(parent: Element | None, elem: Element) -> None:
    """Forget an element once read: detached from its parent, children released."""
    elem.clear()
    if parent is not None:
        parent.remove(elem)


# ---------------------------------------------------------------- VMDR CSV export

_PREAMBLE_DATE = re.compile(r"GMT\s*([+-])(\d{2}):?(\d{2})")
_HEADER_SCAN = 20  # the header row is looked for in the first rows only
_ASSET_COLUMNS = ("Asset Id", "Asset Name", "Asset IPV4", "Asset IPV6")
_CVSS3_COLUMN = re.compile(r"^CVSS ?v?3(\.\d)? Base")
_CVSS2_COLUMN = re.compile(r"^CVSS ?v?2 Base")


@dataclass
class _CsvHost:
    line: int
    values: dict[str, str]
    tags: list[str]
    entries: list[Entry]
    latest: datetime | None = None


class _CsvReader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.zone: tzinfo = UTC
        self.generated: datetime | None = None

    def error(self, line: int, message: str) -> ImporterError:
        return ImporterError(f"{self.name}:{line}: {message}")

    def read(self, path: Path) -> list[ParsedReport]:
        try:
            fh = path.open(encoding="utf-8-sig", newline="")
        except OSError as e:
            raise ImporterError(f"{self.name}: cannot read: {e.strerror or e}") from e
        with fh:
            try:
                return self._read(csv.reader(fh, strict=True))
            except UnicodeDecodeError as e:
                raise ImporterError(f"{self.name}: not UTF-8 text: {e.reason}") from e

    def _rows(self, reader: Reader) -> Iterator[tuple[int, list[str]]]:
        """Rows with the line each starts on (a quoted cell may span lines)."""
        line = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise self.error(reader.line_num, f"invalid CSV: {e}") from None
            yield line, row
            line = reader.line_num + 1

    def _read(self, reader: Reader) -> list[ParsedReport]:
        rows = self._rows(reader)
        header: list[str] | None = None
        header_line = 0
        for line, row in rows:
            if line > _HEADER_SCAN:
                break
            cells = [c.strip() for c in row]
            if "QID" in cells and "Status" in cells and any(c in cells for c in _ASSET_COLUMNS):
                header, header_line = cells, line
                break
            if line == 1 and len(cells) > 1:
                self._preamble_date(cells[1])
        if header is None:
            raise ImporterError(
                f"{self.name}: not a qualys report: no header row with QID, Status and an Asset"
                f" column in the first {_HEADER_SCAN} lines"
            )
        dupes = sorted({c for c in header if header.count(c) > 1 and c})
        if dupes:
            raise self.error(header_line, f"duplicate columns {dupes}")
        if "Severity" not in header:
            raise self.error(header_line, "no Severity column")
        hosts: dict[str, _CsvHost] = {}
        for line, row in rows:
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise self.error(
                    line, f"{len(row)} cells, but the header (line {header_line}) has {len(header)}"
                )
            values = dict(zip(header, (c.strip() for c in row), strict=True))
            self._row(line, values, hosts)
        if not hosts:
            raise ImporterError(f"{self.name}: the report lists no detection")
        return [self._report(h) for h in hosts.values()]

    def _preamble_date(self, text: str) -> None:
        """``04 Feb 2026 10:00AM GMT-0500``: the export's timezone, and when it was made."""
        m = _PREAMBLE_DATE.search(text)
        if m is None:
            return
        sign = -1 if m.group(1) == "-" else 1
        self.zone = timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
        try:
            local = datetime.strptime(text[: m.start()].strip(), "%d %b %Y %I:%M%p")
        except ValueError:
            return
        self.generated = local.replace(tzinfo=self.zone).astimezone(UTC)

    def _date(self, values: dict[str, str], column: str, line: int) -> datetime | None:
        text = values.get(column)
        if _blank(text):
            return None
        assert text is not None
        for fmt in ("%b %d, %Y %I:%M %p", "%b %d, %Y"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=self.zone).astimezone(UTC)
            except ValueError:
                continue
        raise self.error(line, f"column {column!r}: invalid date {text!r}: expected e.g. 'Feb 03, 2026 07:00 AM'")

    def _row(self, line: int, v: dict[str, str], hosts: dict[str, _CsvHost]) -> None:
        asset = next((v[c] for c in _ASSET_COLUMNS if not _blank(v.get(c))), None)
        if asset is None:
            raise self.error(line, "no Asset Id, Asset Name, Asset IPV4 or Asset IPV6")
        host = hosts.get(asset)
        if host is None:
            host = hosts[asset] = _CsvHost(line, v, [], [])
        qid = v["QID"]
        if _blank(qid):
            raise self.error(line, "no QID")
        kind = v.get("Type Detected") or None
        informational = (kind or "").strip().lower() in ("ig", "info", "information", "information gathered")
        def cell(column: str) -> Node:  # errors read ``file:line: column 'X': ...``
            return Node(v.get(column), f"column {column!r}", f"{self.name}:{line}")

        status = _status(v["Status"], cell("Status"))
        severity = _severity(v["Severity"], informational, cell("Severity"))
        cvss3_col = next((c for c in v if _CVSS3_COLUMN.match(c)), None)
        cvss2_col = next((c for c in v if _CVSS2_COLUMN.match(c)), None)
        cvss, version = None, 3
        if cvss3_col is not None:
            cvss = _score(v[cvss3_col], cell(cvss3_col))
        if cvss is None and cvss2_col is not None:
            cvss, version = _score(v[cvss2_col], cell(cvss2_col)), 2
        last_fixed = self._date(v, "Last Fixed", line)
        last_found = self._date(v, "Last Detected", line)
        port, proto = v.get("Port", ""), v.get("Protocol", "")
        prov: dict[str, str] = {}
        for column, key in (("Disabled", "qualys_disabled"), ("Ignored", "qualys_ignored")):
            if v.get(column, "").lower() == "yes":
                prov[key] = "yes"
        detection = _Detection(
            qid=qid,
            where=f"line {line}",
            informational=informational,
            kind=kind,
            status=status,
            first_found=self._date(v, "First Detected", line),
            last_found=last_found,
            last_fixed=last_fixed,
            port=None if _blank(port) or port == "0" else f"{port}/{(proto if not _blank(proto) else 'tcp').lower()}",
            provenance=prov,
            first_source="First Detected",
        )
        details = _Details(
            severity=v["Severity"],
            cves=tuple(_cves(v.get("CVE"))),
            solution=plain_text(v.get("Solution")),
            cvss=cvss,
            cvss_version=version,
            published_at=self._date(v, "Published Date", line),
            fix_released_at=self._date(v, "Patch Released", line),
        )
        host.entries += _entries(detection, details, severity, "nvd" if cvss3_col or cvss2_col else "qualys")
        for t in v.get("Asset Tags", "").split(","):
            if t.strip() and t.strip() not in host.tags:
                host.tags.append(t.strip())
        host.latest = _latest(host.latest, last_found, last_fixed)

    def _report(self, h: _CsvHost) -> ParsedReport:
        v = h.values
        keys: dict[str, str] = {}
        if not _blank(v.get("Asset Name")):
            keys["qualys-asset-name"] = v["Asset Name"]
        for column, label in (("Asset IPV4", "qualys-ipv4"), ("Asset IPV6", "qualys-ipv6")):
            if not _blank(v.get(column)):
                keys[label] = v[column]
        if not _blank(v.get("Asset Id")):
            keys["qualys-asset-id"] = v["Asset Id"]
        host_keys = [
            k for label, text in keys.items()
            for k in (text.split(",") if label in ("qualys-ipv4", "qualys-ipv6") else [text])
            if k.strip()
        ]
        labels = dict(keys)
        criticality: CriticalityName | None = None
        score = v.get("Asset Critical Score", "")
        if not _blank(score):
            criticality = CRITICALITY.get(score)
            if criticality is None:
                raise self.error(h.line, f"column 'Asset Critical Score': {score!r} is not 1 to 5")
            labels["qualys-asset-critical-score"] = score
        os_name = v.get("Operating System")
        return ParsedReport(
            file=self.name,
            format=ImporterFormat.QUALYS,
            host_keys=tuple(dict.fromkeys(k.strip() for k in host_keys)),
            entries=h.entries,
            scan_time=h.latest or self.generated,
            tool="qualys",
            host_name=None if _blank(v.get("Asset Name")) else v["Asset Name"],
            os=None if _blank(os_name) else OsRecord(version=os_name),
            tags=tuple(h.tags),
            labels=labels,
            criticality=criticality,
            # The addresses meet other scanners' hosts (the asset name is free text).
            match_keys=tuple(dict.fromkeys(
                a.strip() for label in ("qualys-ipv4", "qualys-ipv6") for a in keys.get(label, "").split(",")
                if a.strip()
            )),
        )
