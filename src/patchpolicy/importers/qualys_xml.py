"""Qualys ``ASSET_DATA_REPORT`` XML, streamed.

The XML is untrusted: read through ``_xml.xml_events`` (no entity, no DTD fetched; the
external DTD Qualys declares is never read) and streamed. The vulnerability details
(title, severity, CVEs, solution) are in a GLOSSARY *after* the hosts, so each detection
is kept as a compact ``Detection`` while the hosts stream by, and joined to the
glossary at the end; every element is cleared once read. The mapping is in
``importers/qualys.py`` and docs/importers.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.etree.ElementTree import Element

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import Node
from patchpolicy.importers._qualys import (
    Details,
    Detection,
    blank,
    detection_entries,
    latest_of,
    plain_text,
    score_of,
    severity_of,
    status_of,
)
from patchpolicy.importers._xml import child_text, xml_events
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, ParsedReport
from patchpolicy.model.common import parse_timestamp
from patchpolicy.model.fleet import OsRecord


@dataclass
class _XmlHost:
    where: str
    keys: dict[str, str]
    os: str | None
    tags: tuple[str, ...]
    labels: dict[str, str]
    detections: list[Detection]


class XmlReader:
    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: list[Detection] = []  # the detections of the HOST being read

    def node(self, where: str) -> Node:
        return Node(None, where, self.name)

    def read(self, path: Path) -> list[ParsedReport]:
        hosts: list[_XmlHost] = []
        glossary: dict[str, Details] = {}
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
        if blank(text):
            return None
        assert text is not None
        try:
            return parse_timestamp(text.strip())
        except ValueError as e:
            raise self.node(where).error(str(e)) from None

    def _detection(self, elem: Element, where: str) -> Detection:
        qid = child_text(elem, "QID")
        if not qid:
            raise self.node(where).error("VULN_INFO without QID")
        kind = child_text(elem, "TYPE")
        port = child_text(elem, "PORT")
        prov: dict[str, str] = {}
        fqdn = child_text(elem, "FQDN")
        if fqdn:
            prov["qualys_fqdn"] = fqdn
        return Detection(
            qid=qid,
            where=where,
            informational=(kind or "").strip().lower() == "ig",
            kind=kind,
            status=status_of(child_text(elem, "VULN_STATUS"), self.node(f"{where}.VULN_STATUS")),
            first_found=self._time(child_text(elem, "FIRST_FOUND"), f"{where}.FIRST_FOUND"),
            last_found=self._time(child_text(elem, "LAST_FOUND"), f"{where}.LAST_FOUND"),
            last_fixed=self._time(child_text(elem, "LAST_FIXED"), f"{where}.LAST_FIXED"),
            port=None if blank(port) or port == "0" else f"{port}/{(child_text(elem, 'PROTOCOL') or 'tcp').lower()}",
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

    def _details(self, elem: Element, where: str) -> tuple[str, Details]:
        qid = child_text(elem, "QID")
        if not qid:
            raise self.node(where).error("VULN_DETAILS without QID")
        where = f"$.GLOSSARY.VULN_DETAILS[qid {qid}]"
        cvss = score_of(child_text(elem, "CVSS3_SCORE/CVSS3_BASE"), self.node(f"{where}.CVSS3_BASE"))
        version = 3
        if cvss is None:
            cvss, version = score_of(child_text(elem, "CVSS_SCORE/CVSS_BASE"), self.node(f"{where}.CVSS_BASE")), 2
        cves = [(c.text or "").strip() for c in elem.iterfind("CVE_ID_LIST/CVE_ID/ID")]
        return qid, Details(
            severity=child_text(elem, "SEVERITY"),
            cves=tuple(dict.fromkeys(c for c in cves if c)),
            solution=plain_text(child_text(elem, "SOLUTION")),
            cvss=cvss,
            cvss_version=version,
        )

    def _report(self, h: _XmlHost, glossary: dict[str, Details], generated: datetime | None) -> ParsedReport:
        entries: list[Entry] = []
        for d in h.detections:
            details = glossary.get(d.qid)
            if details is None:
                raise self.node(d.where).error(f"QID {d.qid} has no VULN_DETAILS in the GLOSSARY")
            severity = severity_of(details.severity, d.informational,
                                 self.node(f"$.GLOSSARY.VULN_DETAILS[qid {d.qid}].SEVERITY"))
            entries += detection_entries(d, details, severity, "qualys")
        seen = latest_of(*(latest_of(d.last_found, d.last_fixed) for d in h.detections))
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
