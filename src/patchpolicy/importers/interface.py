"""The importer extension point: one scanner format in, one ``ParsedReport`` out.

Each format is a module with an ``Importer`` subclass; ``ImporterFormat`` (``formats``) is
the closed set of built-in formats and ``registry.get_importer`` its exhaustive factory;
this module imports no implementation. An importer only maps one report's vocabulary onto
patchpolicy's (``Entry``); merging, ids, enrichment and history are the job of
``patchpolicy.importers.assemble``, identical for every format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import Node, load_json
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.model.fleet import KevRecord, OsRecord, PackageRecord, SeverityName, StatusName


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
