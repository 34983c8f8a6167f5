"""Turn parsed scanner reports into one deterministic FleetSnapshot.

The contract (the same for every format):

* every report becomes a host, named by an inventory row that lists one of the report's
  names, else by the report's own first name; reports naming the same host merge;
* every entry becomes a finding, or is merged into one, counted and explained: the same
  vulnerability (by id or alias) on the same package (name, version, location, purl) in
  one host. The finding keeps a CVE id where one of the merged entries has it;
* finding id = ``<vuln>/<package name>``, with ``@version``, ``#location`` (or both, then
  the purl) added only where two findings of one host would otherwise share an id;
* ``first_seen_at`` = the scanner's own first-observed time where the format has one
  (Inspector ``firstObservedAt``), else the scan time (report timestamp, else
  ``--scan-time``; never the wall clock), or the previous snapshot's value for the same
  (host, finding id);
  findings of a re-scanned host that the new scan no longer reports become ``fixed`` at
  the new scan time; hosts not re-scanned are carried over unchanged;
* KEV and EPSS join by vuln id, then aliases;
* hosts sorted by id, findings by id: the same inputs give the same bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from patchpolicy.errors import ImporterError
from patchpolicy.importers._common import FIX_STATE_WONT_FIX
from patchpolicy.importers.intel import EpssScores, KevCatalog, load_epss, load_kev
from patchpolicy.importers.interface import Entry, ImporterFormat, ParsedReport
from patchpolicy.importers.inventory import Inventory, InventoryHost, load_inventory
from patchpolicy.importers.sources import is_stdin, read_reports
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import (
    FindingRecord,
    HostRecord,
    PackageRecord,
    SnapshotHeader,
    SourceRecord,
)
from patchpolicy.snapshot import no_gc, open_snapshot, write_snapshot

# ---------------------------------------------------------------- the report of an import


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


@dataclass
class ImportReport:
    """What an import read and wrote; ``lines()`` is the CLI's summary."""

    output: str | None
    taken_at: datetime
    files: list[FileReport]
    hosts: int = 0
    findings: int = 0
    kev_joined: int = 0
    epss_joined: int = 0
    first_seen_kept: int = 0
    reopened: int = 0
    marked_fixed: int = 0
    previous_fixed_kept: int = 0
    hosts_carried: int = 0
    hosts_inventory_only: int = 0

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
                f"{f.file}: {f.format.value}{' (detected)' if f.detected else ''}: host {f.host}: scanned {format_timestamp(f.scan_time)}"
                f" ({f.scan_time_source}): {f.entries_read} entries in, {f.findings_written} findings"
                f" out, {len(f.merged)} merged"
                + (f"; {f.informational} informational (severity none, kept)" if f.informational else "")
            )
            out += [f"  merged into {m.host} {m.finding}: {m.reason}" for m in f.merged]
        out.append(
            f"total: {self.entries_read} entries in, {self.findings_written} findings out,"
            f" {self.merged} merged; snapshot: {self.hosts} hosts, {self.findings} findings,"
            f" taken_at {format_timestamp(self.taken_at)}"
        )
        extras = [
            (self.kev_joined, "joined to KEV"),
            (self.epss_joined, "joined to EPSS"),
            (self.first_seen_kept, "kept first_seen_at from the previous snapshot"),
            (self.reopened, "reopened (fixed before, reported again)"),
            (self.marked_fixed, "marked fixed (absent from the new scan)"),
            (self.previous_fixed_kept, "already fixed, kept"),
            (self.hosts_carried, "hosts carried over from the previous snapshot (not re-scanned)"),
            (self.hosts_inventory_only, "inventory hosts without a scan"),
        ]
        out += [f"  {n} {what}" for n, what in extras if n]
        if self.output:
            out.append(f"wrote {self.output}")
        return out


# ---------------------------------------------------------------- merging


_Identity = tuple[str | None, str | None, str | None, str | None]


@dataclass
class _Item:
    entry: Entry
    file: FileReport
    scan_time: datetime
    order: int

    @property
    def identity(self) -> _Identity:
        p = self.entry.package
        if p is None:
            return (None, None, self.entry.location, None)
        return (p.name, p.version, self.entry.location, p.purl)

    @property
    def ids(self) -> set[str]:
        return {self.entry.vuln, *self.entry.aliases}


def _groups(items: list[_Item]) -> list[list[_Item]]:
    """Items of one host grouped into findings: same identity and an id or alias in common."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    seen: dict[tuple[_Identity, str], int] = {}
    for i, item in enumerate(items):
        for vid in sorted(item.ids):
            j = seen.setdefault((item.identity, vid), i)
            if j != i:
                parent[find(i)] = find(j)
    groups: dict[int, list[_Item]] = {}
    for i, item in enumerate(items):
        groups.setdefault(find(i), []).append(item)
    return sorted(groups.values(), key=lambda g: g[0].order)


def _describe(p: PackageRecord | None) -> str:
    if p is None:
        return "the artifact"
    return f"{p.name}@{p.version}" if p.version else p.name


def _merge(group: list[_Item]) -> tuple[_Item, Entry, datetime]:
    """(primary item, merged entry, first seen): the primary is the first CVE-named item."""
    primary = next((it for it in group if it.entry.vuln.startswith("CVE-")), group[0])
    e = primary.entry
    merged = dataclasses.replace(e, provenance=dict(e.provenance))
    aliases = set(e.aliases)
    for it in group:
        if it is primary:
            continue
        o = it.entry
        aliases |= it.ids
        for name in ("patch", "published_at", "fix_released_at"):
            if getattr(merged, name) is None and getattr(o, name) is not None:
                setattr(merged, name, getattr(o, name))
        # A vendor's "won't fix" stands; otherwise another source's fix fills the gap.
        wont_fix = merged.provenance.get("fix_state") == FIX_STATE_WONT_FIX
        if merged.fixed_version is None and o.fixed_version is not None and not wont_fix:
            merged.fixed_version = o.fixed_version
            merged.provenance["fix_state"] = o.provenance.get("fix_state", "fixed")
            merged.provenance["fixed_version"] = f"from {o.vuln}"
        if merged.cvss is None and o.cvss is not None:
            merged.cvss, merged.cvss_source = o.cvss, o.cvss_source
            if "cvss" in o.provenance:
                merged.provenance["cvss"] = o.provenance["cvss"] + f" (from {o.vuln})"
        if merged.severity == "unknown" and o.severity != "unknown":
            merged.severity = o.severity
            merged.provenance["severity"] = o.provenance.get("severity", "") + f" (from {o.vuln})"
        if merged.epss is None and o.epss is not None:
            merged.epss, merged.epss_percentile = o.epss, o.epss_percentile
        # A VEX statement about the same package decides the status.
        if "vex_state" in o.provenance and "vex_state" not in merged.provenance:
            merged.status, merged.status_reason, merged.fixed_at = o.status, o.status_reason, o.fixed_at
        for k, v in o.provenance.items():
            merged.provenance.setdefault(k, v)
    reported = [it.entry.first_seen_at for it in group if it.entry.first_seen_at is not None]
    merged.first_seen_at = min(reported, default=None)
    merged.aliases = tuple(sorted(aliases - {merged.vuln}))
    if len(group) > 1:
        merged.provenance["merged_entries"] = str(len(group))
    # First seen: the scanner's own first-observed time where it gives one, else the scan.
    first_seen, merged.first_seen_at_source = min(
        (it.entry.first_seen_at, it.entry.first_seen_at_source or "report")
        if it.entry.first_seen_at is not None
        else (it.scan_time, "scan_time")
        for it in group
    )
    return primary, merged, first_seen


def _id_suffixes(idents: list[_Identity]) -> list[str]:
    """The shortest deterministic suffixes that make one base id unique per identity."""
    if len(idents) == 1:
        return [""]
    options: tuple[Callable[[_Identity], str], ...] = (
        lambda i: f"@{i[1] or '-'}",
        lambda i: f"#{i[2] or '-'}",
        lambda i: f"@{i[1] or '-'}#{i[2] or '-'}",
        lambda i: f"@{i[1] or '-'}#{i[2] or '-'}#{i[3] or '-'}",
    )
    for option in options:
        out = [option(i) for i in idents]
        if len(set(out)) == len(out):
            return out
    rank = {repr(i): n for n, i in enumerate(sorted(idents, key=repr), start=1)}
    return [f"#{rank[repr(i)]}" for i in idents]


@dataclass
class _Enrichment:
    kev: KevCatalog | None
    epss: EpssScores | None


def _host_findings(
    host_id: str, items: list[_Item], intel: _Enrichment, report: ImportReport
) -> list[FindingRecord]:
    merged = [_merge(g) + (g,) for g in _groups(items)]
    by_base: dict[str, list[int]] = {}
    for n, (_, e, _, _) in enumerate(merged):
        base = f"{e.vuln}/{e.package.name}" if e.package is not None else e.vuln
        by_base.setdefault(base, []).append(n)
    ids: dict[int, str] = {}
    for base, members in by_base.items():
        suffixes = _id_suffixes([merged[n][0].identity for n in members])
        for n, suffix in zip(members, suffixes, strict=True):
            ids[n] = base + suffix
    out = []
    for n, (primary, e, first_seen, group) in enumerate(merged):
        fid = ids[n]
        primary.file.findings_written += 1
        for it in group:
            if it is primary:
                continue
            pkg = _describe(it.entry.package)
            if it.entry.vuln == primary.entry.vuln:
                reason = (
                    f"duplicate: {it.entry.vuln} on {pkg} at {it.file.file} {it.entry.where}"
                    f" repeats {primary.file.file} {primary.entry.where}"
                )
            else:
                reason = (
                    f"alias: {it.entry.vuln} ({it.file.file} {it.entry.where}) is the same"
                    f" vulnerability as {primary.entry.vuln} on {pkg}"
                )
            it.file.merged.append(MergeNote(host_id, fid, reason))
        out.append(_finding(fid, e, first_seen, primary.scan_time, intel, report))
    return out


def _finding(
    fid: str, e: Entry, first_seen: datetime, scan_time: datetime, intel: _Enrichment, report: ImportReport
) -> FindingRecord:
    prov = dict(e.provenance)
    prov["first_seen_at"] = e.first_seen_at_source or "scan_time"
    fixed_at = e.fixed_at
    if e.status == "fixed" and fixed_at is None:
        fixed_at = scan_time
        prov["fixed_at"] = "scan_time"
    lookup_ids = [e.vuln, *e.aliases]
    kev = None
    if intel.kev is not None:
        hit = intel.kev.lookup(lookup_ids)
        if hit is not None:
            kev = hit[1]
            prov["kev"] = f"cisa-kev {intel.kev.version}" + (f" via {hit[0]}" if hit[0] != e.vuln else "")
            report.kev_joined += 1
    epss, pct = e.epss, e.epss_percentile
    if intel.epss is not None:
        ehit = intel.epss.lookup(lookup_ids)
        if ehit is not None:
            _, epss, pct = ehit
            prov["epss"] = intel.epss.provenance + (f" via {ehit[0]}" if ehit[0] != e.vuln else "")
            report.epss_joined += 1
    return FindingRecord(
        id=fid,
        vuln=e.vuln,
        aliases=e.aliases,
        package=e.package,
        fixed_version=e.fixed_version,
        patch=e.patch,
        severity=e.severity,
        cvss=e.cvss,
        cvss_source=e.cvss_source,
        epss=epss,
        epss_percentile=pct,
        kev=kev,
        published_at=e.published_at,
        fix_released_at=e.fix_released_at,
        first_seen_at=first_seen,
        status=e.status,
        status_reason=e.status_reason,
        fixed_at=fixed_at,
        provenance=dict(sorted(prov.items())),
    )


# ---------------------------------------------------------------- history


def _apply_previous(
    host_id: str,
    findings: list[FindingRecord],
    prev: HostRecord,
    scan_time: datetime,
    report: ImportReport,
) -> list[FindingRecord]:
    if prev.last_scan is not None and scan_time < prev.last_scan:
        raise ImporterError(
            f"host {host_id!r}: the new scan ({format_timestamp(scan_time)}) is older than the"
            f" previous snapshot's last scan ({format_timestamp(prev.last_scan)}): import scans"
            " in order"
        )
    old = {f.id: f for f in prev.findings}
    out = []
    for f in findings:
        p = old.pop(f.id, None)
        if p is None:
            out.append(f)
        elif p.status == "fixed":
            prov = dict(f.provenance)
            prov["reopened"] = f"fixed at {format_timestamp(p.fixed_at)}" if p.fixed_at else "fixed"
            report.reopened += 1
            out.append(msgspec.structs.replace(f, provenance=dict(sorted(prov.items()))))
        elif p.first_seen_at is not None and f.first_seen_at is not None and p.first_seen_at <= f.first_seen_at:
            prov = dict(f.provenance)
            prov["first_seen_at"] = "previous"
            report.first_seen_kept += 1
            out.append(
                msgspec.structs.replace(f, first_seen_at=p.first_seen_at, provenance=dict(sorted(prov.items())))
            )
        else:
            out.append(f)
    for p in old.values():
        if p.status == "fixed":
            report.previous_fixed_kept += 1
            out.append(p)
            continue
        prov = dict(p.provenance)
        prov["fixed_at"] = "absent_from_scan"
        report.marked_fixed += 1
        out.append(
            msgspec.structs.replace(
                p,
                status="fixed",
                status_reason="absent from scan",
                fixed_at=scan_time,
                provenance=dict(sorted(prov.items())),
            )
        )
    return out


# ---------------------------------------------------------------- hosts


def _host_record(
    host_id: str,
    inv: InventoryHost | None,
    prev: HostRecord | None,
    reports: Sequence[ParsedReport],
    last_scan: datetime | None,
    findings: Iterable[FindingRecord],
) -> HostRecord:
    """Attributes from the inventory, else the previous snapshot, else the reports."""
    os_rec = next((r.os for r in reports if r.os is not None), None)
    if os_rec is None and prev is not None:
        os_rec = prev.os
    name = next((r.host_name for r in reports if r.host_name), None)
    attrs: dict[str, object]
    if inv is not None:
        attrs = {
            "name": inv.name or name, "env": inv.env, "tags": tuple(sorted(inv.tags)),
            "labels": dict(sorted(inv.labels.items())), "owner": inv.owner,
            "criticality": inv.criticality, "exposure": inv.exposure,
        }
    elif prev is not None:
        attrs = {
            "name": prev.name or name, "env": prev.env, "tags": prev.tags, "labels": prev.labels,
            "owner": prev.owner, "criticality": prev.criticality, "exposure": prev.exposure,
        }
    else:
        tags = sorted({t for r in reports for t in r.tags})
        labels: dict[str, str] = {}
        for r in reports:
            for k, v in r.labels.items():
                labels.setdefault(k, v)
        attrs = {
            "name": name, "tags": tuple(tags), "labels": dict(sorted(labels.items())),
            "criticality": next((r.criticality for r in reports if r.criticality), None),
        }
    return HostRecord(
        id=host_id,
        os=os_rec,
        last_scan=last_scan,
        findings=tuple(sorted(findings, key=lambda f: f.id)),
        **attrs,  # type: ignore[arg-type]
    )


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
) -> tuple[Snapshot, ImportReport]:
    """Read every input and build the snapshot; nothing is written. An input's format None
    is detected from its content; the path ``-`` is standard input. Raises ``InputError``
    subclasses (``ImporterError``, ``ValidationError``, ``SnapshotError``) on bad input."""
    with no_gc():
        return _build(inputs, inventory, kev, epss, previous, scan_time, taken_at)


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


def _build(
    inputs: Sequence[tuple[ImporterFormat | None, Path]],
    inventory: Path | None,
    kev: Path | None,
    epss: Path | None,
    previous: Path | None,
    scan_time: datetime | None,
    taken_at: datetime | None,
) -> tuple[Snapshot, ImportReport]:
    if not inputs:
        raise ImporterError("no scanner reports given")
    inv: Inventory | None = load_inventory(inventory) if inventory is not None else None
    intel = _Enrichment(
        kev=load_kev(kev) if kev is not None else None,
        epss=load_epss(epss) if epss is not None else None,
    )
    prev_hosts: dict[str, HostRecord] = {}
    if previous is not None:
        prev_hosts = {h.id: h for h in open_snapshot(previous).hosts()}

    parsed: list[tuple[ParsedReport, FileReport]] = []
    for wanted, path in inputs:
        read = read_reports(wanted, path)  # None: detected from the content
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
    latest = max(fr.scan_time for _, fr in parsed)
    if taken_at is not None and taken_at < latest:
        raise ImporterError(
            f"--taken-at {format_timestamp(taken_at)} is before the latest scan"
            f" ({format_timestamp(latest)})"
        )
    report = ImportReport(output=None, taken_at=taken_at or latest, files=[fr for _, fr in parsed])

    by_host: dict[str, list[tuple[ParsedReport, FileReport]]] = {}
    for rep, fr in parsed:
        by_host.setdefault(fr.host, []).append((rep, fr))

    hosts: dict[str, HostRecord] = {}
    order = 0
    for host_id, reps in by_host.items():
        items = []
        for rep, fr in reps:
            for e in rep.entries:
                items.append(_Item(e, fr, fr.scan_time, order))
                order += 1
        last_scan = max(fr.scan_time for _, fr in reps)
        findings = _host_findings(host_id, items, intel, report)
        prev = prev_hosts.get(host_id)
        if prev is not None:
            findings = _apply_previous(host_id, findings, prev, last_scan, report)
        inv_host = inv.get(host_id) if inv is not None else None
        hosts[host_id] = _host_record(host_id, inv_host, prev, [r for r, _ in reps], last_scan, findings)

    for host_id, prev in prev_hosts.items():
        if host_id in hosts:
            continue
        report.hosts_carried += 1
        inv_host = inv.get(host_id) if inv is not None else None
        if inv_host is None:
            hosts[host_id] = prev
        else:
            hosts[host_id] = _host_record(host_id, inv_host, prev, [], prev.last_scan, prev.findings)
    if inv is not None:
        for h in inv.hosts:
            if h.id not in hosts:
                report.hosts_inventory_only += 1
                hosts[h.id] = _host_record(h.id, h, None, [], None, ())

    ordered = tuple(hosts[k] for k in sorted(hosts))
    report.hosts = len(ordered)
    report.findings = sum(len(h.findings) for h in ordered)
    tools = sorted({rep.tool or rep.format.value for rep, _ in parsed})
    versions = {rep.tool_version for rep, _ in parsed}
    header = SnapshotHeader(
        apiVersion="patchpolicy/v1",
        kind="FleetSnapshot",
        taken_at=report.taken_at,
        source=SourceRecord(
            tool="+".join(tools),
            version=versions.pop() if len(tools) == 1 and len(versions) == 1 else None,
        ),
    )
    return Snapshot(header, ordered), report


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
) -> ImportReport:
    """Import scanner reports into the snapshot at ``output`` (``.jsonl`` streams JSON
    Lines); the file is written atomically, and only when every input was read."""
    snap, report = build_snapshot(
        inputs,
        inventory=inventory,
        kev=kev,
        epss=epss,
        previous=previous,
        scan_time=scan_time,
        taken_at=taken_at,
    )
    with no_gc():
        write_snapshot(output, snap.header, snap.hosts)
    report.output = str(output)
    return report
