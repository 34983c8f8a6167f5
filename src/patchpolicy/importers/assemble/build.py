"""The import itself: read every input, apply VEX, match hosts, merge and enrich each
host's findings, apply the previous snapshot, and write the snapshot atomically."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from patchpolicy.errors import ImporterError
from patchpolicy.importers.assemble.enrich import Enrichment
from patchpolicy.importers.assemble.grouping import Item
from patchpolicy.importers.assemble.history import apply_previous
from patchpolicy.importers.assemble.hosts import host_record, match_hosts
from patchpolicy.importers.assemble.merging import host_findings
from patchpolicy.importers.assemble.report import FileReport, ImportReport
from patchpolicy.importers.assemble.vex import apply_vex
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.intel import load_epss, load_kev
from patchpolicy.importers.interface import ParsedReport
from patchpolicy.importers.inventory import Inventory, load_inventory
from patchpolicy.importers.sources import is_stdin, read_reports
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import HostRecord, SnapshotHeader, SourceRecord
from patchpolicy.snapshot import no_gc, open_snapshot, write_snapshot


@dataclass(frozen=True)
class Snapshot:
    """A built snapshot, not yet written: the header and the hosts in output order."""

    header: SnapshotHeader
    hosts: tuple[HostRecord, ...]


def build_snapshot(
    inputs: Sequence[tuple[ImporterFormat | None, Path]],
    *,
    inventory: Path | None = None,
    kev: Path | None = None,
    epss: Path | None = None,
    previous: Path | None = None,
    scan_time: datetime | None = None,
    taken_at: datetime | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> tuple[Snapshot, ImportReport]:
    """Read every input and build the snapshot; nothing is written. An input's format None
    is detected from its content; the path ``-`` is standard input. Raises ``InputError``
    subclasses (``ImporterError``, ``ValidationError``, ``SnapshotError``) on bad input.
    ``on_file`` is called with each input once it is read (the CLI's progress bar)."""
    with no_gc():
        return _build(inputs, inventory, kev, epss, previous, scan_time, taken_at, on_file)


def _file_mtime(path: Path, name: str) -> datetime:
    """The file's modification time, to the second, in UTC."""
    if is_stdin(path):
        raise ImporterError(f"{name}: the report has no scan time and standard input has no"
                            " modification time: pass --scan-time")
    try:
        return datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    except (OSError, OverflowError, ValueError) as e:
        raise ImporterError(
            f"{name}: the report has no scan time and its modification time cannot be read"
            f" ({e}): pass --scan-time"
        ) from e



def _scan_times(frs: list[FileReport]) -> list[datetime]:
    """The scans' times; a VEX applied to a host is a statement, not a scan of it, and
    counts only where nothing else says when the host was scanned."""
    scans = [fr.scan_time for fr in frs if not fr.vex]
    return scans or [fr.scan_time for fr in frs]



def _build(
    inputs: Sequence[tuple[ImporterFormat | None, Path]],
    inventory: Path | None,
    kev: Path | None,
    epss: Path | None,
    previous: Path | None,
    scan_time: datetime | None,
    taken_at: datetime | None,
    on_file: Callable[[Path], None] | None = None,
) -> tuple[Snapshot, ImportReport]:
    if not inputs:
        raise ImporterError("no scanner reports given")
    inv: Inventory | None = load_inventory(inventory) if inventory is not None else None
    intel = Enrichment(
        kev=load_kev(kev) if kev is not None else None,
        epss=load_epss(epss) if epss is not None else None,
    )
    prev_hosts: dict[str, HostRecord] = {}
    if previous is not None:
        prev_hosts = {h.id: h for h in open_snapshot(previous).hosts()}

    parsed = _read_inputs(inputs, inv, scan_time, on_file)
    parsed = apply_vex(parsed)
    latest = max(_scan_times([fr for _, fr in parsed]))
    if taken_at is not None and taken_at < latest:
        raise ImporterError(
            f"--taken-at {format_timestamp(taken_at)} is before the latest scan"
            f" ({format_timestamp(latest)})"
        )
    report = ImportReport(output=None, taken_at=taken_at or latest, files=[fr for _, fr in parsed])

    report.hosts_matched = match_hosts(parsed, inv)
    hosts = _scanned_hosts(parsed, inv, intel, prev_hosts, report)
    _add_unscanned(hosts, inv, prev_hosts, report)
    ordered = tuple(hosts[k] for k in sorted(hosts))
    report.hosts = len(ordered)
    report.findings = sum(len(h.findings) for h in ordered)
    header = _header(parsed, report.taken_at)
    return Snapshot(header, ordered), report


def _read_inputs(
    inputs: Sequence[tuple[ImporterFormat | None, Path]],
    inv: Inventory | None,
    scan_time: datetime | None,
    on_file: Callable[[Path], None] | None,
) -> list[tuple[ParsedReport, FileReport]]:
    """Every report of every input, with its ``FileReport`` (host id, scan time and its source)."""
    parsed: list[tuple[ParsedReport, FileReport]] = []
    for wanted, path in inputs:
        read = read_reports(wanted, path)  # None: detected from the content
        if on_file is not None:
            on_file(path)
        fmt = read.format
        for rep in read.reports:
            if rep.scan_time is not None:
                when, source = rep.scan_time, "report"
            elif scan_time is not None:
                when, source = scan_time, "--scan-time"
            else:
                # The report says nothing: the file's modification time is the best witness
                # of when the scan ran, and every finding says it was used.
                when, source = _file_mtime(path, rep.file), "file_mtime"
                for e in rep.entries:
                    e.provenance["scan_time"] = "file_mtime"
            inv_host = inv.lookup(rep.host_keys) if inv is not None else None
            host_id = inv_host.id if inv_host is not None else rep.host_id
            fr = FileReport(
                rep.file, fmt, host_id, when, source, entries_read=len(rep.entries),
                informational=sum(1 for e in rep.entries if e.severity == "none"),
                detected=read.detected,
            )
            parsed.append((rep, fr))

    if not parsed:
        names = ", ".join(str(path) for _, path in inputs)
        raise ImporterError(
            f"{names}: the reports name no host (no resource, no finding): nothing to import;"
            " a snapshot made of them would judge nothing"
        )
    return parsed


def _scanned_hosts(
    parsed: list[tuple[ParsedReport, FileReport]],
    inv: Inventory | None,
    intel: Enrichment,
    prev_hosts: dict[str, HostRecord],
    report: ImportReport,
) -> dict[str, HostRecord]:
    """The record of each host the reports name: findings merged, enriched, then the
    previous snapshot's history applied."""
    by_host: dict[str, list[tuple[ParsedReport, FileReport]]] = {}
    for rep, fr in parsed:
        by_host.setdefault(fr.host, []).append((rep, fr))
    hosts: dict[str, HostRecord] = {}
    order = 0
    for host_id, reps in by_host.items():
        items = []
        for rep, fr in reps:
            for e in rep.entries:
                items.append(Item(e, fr, fr.scan_time, order))
                order += 1
        last_scan = max(_scan_times([fr for _, fr in reps]))
        findings = host_findings(host_id, items, intel, report)
        prev = prev_hosts.get(host_id)
        if prev is not None:
            findings = apply_previous(host_id, findings, prev, last_scan, report)
        inv_host = inv.get(host_id) if inv is not None else None
        hosts[host_id] = host_record(host_id, inv_host, prev, [r for r, _ in reps], last_scan, findings)
    return hosts


def _add_unscanned(
    hosts: dict[str, HostRecord],
    inv: Inventory | None,
    prev_hosts: dict[str, HostRecord],
    report: ImportReport,
) -> None:
    """Hosts no report scanned: the previous snapshot's, carried over (inventory attributes
    refreshed), and the inventory's hosts without a scan."""
    for host_id, prev in prev_hosts.items():
        if host_id in hosts:
            continue
        report.hosts_carried += 1
        inv_host = inv.get(host_id) if inv is not None else None
        if inv_host is None:
            hosts[host_id] = prev
        else:
            hosts[host_id] = host_record(host_id, inv_host, prev, [], prev.last_scan, prev.findings)
    if inv is not None:
        for h in inv.hosts:
            if h.id not in hosts:
                report.hosts_inventory_only += 1
                hosts[h.id] = host_record(h.id, h, None, [], None, ())


def _header(parsed: list[tuple[ParsedReport, FileReport]], taken_at: datetime) -> SnapshotHeader:
    """The snapshot header: the tools that wrote the reports (a version only for one tool)."""
    tools = sorted({rep.tool or rep.format.value for rep, _ in parsed})
    versions = {rep.tool_version for rep, _ in parsed}
    header = SnapshotHeader(
        apiVersion="patchpolicy/v1",
        kind="FleetSnapshot",
        taken_at=taken_at,
        source=SourceRecord(
            tool="+".join(tools),
            version=versions.pop() if len(tools) == 1 and len(versions) == 1 else None,
        ),
    )
    return header


def run_import(
    inputs: Sequence[tuple[ImporterFormat | None, Path]],
    output: Path,
    *,
    inventory: Path | None = None,
    kev: Path | None = None,
    epss: Path | None = None,
    previous: Path | None = None,
    scan_time: datetime | None = None,
    taken_at: datetime | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> ImportReport:
    """Import scanner reports into the snapshot at ``output`` (``.jsonl`` streams JSON
    Lines; ``-``: JSON Lines on standard output); the file is written atomically, and only
    when every input was read."""
    snap, report = build_snapshot(
        inputs,
        inventory=inventory,
        kev=kev,
        epss=epss,
        previous=previous,
        scan_time=scan_time,
        taken_at=taken_at,
        on_file=on_file,
    )
    with no_gc():
        write_snapshot(output, snap.header, snap.hosts)
    report.output = "<stdout>" if str(output) == "-" else str(output)
    return report
