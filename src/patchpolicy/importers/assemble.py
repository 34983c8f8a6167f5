"""Turn parsed scanner reports into one deterministic FleetSnapshot.

The contract (the same for every format):

* every report becomes a host, named by an inventory row that lists one of the report's
  names, else by the report's own first name; reports naming the same host merge: the
  same host id, or a shared match key (FQDN, IP address, instance id, image digest; DNS
  names compared without case or final dot), unless the inventory maps them apart or
  one tool gives that name to two of its hosts (``_match_hosts``). The merged host takes
  the inventory id, else the first report's id (input order);
* a standalone CycloneDX VEX is no host: its statements join the reports they name, by
  BOM-Link serial, else package URL (``_apply_vex``);
* every entry becomes a finding, or is merged into one, counted and explained: the same
  vulnerability (by id or alias) on the same package (name, version, location, purl) in
  one host; across tools (formats) the same package name and installed version is
  enough, and an entry without a package (Nessus) joins the host's only finding of its
  vulnerability; ambiguous cases stay apart, said in the summary (``_groups``). The
  finding keeps a CVE id where one of the merged entries has it, the stricter severity
  when two reports disagree, and ``provenance.sources`` names the formats;
* finding id = ``<vuln>/<package name>``, with ``@version``, ``#location`` (or both, then
  the purl) added only where two findings of one host would otherwise share an id;
* ``first_seen_at`` = the scanner's own first-observed time where the format has one
  (Inspector ``firstObservedAt``), else the scan time (report timestamp, else
  ``--scan-time``; never the wall clock), or the previous snapshot's value for the same
  (host, finding id);
  findings of a re-scanned host that the new scan no longer reports become ``fixed`` at
  the new scan time; hosts not re-scanned are carried over unchanged;
* KEV and EPSS join by vuln id, then aliases; a ``--kev`` catalog wins over the KEV copy
  a scanner carries (Grype ``knownExploited``);
* hosts sorted by id, findings by id: the same inputs give the same bytes.
"""

from __future__ import annotations

import dataclasses
import re
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


class _Unions:
    """Union-find over item indices; each root knows the formats (tools) it holds."""

    def __init__(self, items: list[_Item]) -> None:
        self.parent = list(range(len(items)))
        self.tools: dict[int, set[str]] = {i: {it.file.tool} for i, it in enumerate(items)}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[a] = b
            self.tools[b] |= self.tools.pop(a)

    def disjoint(self, i: int, j: int) -> bool:
        """Whether the two sets hold entries of no format in common: two tools."""
        a, b = self.find(i), self.find(j)
        return a != b and not self.tools[a] & self.tools[b]


@dataclass
class _KeptApart:
    """An entry that another report's findings could have absorbed, and why it did not."""

    item: _Item
    reason: str


def _groups(items: list[_Item]) -> tuple[list[list[_Item]], list[_KeptApart]]:
    """Items of one host grouped into findings, in three passes:

    1. same identity (package name, version, location, purl) and an id or alias in
       common: what one tool reports twice, or two scans of one artifact;
    2. across tools (formats): an id or alias in common and the same package name and
       installed version, whatever the location or purl (Trivy and Grype locate a
       package differently) -- unless one tool has two such findings (the same package at
       two locations): then which one is meant is unknown, and the entries stay apart,
       said in the summary. One tool's findings at two locations stay two findings;
    3. an entry with no package (a network scanner: Nessus names plugins, not packages)
       joins the one finding of another tool with an id in common; if there are
       several (one CVE on libssl and libcrypto), it stays apart, said in the summary;
    4. entries with no package that two tools give (Nessus and Qualys on one CVE), and
       that no package finding took, are one finding.
    """
    u = _Unions(items)
    seen: dict[tuple[_Identity, str], int] = {}
    for i, item in enumerate(items):
        for vid in sorted(item.ids):
            j = seen.setdefault((item.identity, vid), i)
            if j != i:
                u.union(i, j)
    ids_of: dict[int, set[str]] = {}
    for i, item in enumerate(items):
        ids_of.setdefault(u.find(i), set()).update(item.ids)
    roots = sorted(ids_of)
    kept: dict[int, _KeptApart] = {}

    def pkg_of(root: int) -> PackageRecord | None:
        return items[root].entry.package

    # 2. the same vulnerability on the same package, reported by other tools
    buckets: dict[tuple[str, str, str | None], list[int]] = {}
    for r in roots:
        p = pkg_of(r)
        if p is None:
            continue
        for vid in sorted(ids_of[r]):
            buckets.setdefault((vid, p.name, p.version), []).append(r)
    for (vid, _, _), members in buckets.items():
        if len(members) < 2:
            continue
        per_tool: dict[str, int] = {}
        for r in members:
            for t in u.tools[u.find(r)]:
                per_tool[t] = per_tool.get(t, 0) + 1
        twice = sorted(t for t, n in per_tool.items() if n > 1)
        if twice:
            where = ", ".join(f"{per_tool[t]} of {t}" for t in twice)
            for r in members:
                if all(per_tool[t] == 1 for t in u.tools[u.find(r)]):
                    kept.setdefault(r, _KeptApart(items[r], (
                        f"{vid} on {_describe(pkg_of(r))} could be any of the findings of the"
                        f" package at several locations ({where}): not merged"
                    )))
            continue
        for r in members[1:]:
            if u.disjoint(members[0], r):
                u.union(r, members[0])

    # 3. entries without a package, onto the one packaged finding of the same vulnerability
    packaged: dict[str, set[int]] = {}
    for r in roots:
        if pkg_of(r) is not None:
            for vid in ids_of[r]:
                packaged.setdefault(vid, set()).add(r)
    # Decided on the packaged findings as they are now: two entries of one tool (two Nessus
    # plugins naming one CVE) may both join the same finding.
    plan: list[tuple[int, set[int]]] = [
        (r, {u.find(q) for vid in sorted(ids_of[r]) for q in packaged.get(vid, ()) if u.disjoint(r, q)})
        for r in roots
        if pkg_of(r) is None
    ]
    for r, candidates in plan:
        if len(candidates) == 1:
            u.union(r, candidates.pop())
        elif len(candidates) > 1:
            names = sorted(_describe(pkg_of(q)) for q in candidates)
            kept.setdefault(r, _KeptApart(items[r], (
                f"{items[r].entry.vuln} names no package, and other tools have it on"
                f" {len(names)} packages ({', '.join(names)}): not merged"
            )))

    # 4. no package on either side (Nessus and Qualys naming one CVE): one finding, when
    # two tools say it and no package finding took either.
    loose: dict[str, list[int]] = {}
    for r in roots:
        if pkg_of(r) is None and pkg_of(u.find(r)) is None and r not in kept:
            for vid in sorted(ids_of[r]):
                loose.setdefault(vid, []).append(r)
    for members in loose.values():
        if len({t for r in members for t in u.tools[u.find(r)]}) > 1:
            for r in members[1:]:
                u.union(r, members[0])

    groups: dict[int, list[_Item]] = {}
    for i, item in enumerate(items):
        groups.setdefault(u.find(i), []).append(item)
    return sorted(groups.values(), key=lambda g: g[0].order), list(kept.values())


# Stricter is higher; "unknown" says nothing, so any word beats it.
_SEVERITY_RANK = {"unknown": 0, "none": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def _describe(p: PackageRecord | None) -> str:
    if p is None:
        return "the artifact"
    return f"{p.name}@{p.version}" if p.version else p.name


def _merge(group: list[_Item]) -> tuple[_Item, Entry, datetime]:
    """(primary item, merged entry, first seen): the primary is the first CVE-named item."""
    # A named package wins (a network scanner's entry names none), then a CVE id.
    primary = min(group, key=lambda it: (it.entry.package is None, not it.entry.vuln.startswith("CVE-"), it.order))
    e = primary.entry
    merged = dataclasses.replace(e, provenance=dict(e.provenance))
    aliases = set(e.aliases)
    for it in group:
        if it is primary:
            continue
        o = it.entry
        aliases |= it.ids
        if it.file.tool != primary.file.tool and _SEVERITY_RANK[o.severity] > _SEVERITY_RANK[merged.severity]:
            # Two tools disagree: the stricter severity stands, and says where it is from.
            was = merged.severity
            merged.severity = o.severity
            merged.provenance["severity"] = (
                f"{it.file.tool} {o.provenance.get('severity', '')}".rstrip()
                + f" (stricter than {primary.file.tool} {was})"
            )
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
        if merged.kev is None and o.kev is not None:
            merged.kev = o.kev
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
    tools = sorted({it.file.tool for it in group})
    if len(tools) > 1:
        merged.provenance["sources"] = ",".join(tools)
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
    grouped, kept = _groups(items)
    merged = [_merge(g) + (g,) for g in grouped]
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
    id_of_item: dict[int, str] = {}
    for n, (primary, e, first_seen, group) in enumerate(merged):
        fid = ids[n]
        primary.file.findings_written += 1
        for it in group:
            id_of_item[it.order] = fid
            if it is primary:
                continue
            pkg = _describe(it.entry.package)
            if it.file.tool != primary.file.tool and it.identity != primary.identity:
                reason = _cross_report_reason(it, primary)
            elif it.entry.vuln == primary.entry.vuln:
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
    for k in kept:
        k.item.file.kept_apart.append(MergeNote(host_id, id_of_item[k.item.order], k.reason))
    return out


def _cross_report_reason(it: _Item, primary: _Item) -> str:
    """Why an entry of one report is the finding another report (often another tool) has."""
    def said(x: _Item) -> str:
        where = f" at {x.entry.location}" if x.entry.location else ""
        return f"{x.file.tool} {x.file.file} {x.entry.where}{where}"

    if it.entry.package is None and primary.entry.package is None:
        head = (
            f"same vulnerability: {it.entry.vuln} ({said(it)}) is {primary.entry.vuln}"
            f" ({said(primary)}); neither names a package"
        )
    elif it.entry.package is None:
        head = (
            f"same vulnerability: {it.entry.vuln} ({said(it)}) names no package; it is the only"
            f" finding of it on this host, on {_describe(primary.entry.package)} ({said(primary)})"
        )
    else:
        head = (
            f"same vulnerability on the same package: {it.entry.vuln} on"
            f" {_describe(it.entry.package)} ({said(it)}) is {primary.entry.vuln} ({said(primary)})"
        )
    a, b = it.entry.severity, primary.entry.severity
    if a != b:
        strict = a if _SEVERITY_RANK[a] > _SEVERITY_RANK[b] else b
        head += f"; severities {b} and {a}: {strict} kept"
    return head


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
    if kev is None and e.kev is not None:
        # The scanner's own KEV copy (Grype knownExploited), when no catalog says it.
        kev = e.kev
        prov["kev"] = "grype knownExploited"
        report.kev_from_scanner += 1
    elif kev is None and "grype_known_exploited" in prov:
        report.kev_undated += 1
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


_DNS_NAME = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")  # names, IPv4, IPv6


def _scan_times(frs: list[FileReport]) -> list[datetime]:
    """The scans' times; a VEX applied to a host is a statement, not a scan of it, and
    counts only where nothing else says when the host was scanned."""
    scans = [fr.scan_time for fr in frs if not fr.vex]
    return scans or [fr.scan_time for fr in frs]


def _purl_key(purl: str) -> str:
    """``pkg:maven/g/a@1?type=jar#x`` -> ``pkg:maven/g/a@1``: a package URL as a VEX and an
    SBOM or scanner spell it (qualifiers and subpath differ between tools)."""
    body = purl.split("#", 1)[0].split("?", 1)[0]
    head, _, rest = body.partition("/")
    return f"{head.lower()}/{rest}"


def _apply_vex(parsed: list[tuple[ParsedReport, FileReport]]) -> list[tuple[ParsedReport, FileReport]]:
    """Standalone VEX documents applied to the reports they name, instead of hosts of
    their own: a statement goes to the report whose CycloneDX ``serialNumber`` its
    BOM-Link names, else to every report whose SBOM components or findings have its
    package URL (qualifiers ignored). Each (VEX, host) pair is a ``FileReport`` of its
    own, after the scans; statements that name nothing this import read keep the VEX's
    own host, said in the summary.
    """
    by_serial: dict[str, list[int]] = {}
    by_purl: dict[str, list[int]] = {}
    for n, (rep, _) in enumerate(parsed):
        if rep.vex_only:
            continue
        for key in rep.host_keys:
            if key.startswith("urn:uuid:"):
                by_serial.setdefault(key.lower(), []).append(n)
        purls = {_purl_key(p.purl) for p in rep.components if p.purl}
        purls |= {_purl_key(e.package.purl) for e in rep.entries if e.package is not None and e.package.purl}
        for key in sorted(purls):
            by_purl.setdefault(key, []).append(n)
    out: list[tuple[ParsedReport, FileReport]] = []
    applied: list[tuple[ParsedReport, FileReport]] = []
    for rep, fr in parsed:
        if not rep.vex_only:
            out.append((rep, fr))
            continue
        per_target: dict[int, tuple[list[Entry], set[str]]] = {}
        left: list[Entry] = []
        for e in rep.entries:
            targets: list[int] = []
            how = ""
            ref = e.location or ""
            if ref.startswith("urn:cdx:"):
                serial = "urn:uuid:" + ref[len("urn:cdx:"):].split("#", 1)[0].split("/", 1)[0]
                targets, how = by_serial.get(serial.lower(), []), f"BOM-Link {serial}"
            if not targets and e.package is not None and e.package.purl:
                unmatched = f" (its {how} is no report of this import)" if how else ""
                targets = by_purl.get(_purl_key(e.package.purl), [])
                how = f"purl {_purl_key(e.package.purl)}{unmatched}"
            if not targets:
                left.append(e)
            for t in dict.fromkeys(targets):
                entries, hows = per_target.setdefault(t, ([], set()))
                entries.append(dataclasses.replace(e, provenance=dict(e.provenance)))
                hows.add(how)
        if not per_target:
            out.append((rep, fr))  # names nothing read here: its own host, as a BOM would be
            continue
        for t, (entries, hows) in per_target.items():
            target = parsed[t][1]
            vfr = FileReport(
                fr.file, fr.format, target.host, fr.scan_time, fr.scan_time_source,
                entries_read=len(entries), informational=sum(1 for e in entries if e.severity == "none"),
                host_match=f"VEX applied to {target.format.value} {target.file} by {', '.join(sorted(hows))}",
                detected=fr.detected,
                vex=True,
            )
            applied.append((dataclasses.replace(rep, entries=entries, host_keys=(target.host,), match_keys=()), vfr))
        if left:
            fr.entries_read = len(left)
            fr.informational = sum(1 for e in left if e.severity == "none")
            fr.host_match = f"{len(left)} VEX statements name no report of this import: kept as the VEX's own host"
            out.append((dataclasses.replace(rep, entries=left), fr))
    return out + applied


def _match_name(key: str) -> str:
    """A host name or address as compared across reports: DNS names and IP addresses
    ignore case and a final dot; anything else (digests, ARNs) is compared exactly."""
    return key.rstrip(".").lower() if _DNS_NAME.fullmatch(key) else key


def _match_hosts(parsed: list[tuple[ParsedReport, FileReport]], inv: Inventory | None) -> int:
    """Give reports that name one host (the same host id, or a shared match key: FQDN, IP
    address, instance id, image digest) one host id, and say why in their ``FileReport``.

    The id is the inventory's where a report of the set matched a row, else the first
    report's (in input order). The inventory wins: two reports it maps to different
    hosts stay apart even when they share a name. A name that one tool gives two of its
    hosts (a private address reused in two VPCs) matches nothing: which one is meant is
    unknown, and the reports that carry it say so. Returns how many reports took another
    report's host.
    """
    parent = list(range(len(parsed)))
    inv_id: dict[int, str | None] = {}
    link: dict[int, tuple[int, str]] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    claims: dict[str, dict[str, set[str]]] = {}
    for rep, fr in parsed:
        if not fr.vex:
            for key in {fr.host, *rep.match_keys}:
                claims.setdefault(_match_name(key), {}).setdefault(fr.format.value, set()).add(fr.host)
    ambiguous = {
        name: next((fmt, ids) for fmt, ids in by_tool.items() if len(ids) > 1)
        for name, by_tool in claims.items()
        if any(len(ids) > 1 for ids in by_tool.values())
    }
    by_id: dict[str, int] = {}
    owner: dict[str, int] = {}
    unmatched: dict[int, tuple[str, str, set[str]]] = {}
    for i, (rep, fr) in enumerate(parsed):
        inv_id[i] = fr.host if inv is not None and inv.get(fr.host) is not None else None
        candidates = [(by_id.setdefault(_match_name(fr.host), i), fr.host)]  # the same id: one host
        for key in dict.fromkeys([fr.host, *rep.match_keys]):
            name = _match_name(key)
            if name in ambiguous:
                fmt, ids = ambiguous[name]
                unmatched.setdefault(i, (key, fmt, ids))
                continue
            candidates.append((owner.setdefault(name, i), key))
        for j, key in candidates:
            a, b = find(i), find(j)
            if a == b:
                continue
            if inv_id[a] is not None and inv_id[b] is not None and inv_id[a] != inv_id[b]:
                continue  # the inventory says these are two hosts
            first, other = min(a, b), max(a, b)
            parent[other] = first
            inv_id[first] = inv_id[first] or inv_id[other]
            if not fr.vex:
                link.setdefault(i, (j, key))  # j < i: the owner came first
    for i, (_, fr) in enumerate(parsed):
        if i in link:
            j, key = link[i]
            fr.host_match = f"same host as {parsed[j][1].format.value} {parsed[j][1].file}: {key}"
        elif i in unmatched and unmatched[i][1] != fr.format.value:
            key, fmt, ids = unmatched[i]
            shown = ", ".join(sorted(ids)[:3]) + (", ..." if len(ids) > 3 else "")
            fr.host_match = f"not matched by {key}: {fmt} gives it to {len(ids)} hosts ({shown})"
    for i, (_, fr) in enumerate(parsed):
        root = find(i)
        fr.host = inv_id[root] or parsed[root][1].host
    return len(link)


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
    parsed = _apply_vex(parsed)
    latest = max(_scan_times([fr for _, fr in parsed]))
    if taken_at is not None and taken_at < latest:
        raise ImporterError(
            f"--taken-at {format_timestamp(taken_at)} is before the latest scan"
            f" ({format_timestamp(latest)})"
        )
    report = ImportReport(output=None, taken_at=taken_at or latest, files=[fr for _, fr in parsed])

    report.hosts_matched = _match_hosts(parsed, inv)
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
        last_scan = max(_scan_times([fr for _, fr in reps]))
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
