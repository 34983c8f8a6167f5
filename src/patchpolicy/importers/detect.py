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
from patchpolicy.importers._json import Node, load_json_documents
from patchpolicy.importers._xml import xml_events
from patchpolicy.importers.formats import ImporterFormat

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


def sniff(root: Node) -> ImporterFormat | None:
    """Guess a document's format from its top-level keys (for error hints only)."""
    value = root.value
    if not isinstance(value, dict):
        return None
    if value.get("bomFormat") == "CycloneDX":
        return ImporterFormat.CYCLONEDX
    if "SchemaVersion" in value and ("Results" in value or "ArtifactName" in value):
        return ImporterFormat.TRIVY
    if "matches" in value and ("descriptor" in value or "source" in value):
        return ImporterFormat.GRYPE
    if isinstance(value.get("results"), list) and (
        not value["results"] or isinstance(value["results"][0], dict) and "packages" in value["results"][0]
    ):
        return ImporterFormat.OSV_SCANNER
    findings = value.get("findings")
    if isinstance(findings, list) and (
        not findings or isinstance(findings[0], dict) and ("findingArn" in findings[0] or "awsAccountId" in findings[0])
    ):
        return ImporterFormat.AWS_INSPECTOR2
    return None


_SARIF_JSON_FLAG = {"trivy": "--format json", "grype": "-o json"}


def sarif_tool(root: Node) -> str | None:
    """The tool that wrote a SARIF log (``runs[0].tool.driver.name``), "" when unnamed;
    None when the document is not SARIF."""
    value = root.value
    if not isinstance(value, dict) or not isinstance(value.get("runs"), list):
        return None
    schema = value.get("$schema")
    if not (isinstance(schema, str) and "sarif" in schema.lower()) and value.get("version") != "2.1.0":
        return None
    runs = value["runs"]
    driver = runs[0].get("tool", {}).get("driver", {}) if runs and isinstance(runs[0], dict) else {}
    name = driver.get("name") if isinstance(driver, dict) else None
    return name if isinstance(name, str) else ""


def sarif_error(root: Node, tool: str, expected: ImporterFormat | None = None) -> Exception:
    """The refusal of a SARIF log (``tool`` from ``sarif_tool``), with the way to the JSON."""
    # SARIF holds rule ids and messages, not packages and versions: refused, with the way out.
    flag = _SARIF_JSON_FLAG.get(tool.lower())
    how = f"run `{tool.lower()} {flag}` and import that" if flag else "import the scanner's own JSON report instead"
    head = f"not a {expected.value} report: " if expected is not None else ""
    return root.error(
        f"{head}this is a SARIF log" + (f" written by {tool}" if tool else "")
        + f"; SARIF has no package versions or fix data to import: {how}"
    )


def wrong_format(root: Node, expected: ImporterFormat, missing: str) -> Exception:
    """The error for a document that is not ``expected``: says what it looks like."""
    tool = sarif_tool(root)
    if tool is not None:
        return sarif_error(root, tool, expected)
    guess = sniff(root)
    hint = ""
    if guess is not None and guess is not expected:
        hint = f"; it looks like a {guess.value} report (use: import {guess.value} ...)"
    return root.error(f"not a {expected.value} report: {missing}{hint}")
