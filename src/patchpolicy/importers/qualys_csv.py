"""Qualys VMDR "Asset Vuln Datalist" CSV export.

The CSV has a preamble (report name and date, company, user) before its header row; its
dates (``Feb 03, 2026 07:00 AM``) are in the timezone the preamble's date names
(``GMT-0500``), else UTC. The mapping is in ``importers/qualys.py`` and docs/importers.md.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import Node
from patchpolicy.importers._qualys import (
    CRITICALITY,
    Details,
    Detection,
    blank,
    cves_of,
    detection_entries,
    latest_of,
    plain_text,
    score_of,
    severity_of,
    status_of,
)
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, ParsedReport
from patchpolicy.model.fleet import CriticalityName, OsRecord

if TYPE_CHECKING:
    from _csv import Reader

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


class CsvReader:
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
        if blank(text):
            return None
        assert text is not None
        for fmt in ("%b %d, %Y %I:%M %p", "%b %d, %Y"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=self.zone).astimezone(UTC)
            except ValueError:
                continue
        raise self.error(line, f"column {column!r}: invalid date {text!r}: expected e.g. 'Feb 03, 2026 07:00 AM'")

    def _row(self, line: int, v: dict[str, str], hosts: dict[str, _CsvHost]) -> None:
        asset = next((v[c] for c in _ASSET_COLUMNS if not blank(v.get(c))), None)
        if asset is None:
            raise self.error(line, "no Asset Id, Asset Name, Asset IPV4 or Asset IPV6")
        host = hosts.get(asset)
        if host is None:
            host = hosts[asset] = _CsvHost(line, v, [], [])
        qid = v["QID"]
        if blank(qid):
            raise self.error(line, "no QID")
        kind = v.get("Type Detected") or None
        informational = (kind or "").strip().lower() in ("ig", "info", "information", "information gathered")
        def cell(column: str) -> Node:  # errors read ``file:line: column 'X': ...``
            return Node(v.get(column), f"column {column!r}", f"{self.name}:{line}")

        status = status_of(v["Status"], cell("Status"))
        severity = severity_of(v["Severity"], informational, cell("Severity"))
        cvss3_col = next((c for c in v if _CVSS3_COLUMN.match(c)), None)
        cvss2_col = next((c for c in v if _CVSS2_COLUMN.match(c)), None)
        cvss, version = None, 3
        if cvss3_col is not None:
            cvss = score_of(v[cvss3_col], cell(cvss3_col))
        if cvss is None and cvss2_col is not None:
            cvss, version = score_of(v[cvss2_col], cell(cvss2_col)), 2
        last_fixed = self._date(v, "Last Fixed", line)
        last_found = self._date(v, "Last Detected", line)
        port, proto = v.get("Port", ""), v.get("Protocol", "")
        prov: dict[str, str] = {}
        for column, key in (("Disabled", "qualys_disabled"), ("Ignored", "qualys_ignored")):
            if v.get(column, "").lower() == "yes":
                prov[key] = "yes"
        detection = Detection(
            qid=qid,
            where=f"line {line}",
            informational=informational,
            kind=kind,
            status=status,
            first_found=self._date(v, "First Detected", line),
            last_found=last_found,
            last_fixed=last_fixed,
            port=None if blank(port) or port == "0" else f"{port}/{(proto if not blank(proto) else 'tcp').lower()}",
            provenance=prov,
            first_source="First Detected",
        )
        details = Details(
            severity=v["Severity"],
            cves=tuple(cves_of(v.get("CVE"))),
            solution=plain_text(v.get("Solution")),
            cvss=cvss,
            cvss_version=version,
            published_at=self._date(v, "Published Date", line),
            fix_released_at=self._date(v, "Patch Released", line),
        )
        host.entries += detection_entries(detection, details, severity, "nvd" if cvss3_col or cvss2_col else "qualys")
        for t in v.get("Asset Tags", "").split(","):
            if t.strip() and t.strip() not in host.tags:
                host.tags.append(t.strip())
        host.latest = latest_of(host.latest, last_found, last_fixed)

    def _report(self, h: _CsvHost) -> ParsedReport:
        v = h.values
        keys: dict[str, str] = {}
        if not blank(v.get("Asset Name")):
            keys["qualys-asset-name"] = v["Asset Name"]
        for column, label in (("Asset IPV4", "qualys-ipv4"), ("Asset IPV6", "qualys-ipv6")):
            if not blank(v.get(column)):
                keys[label] = v[column]
        if not blank(v.get("Asset Id")):
            keys["qualys-asset-id"] = v["Asset Id"]
        host_keys = [
            k for label, text in keys.items()
            for k in (text.split(",") if label in ("qualys-ipv4", "qualys-ipv6") else [text])
            if k.strip()
        ]
        labels = dict(keys)
        criticality: CriticalityName | None = None
        score = v.get("Asset Critical Score", "")
        if not blank(score):
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
            host_name=None if blank(v.get("Asset Name")) else v["Asset Name"],
            os=None if blank(os_name) else OsRecord(version=os_name),
            tags=tuple(h.tags),
            labels=labels,
            criticality=criticality,
            # The addresses meet other scanners' hosts (the asset name is free text).
            match_keys=tuple(dict.fromkeys(
                a.strip() for label in ("qualys-ipv4", "qualys-ipv6") for a in keys.get(label, "").split(",")
                if a.strip()
            )),
        )
