"""Tenable Nessus v2 XML reports (``.nessus``, ``NessusClientData_v2``).

Mapping (docs/importers.md has the table): one ``ReportHost`` is the host (keys
host-fqdn, host-ip, then the ``name`` attribute); the scan time is ``HOST_END_TIMESTAMP``,
else ``HOST_END`` (read as UTC). Each ``ReportItem`` gives one entry per ``cve`` element,
or one entry ``NESSUS-<pluginID>`` when it names no CVE; ``risk_factor`` is the severity
(``None`` -> ``none``, kept so a policy can ignore it explicitly); CVSS v3 base score,
else v2; ``patch_publication_date`` -> ``fix_released_at``; ``vuln_publication_date`` ->
``published_at``; ``solution`` -> ``patch``.

The XML is untrusted: it is parsed with defusedxml (no DTD, no entity expansion, nothing
fetched) and streamed, each ``ReportItem`` cleared once read, so memory stays bounded.
This version reads one ``ReportHost`` per file (``ParsedReport`` is one host); a file
with several is an error saying so.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from patchpolicy.errors import ImporterError
from patchpolicy.importers._common import check_cvss, severity_word
from patchpolicy.importers._json import Node
from patchpolicy.importers.interface import Entry, Importer, ImporterFormat, ParsedReport
from patchpolicy.model.fleet import OsRecord


def _date(text: str | None, where: Node) -> datetime | None:
    """Nessus dates are ``YYYY/MM/DD``; they become midnight UTC."""
    if text is None or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), "%Y/%m/%d").replace(tzinfo=UTC)
    except ValueError:
        raise where.error(f"invalid date {text.strip()!r}: expected YYYY/MM/DD") from None


def _float(text: str | None, where: Node) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return check_cvss(where, float(text))
    except ValueError:
        raise where.error(f"{text.strip()!r} is not a number") from None


class NessusImporter(Importer):
    format = ImporterFormat.NESSUS

    def load(self, path: Path, label: str | None = None) -> ParsedReport:
        name = label if label is not None else str(path)
        try:
            with path.open("rb") as fh:
                return self._stream(fh, name)
        except OSError as e:
            raise ImporterError(f"{name}: cannot read: {e.strerror or e}") from e
        except DefusedXmlException as e:
            raise ImporterError(
                f"{name}: refused: the XML declares a DTD or entities ({type(e).__name__});"
                " scanner reports are read without them"
            ) from e
        except ParseError as e:
            if path.read_bytes()[:64].lstrip()[:1] in (b"{", b"["):
                raise ImporterError(
                    f"{name}: not a nessus report: it is JSON (Nessus reports are .nessus XML)"
                ) from e
            line, col = e.position
            raise ImporterError(f"{name}:{line}:{col + 1}: invalid XML (truncated or corrupt?)") from e

    def parse(self, root: Node) -> ParsedReport:
        raise root.error("not a nessus report: Nessus reports are XML (.nessus), not JSON")

    def _stream(self, fh: IO[bytes], name: str) -> ParsedReport:
        props: dict[str, str] = {}
        host_name: str | None = None
        hosts = 0
        entries: list[Entry] = []
        items = 0
        saw_root = False
        events = SafeET.iterparse(fh, events=("start", "end"), forbid_dtd=True)
        for event, elem in events:
            if event == "start":
                if not saw_root:
                    if elem.tag != "NessusClientData_v2":
                        raise ImporterError(
                            f"{name}: not a nessus report: root element <{elem.tag}>,"
                            " expected <NessusClientData_v2>"
                        )
                    saw_root = True
                elif elem.tag == "ReportHost":
                    hosts += 1
                    if hosts > 1:
                        raise ImporterError(
                            f"{name}: ReportHost[1]: more than one ReportHost in a file is not"
                            " supported yet: split the report per host"
                        )
                    host_name = elem.get("name")
                continue
            if elem.tag == "tag" and elem.get("name"):
                props[elem.get("name", "")] = (elem.text or "").strip()
            elif elem.tag == "ReportItem":
                entries += self._entries(elem, f"$.ReportHost[0].ReportItem[{items}]", name)
                items += 1
                elem.clear()
            elif elem.tag == "Policy":
                elem.clear()  # preferences and plugin sets: large and unused
        if hosts == 0:
            raise ImporterError(f"{name}: the report has no ReportHost")
        keys = [k for k in (props.get("host-fqdn"), props.get("host-ip"), host_name) if k]
        if not keys:
            raise ImporterError(f"{name}: $.ReportHost[0]: no host-fqdn, host-ip or name")
        os_name = props.get("operating-system")
        return ParsedReport(
            file=name,
            format=self.format,
            host_keys=tuple(dict.fromkeys(keys)),
            entries=entries,
            scan_time=self._scan_time(props, name),
            tool="nessus",
            host_name=props.get("host-fqdn") or host_name,
            os=None if os_name is None else OsRecord(family=props.get("os"), version=os_name),
        )

    @staticmethod
    def _scan_time(props: dict[str, str], name: str) -> datetime | None:
        stamp = props.get("HOST_END_TIMESTAMP")
        if stamp:
            try:
                return datetime.fromtimestamp(int(stamp), UTC)
            except ValueError:
                raise ImporterError(f"{name}: HOST_END_TIMESTAMP {stamp!r} is not an epoch time") from None
        end = props.get("HOST_END")
        if end:
            try:
                return datetime.strptime(" ".join(end.split()), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
            except ValueError:
                raise ImporterError(f"{name}: HOST_END {end!r} is not a Nessus date") from None
        return None

    def _entries(self, item: Element, where: str, name: str) -> list[Entry]:
        def text(tag: str) -> str | None:
            child = item.find(tag)
            return None if child is None or child.text is None else child.text.strip()

        node = Node(None, where, name)
        plugin = item.get("pluginID")
        if not plugin:
            raise node.error("ReportItem without pluginID")
        risk = text("risk_factor")
        severity = severity_word(Node(risk, f"{where}.risk_factor", name)) if risk else "unknown"
        cvss, version = _float(text("cvss3_base_score"), node), 3
        if cvss is None:
            cvss, version = _float(text("cvss_base_score"), node), 2
        prov = {"nessus_plugin": plugin}
        port = item.get("port")
        if port and port != "0":
            prov["port"] = f"{port}/{item.get('protocol', 'tcp')}"
        if cvss is not None:
            prov["cvss"] = f"nessus v{version}"
        cves = [c.text.strip() for c in item.findall("cve") if c.text and c.text.strip()]
        base = Entry(
            vuln=f"NESSUS-{plugin}",
            where=where,
            location=f"nessus-plugin:{plugin}",
            patch=text("solution"),
            severity=severity,
            cvss=cvss,
            cvss_source="nessus" if cvss is not None else None,
            published_at=_date(text("vuln_publication_date"), node),
            fix_released_at=_date(text("patch_publication_date"), node),
            provenance=prov,
        )
        if not cves:
            return [base]
        return [
            dataclasses.replace(base, vuln=cve, where=f"{where}.cve[{i}]", provenance=dict(prov))
            for i, cve in enumerate(dict.fromkeys(cves))
        ]
