"""The report of an import: counts per input file, every merge and every entry kept apart
explained, and the totals; ``ImportReport.lines()`` is the summary ``patchpolicy import``
prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.model.common import format_timestamp


@dataclass(frozen=True)
class MergeNote:
    """One entry that did not become a finding of its own, and why."""

    host: str
    finding: str
    reason: str


@dataclass
class FileReport:
    """Counts for one input file: ``entries_read == findings_written + len(merged)``."""

    file: str
    format: ImporterFormat
    host: str
    scan_time: datetime
    scan_time_source: str
    entries_read: int = 0
    findings_written: int = 0
    merged: list[MergeNote] = field(default_factory=list)
    informational: int = 0  # entries of severity none (kept, counted in the summary)
    detected: bool = False  # the format was told from the content (FORMAT omitted)
    # How this report was found to be the same host as another one of the import.
    host_match: str | None = None
    # Entries that look like another tool's finding but stay findings of their own, and why.
    kept_apart: list[MergeNote] = field(default_factory=list)
    # A standalone VEX's statements applied to another report's host (not a scan of it).
    vex: bool = False

    @property
    def tool(self) -> str:
        """Who said it, for merging: a format, or ``vex`` for statements applied to a host."""
        return "vex" if self.vex else self.format.value


@dataclass
class ImportReport:
    """What an import read and wrote; ``lines()`` is the CLI's summary."""

    output: str | None
    taken_at: datetime
    files: list[FileReport]
    hosts: int = 0
    findings: int = 0
    kev_joined: int = 0
    kev_from_scanner: int = 0
    kev_undated: int = 0
    epss_joined: int = 0
    first_seen_kept: int = 0
    reopened: int = 0
    marked_fixed: int = 0
    previous_fixed_kept: int = 0
    hosts_carried: int = 0
    hosts_inventory_only: int = 0
    hosts_matched: int = 0

    @property
    def entries_read(self) -> int:
        return sum(f.entries_read for f in self.files)

    @property
    def findings_written(self) -> int:
        return sum(f.findings_written for f in self.files)

    @property
    def merged(self) -> int:
        return sum(len(f.merged) for f in self.files)

    def lines(self) -> list[str]:
        """A human summary: one line per file, its merges, then the totals."""
        out = []
        for f in self.files:
            out.append(
                f"{f.file}: {f.format.value}{' (detected)' if f.detected else ''}: host {f.host}"
                + (f" ({f.host_match})" if f.host_match else "")
                + f": scanned {format_timestamp(f.scan_time)}"
                f" ({f.scan_time_source}): {f.entries_read} entries in, {f.findings_written} findings"
                f" out, {len(f.merged)} merged"
                + (f"; {f.informational} informational (severity none, kept)" if f.informational else "")
            )
            out += [f"  merged into {m.host} {m.finding}: {m.reason}" for m in f.merged]
            out += [f"  kept apart {m.host} {m.finding}: {m.reason}" for m in f.kept_apart]
        out.append(
            f"total: {self.entries_read} entries in, {self.findings_written} findings out,"
            f" {self.merged} merged; snapshot: {self.hosts} hosts, {self.findings} findings,"
            f" taken_at {format_timestamp(self.taken_at)}"
        )
        extras = [
            (self.kev_joined, "joined to KEV"),
            (self.kev_from_scanner, "known exploited per the scanner (Grype knownExploited): kev filled"),
            (self.kev_undated, "known exploited per the scanner without a dateAdded: kev not filled"
                               " (pass --kev with the CISA catalog)"),
            (self.epss_joined, "joined to EPSS"),
            (self.first_seen_kept, "kept first_seen_at from the previous snapshot"),
            (self.reopened, "reopened (fixed before, reported again)"),
            (self.marked_fixed, "marked fixed (absent from the new scan)"),
            (self.previous_fixed_kept, "already fixed, kept"),
            (self.hosts_carried, "hosts carried over from the previous snapshot (not re-scanned)"),
            (self.hosts_inventory_only, "inventory hosts without a scan"),
            (self.hosts_matched, "reports matched to a host another report names (same FQDN, IP, instance id or digest)"),
        ]
        out += [f"  {n} {what}" for n, what in extras if n]
        if self.output:
            out.append(f"wrote {self.output}")
        return out
