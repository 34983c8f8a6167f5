"""Qualys VM reports: the ``ASSET_DATA_REPORT`` XML and the VMDR "Asset Vuln Datalist" CSV.

Mapping (docs/importers.md has the tables): one host per ``HOST`` (XML) or per asset (CSV
rows grouped by Asset Id); one entry per (QID, CVE) detection, or ``QUALYS-<qid>`` when the
QID names no CVE. Status ACTIVE / NEW / REOPENED -> open, FIXED -> fixed (``fixed_at`` =
Last Fixed); FIRST_FOUND / First Detected -> ``first_seen_at``; Patch Released ->
``fix_released_at``; severity 5 critical, 4 high, 3 medium, 2 and 1 low, and an
information-gathered detection (type ``Ig``) is ``none`` whatever its severity. A host's
scan time is the latest time Qualys looked at it: its latest LAST_FOUND / Last Detected or
Last Fixed, else the report's generation time.

The readers: ``qualys_xml`` streams the XML (untrusted: no entity, no DTD fetched; the
glossary after the hosts is joined at the end), ``qualys_csv`` reads the CSV (its preamble
names the timezone of its dates); ``_qualys`` holds what both share.
"""

from __future__ import annotations

from pathlib import Path

from patchpolicy.errors import ImporterError
from patchpolicy.importers._common import read_head
from patchpolicy.importers._json import Node
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import MultiHostImporter, ParsedReport
from patchpolicy.importers.qualys_csv import CsvReader
from patchpolicy.importers.qualys_xml import XmlReader


class QualysImporter(MultiHostImporter):
    format = ImporterFormat.QUALYS

    def load_reports(self, path: Path, label: str | None = None) -> list[ParsedReport]:
        name = label if label is not None else str(path)
        _, first = read_head(path, name, 4096, "expected a qualys XML or CSV report")
        if first in (b"{", b"["):
            raise ImporterError(f"{name}: not a qualys report: it is JSON (qualys reports are XML or CSV)")
        if first == b"<":
            return XmlReader(name).read(path)
        return CsvReader(name).read(path)

    def parse(self, root: Node) -> ParsedReport:
        raise root.error("not a qualys report: Qualys reports are XML or CSV, not JSON")
