"""Tenable Nessus v2 XML reports (``.nessus``, ``NessusClientData_v2``).

Mapping (docs/importers.md has the table): one ``ReportHost`` is the host (keys
host-fqdn, host-ip, then the ``name`` attribute); the scan time is ``HOST_END_TIMESTAMP``,
else ``HOST_END`` (read as UTC). Each ``ReportItem`` gives one entry per ``cve`` element,
or one entry ``NESSUS-<pluginID>`` when it names no CVE; ``risk_factor`` is the severity
(``None`` -> ``none``, kept so a policy can ignore it explicitly); CVSS v3 base score,
else v2; ``patch_publication_date`` -> ``fix_released_at``; ``vuln_publication_date`` ->
``published_at``; ``solution`` -> ``patch``.

Each ``ReportHost`` is one ``ParsedReport``; the names it has besides its id stay host
keys (for inventory matching) and become labels ``nessus-fqdn``, ``nessus-ip``,
``nessus-name``.

The XML is untrusted: it is read through ``_xml.xml_events`` (defusedxml: no DTD, no
entity expansion, nothing fetched) and streamed; each ``ReportItem`` and ``ReportHost`` is
detached and cleared once read, so memory holds the entries, never the tree.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element

from patchpolicy.errors import ImporterError
from patchpolicy.importers._common import check_cvss, severity_word
from patchpolicy.importers._json import Node
from patchpolicy.importers._xml import child_text, xml_events
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, MultiHostImporter, ParsedReport
from patchpolicy.model.fleet import OsRecord


@functools.lru_cache(maxsize=8192)
def _parse_date(text: str) -> datetime:
    # Cached: a large scan repeats the same plugins' dates on every host; one object each.
    return datetime.strptime(text, "%Y/%m/%d").replace(tzinfo=UTC)


def _date(text: str | None, where: Node) -> datetime | None:
    """Nessus dates are ``YYYY/MM/DD``; they become midnight UTC."""
    if text is None or not text.strip():
        return None
    try:
        return _parse_date(text.strip())
    except ValueError:
        raise where.error(f"invalid date {text.strip()!r}: expected YYYY/MM/DD") from None


def _float(text: str | None, where: Node) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return check_cvss(where, float(text))
    except ValueError:
        raise where.error(f"{text.strip()!r} is not a number") from None


class NessusImporter(MultiHostImporter):
    format = ImporterFormat.NESSUS
    hosts_word = "ReportHosts"

    def load_reports(self, path: Path, label: str | None = None) -> list[ParsedReport]:
        name = label if label is not None else str(path)
        return list(self._stream(path, name))

    def parse(self, root: Node) -> ParsedReport:
        raise root.error("not a nessus report: Nessus reports are XML (.nessus), not JSON")

    def _stream(self, path: Path, name: str) -> Iterator[ParsedReport]:
        # One string object per distinct text (solutions, plugin ids, CVEs): the same
        # plugins recur on every host, and the entries of all hosts stay until assembled.
        self._texts: dict[str, str] = {}
        props: dict[str, str] = {}
        entries: list[Entry] = []
        hosts = items = 0
        parents: list[Element] = []
        for event, elem in xml_events(path, name, self.format.value):
            if event == "start":
                if not parents and elem.tag != "NessusClientData_v2":
                    raise ImporterError(
                        f"{name}: not a nessus report: root element <{elem.tag}>,"
                        " expected <NessusClientData_v2>"
                    )
                if elem.tag == "ReportHost":
                    props, entries, items = {}, [], 0
                parents.append(elem)
                continue
            parents.pop()
            parent = parents[-1] if parents else None
            if elem.tag == "tag" and elem.get("name"):
                props[elem.get("name", "")] = (elem.text or "").strip()
            elif elem.tag == "ReportItem":
                entries += self._entries(elem, f"$.ReportHost[{hosts}].ReportItem[{items}]", name)
                items += 1
                self._drop(parent, elem)
            elif elem.tag == "HostProperties":
                self._drop(parent, elem)
            elif elem.tag == "ReportHost":
                yield self._host(elem.get("name"), props, entries, f"$.ReportHost[{hosts}]", name)
                hosts += 1
                self._drop(parent, elem)
            elif elem.tag == "Policy":
                self._drop(parent, elem)  # preferences and plugin sets: large and unused
        if hosts == 0:
            raise ImporterError(f"{name}: the report has no ReportHost")

    @staticmethod
    def _drop(parent: Element | None, elem: Element) -> None:
        """Forget an element once read: detached from its parent, children released."""
        elem.clear()
        if parent is not None:
            parent.remove(elem)

    def _host(
        self, host_name: str | None, props: dict[str, str], entries: list[Entry], where: str, name: str
    ) -> ParsedReport:
        named = {
            "nessus-fqdn": props.get("host-fqdn"),
            "nessus-ip": props.get("host-ip"),
            "nessus-name": host_name,
        }
        keys = [k for k in named.values() if k]
        if not keys:
            raise ImporterError(f"{name}: {where}: no host-fqdn, host-ip or name")
        os_name = props.get("operating-system")
        return ParsedReport(
            file=name,
            format=self.format,
            host_keys=tuple(dict.fromkeys(keys)),
            entries=entries,
            scan_time=self._scan_time(props, f"{name}: {where}"),
            tool="nessus",
            host_name=props.get("host-fqdn") or host_name,
            os=None if os_name is None else OsRecord(family=props.get("os"), version=os_name),
            labels={k: v for k, v in named.items() if v},
            match_keys=tuple(dict.fromkeys(keys)),
        )

    @staticmethod
    def _scan_time(props: dict[str, str], name: str) -> datetime | None:
        stamp = props.get("HOST_END_TIMESTAMP")
        if stamp:
            try:
                return datetime.fromtimestamp(int(stamp), UTC)
            except (ValueError, OverflowError, OSError):
                raise ImporterError(f"{name}: HOST_END_TIMESTAMP {stamp!r} is not an epoch time") from None
        end = props.get("HOST_END")
        if end:
            try:
                return datetime.strptime(" ".join(end.split()), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
            except ValueError:
                raise ImporterError(f"{name}: HOST_END {end!r} is not a Nessus date") from None
        return None

    def _share(self, value: str) -> str:
        return self._texts.setdefault(value, value)

    def _entries(self, item: Element, where: str, name: str) -> list[Entry]:
        share = self._share

        def text(tag: str) -> str | None:
            value = child_text(item, tag)
            return None if value is None else share(value)

        node = Node(None, where, name)
        plugin = item.get("pluginID")
        if not plugin:
            raise node.error("ReportItem without pluginID")
        risk = text("risk_factor")
        severity = severity_word(Node(risk, f"{where}.risk_factor", name)) if risk else "unknown"
        cvss, version = _float(text("cvss3_base_score"), node), 3
        if cvss is None:
            cvss, version = _float(text("cvss_base_score"), node), 2
        plugin = share(plugin)
        prov = {"nessus_plugin": plugin}
        port = item.get("port")
        if port and port != "0":
            prov["port"] = share(f"{port}/{item.get('protocol', 'tcp')}")
        if cvss is not None:
            prov["cvss"] = share(f"nessus v{version}")
        cves = [share(c.text.strip()) for c in item.findall("cve") if c.text and c.text.strip()]
        base = Entry(
            vuln=share(f"NESSUS-{plugin}"),
            where=where,
            location=share(f"nessus-plugin:{plugin}"),
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
