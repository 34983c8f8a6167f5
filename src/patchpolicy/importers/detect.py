"""Tell a scanner report's format from its content: JSON keys, XML root element, CSV header.

``detect_format`` is what ``patchpolicy import`` runs when FORMAT is omitted (or
``--format auto``), and what names the right format when an explicit one turns out wrong.
It never guesses between formats: a report it cannot place is None, and the caller says so.
XML is read through the same safe reader as the importers (hostile XML is refused here too).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from patchpolicy.importers._common import read_head
from patchpolicy.importers._json import load_json_documents
from patchpolicy.importers._xml import xml_events
from patchpolicy.importers.interface import ImporterFormat, sniff

XML_ROOTS = {
    "NessusClientData_v2": ImporterFormat.NESSUS,
    "ASSET_DATA_REPORT": ImporterFormat.QUALYS,
}
_HEAD = 64 * 1024
_CSV_LINES = 20  # the Qualys header row follows a short preamble


def detect_format(path: Path, label: str) -> ImporterFormat | None:
    """The format of the report at ``path`` (named ``label`` in errors), or None.

    A file that is not even valid JSON or XML raises the parser's ``ImporterError``
    (file:line:col), since no importer could read it either."""
    head, first = read_head(path, label, _HEAD, "no report to import")
    if first in (b"{", b"["):
        docs = load_json_documents(path, label)
        return sniff(docs[0])
    if first == b"<":
        for event, elem in xml_events(path, label, "XML"):
            if event == "start":
                return XML_ROOTS.get(elem.tag)
        return None
    return _csv_format(head)


def _csv_format(head: bytes) -> ImporterFormat | None:
    text = head.decode("utf-8-sig", errors="replace")
    rows = csv.reader(io.StringIO(text))
    try:
        for n, row in enumerate(rows):
            if n >= _CSV_LINES:
                break
            cells = [c.strip() for c in row]
            if n == 0 and cells[:1] == ["Asset Vuln Datalist Report"]:
                return ImporterFormat.QUALYS
            if "QID" in cells and "Status" in cells and any(c.startswith("Asset ") for c in cells):
                return ImporterFormat.QUALYS
    except csv.Error:
        return None
    return None
