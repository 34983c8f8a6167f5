"""One finding per group of entries: the merged entry (the primary's fields, gaps filled
from the others, the stricter severity), its id, and a merge note per absorbed entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime

from patchpolicy.importers._common import FIX_STATE_WONT_FIX
from patchpolicy.importers.assemble.enrich import Enrichment, finding_record
from patchpolicy.importers.assemble.grouping import (
    SEVERITY_RANK,
    Identity,
    Item,
    describe,
    group_items,
)
from patchpolicy.importers.assemble.report import ImportReport, MergeNote
from patchpolicy.importers.interface import Entry
from patchpolicy.model.fleet import FindingRecord


def merge_group(group: list[Item]) -> tuple[Item, Entry, datetime]:
    """(primary item, merged entry, first seen): the primary is the first CVE-named item."""
    # A named package wins (a network scanner's entry names none), then a CVE id.
    primary = min(group, key=lambda it: (it.entry.package is None, not it.entry.vuln.startswith("CVE-"), it.order))
    e = primary.entry
    merged = dataclasses.replace(e, provenance=dict(e.provenance))
    aliases = set(e.aliases)
    for it in group:
        if it is primary:
            continue
        aliases |= it.ids
        _absorb(merged, primary, it)
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


def _absorb(merged: Entry, primary: Item, it: Item) -> None:
    """Fill ``merged`` (the primary's entry) from another entry of its group, in place."""
    o = it.entry
    if it.file.tool != primary.file.tool and SEVERITY_RANK[o.severity] > SEVERITY_RANK[merged.severity]:
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


def _id_suffixes(idents: list[Identity]) -> list[str]:
    """The shortest deterministic suffixes that make one base id unique per identity."""
    if len(idents) == 1:
        return [""]
    options: tuple[Callable[[Identity], str], ...] = (
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


def host_findings(
    host_id: str, items: list[Item], intel: Enrichment, report: ImportReport
) -> list[FindingRecord]:
    grouped, kept = group_items(items)
    merged = [merge_group(g) + (g,) for g in grouped]
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
            pkg = describe(it.entry.package)
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
        out.append(finding_record(fid, e, first_seen, primary.scan_time, intel, report))
    for k in kept:
        k.item.file.kept_apart.append(MergeNote(host_id, id_of_item[k.item.order], k.reason))
    return out


def _cross_report_reason(it: Item, primary: Item) -> str:
    """Why an entry of one report is the finding another report (often another tool) has."""
    def said(x: Item) -> str:
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
            f" finding of it on this host, on {describe(primary.entry.package)} ({said(primary)})"
        )
    else:
        head = (
            f"same vulnerability on the same package: {it.entry.vuln} on"
            f" {describe(it.entry.package)} ({said(it)}) is {primary.entry.vuln} ({said(primary)})"
        )
    a, b = it.entry.severity, primary.entry.severity
    if a != b:
        strict = a if SEVERITY_RANK[a] > SEVERITY_RANK[b] else b
        head += f"; severities {b} and {a}: {strict} kept"
    return head

