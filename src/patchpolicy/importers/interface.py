"""The importer extension point: one scanner format in, one ``ParsedReport`` out.

Each format is a module with an ``Importer`` subclass; ``ImporterFormat`` is the closed set
of built-in formats and ``get_importer`` its exhaustive factory. An importer only maps
one report's vocabulary onto patchpolicy's (``Entry``); merging, ids, enrichment and
history are the job of ``patchpolicy.importers.assemble``, identical for every format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, assert_never

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import Node, load_json
from patchpolicy.model.fleet import KevRecord, OsRecord, PackageRecord, SeverityName, StatusName


class ImporterFormat(StrEnum):
    """Scanner report formats ``patchpolicy import`` reads."""

    TRIVY = "trivy"
    GRYPE = "grype"
    OSV_SCANNER = "osv-scanner"
    CYCLONEDX = "cyclonedx"
    NESSUS = "nessus"
    AWS_INSPECTOR2 = "aws-inspector2"
    QUALYS = "qualys"


@dataclass(slots=True)  # slots: a large server scan keeps millions until assembled
class Entry:
    """One vulnerability entry of a report (one vuln on one package), already normalised.

    ``where`` is the entry's JSON path, used in merge explanations; ``location`` is where
    the package was found (lock file, package database, BOM ref) and only disambiguates
    finding ids. Fields a format lacks stay None.
    """

    vuln: str
    where: str
    aliases: tuple[str, ...] = ()
    package: PackageRecord | None = None
    location: str | None = None
    fixed_version: str | None = None
    patch: str | None = None
    severity: SeverityName = "unknown"
    cvss: float | None = None
    cvss_source: str | None = None
    epss: float | None = None
    epss_percentile: float | None = None
    published_at: datetime | None = None
    fix_released_at: datetime | None = None
    status: StatusName = "open"
    status_reason: str | None = None
    fixed_at: datetime | None = None
    # When the scanner itself first saw the entry (Inspector firstObservedAt); None: the
    # scan time. ``first_seen_at_source`` names the report field, for provenance.
    first_seen_at: datetime | None = None
    first_seen_at_source: str | None = None
    # What the scanner itself says of CISA KEV (Grype's knownExploited); a --kev catalog
    # given to the import wins over it.
    kev: KevRecord | None = None
    provenance: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedReport:
    """What one report says: the scanned artifact, when, by which tool, and its entries.

    ``host_keys`` are every name the report gives its artifact (artifact name, image
    reference, digests, source path), most specific first; ``host_keys[0]`` is the
    default host id, and an inventory may map any of them to a host.
    """

    file: str
    format: ImporterFormat
    host_keys: tuple[str, ...]
    entries: list[Entry]
    scan_time: datetime | None = None
    tool: str | None = None
    tool_version: str | None = None
    host_name: str | None = None
    os: OsRecord | None = None
    # Host attributes a server scanner knows (asset tags, labels, criticality); an
    # inventory or the previous snapshot, when given, wins over them.
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    criticality: str | None = None
    # Names that identify the machine or the image whatever the scanner (FQDN, IP address,
    # cloud instance id, image digest), unlike a file path or a tag: reports of one import
    # that share one of them (or the host id) are one host. See ``assemble``.
    match_keys: tuple[str, ...] = ()
    # An SBOM's components (with a purl): what a VEX statement of the same import may name.
    components: tuple[PackageRecord, ...] = ()
    # A standalone VEX (statements about another BOM's components, none of its own): its
    # entries are applied to the reports they name (BOM-Link serial, else purl).
    vex_only: bool = False

    @property
    def host_id(self) -> str:
        return self.host_keys[0]


class Importer(ABC):
    """Reads one scanner format. Subclasses implement ``parse``; they never write files."""

    format: ClassVar[ImporterFormat]

    def load_reports(self, path: Path, label: str | None = None) -> list[ParsedReport]:
        """Every host the file at ``path`` reports on, one ``ParsedReport`` each, in file
        order. Formats with one artifact per file (the container scanners) return one;
        server scanners (Nessus, Qualys, Inspector) override this to return many."""
        return [self.load(path, label)]

    def load(self, path: Path, label: str | None = None) -> ParsedReport:
        """Parse the report at ``path``; every problem is an ``ImporterError`` naming
        ``label`` (default: the path as given) and the JSON path."""
        name = label if label is not None else str(path)
        return self.parse(load_json(path, name))

    @abstractmethod
    def parse(self, root: Node) -> ParsedReport:
        """Map a parsed document onto a ``ParsedReport``.

        Raises ``ImporterError`` when the document is not this format (naming the format
        it looks like, if any) or when a value cannot be mapped exactly (an unknown
        severity is an error, never "unknown").
        """


def get_importer(fmt: ImporterFormat) -> Importer:
    """The importer for ``fmt``; adding a member without a branch fails type checking."""
    # Imported here: the format modules import this module.
    from patchpolicy.importers import cyclonedx, grype, nessus, osv, trivy

    if fmt is ImporterFormat.TRIVY:
        return trivy.TrivyImporter()
    if fmt is ImporterFormat.GRYPE:
        return grype.GrypeImporter()
    if fmt is ImporterFormat.OSV_SCANNER:
        return osv.OsvScannerImporter()
    if fmt is ImporterFormat.CYCLONEDX:
        return cyclonedx.CycloneDxImporter()
    if fmt is ImporterFormat.NESSUS:
        return nessus.NessusImporter()
    if fmt is ImporterFormat.AWS_INSPECTOR2:
        from patchpolicy.importers import inspector

        return inspector.InspectorImporter()
    if fmt is ImporterFormat.QUALYS:
        from patchpolicy.importers import qualys

        return qualys.QualysImporter()
    assert_never(fmt)


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


class MultiHostImporter(Importer):
    """An importer of files that report on many hosts (Nessus, Qualys): ``load_reports`` is
    its own, ``load`` is the one-host case of it."""

    #: What the format calls one host, for ``load``'s error (``ReportHosts``).
    hosts_word: ClassVar[str] = "hosts"

    @abstractmethod
    def load_reports(self, path: Path, label: str | None = None) -> list[ParsedReport]:
        """Every host the file reports on, in file order."""

    def load(self, path: Path, label: str | None = None) -> ParsedReport:
        """The report of a single-host file (``load_reports`` reads any number)."""
        name = label if label is not None else str(path)
        reports = self.load_reports(path, label)
        if len(reports) != 1:
            raise ImporterError(f"{name}: {len(reports)} {self.hosts_word}: read it with load_reports")
        return reports[0]
