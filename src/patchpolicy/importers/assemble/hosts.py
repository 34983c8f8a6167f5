"""Hosts: which reports name one host (``match_hosts``), and a host's record with its
attributes from the inventory, else the previous snapshot, else the reports."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from patchpolicy.importers.assemble.report import FileReport
from patchpolicy.importers.interface import ParsedReport
from patchpolicy.importers.inventory import Inventory, InventoryHost
from patchpolicy.model.fleet import FindingRecord, HostRecord


def host_record(
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


_DNS_NAME = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")  # names, IPv4, IPv6


def _match_name(key: str) -> str:
    """A host name or address as compared across reports: DNS names and IP addresses
    ignore case and a final dot; anything else (digests, ARNs) is compared exactly."""
    return key.rstrip(".").lower() if _DNS_NAME.fullmatch(key) else key


def _ambiguous_names(parsed: list[tuple[ParsedReport, FileReport]]) -> dict[str, tuple[str, set[str]]]:
    """Names one tool gives two of its hosts: name -> (that tool, the host ids)."""
    claims: dict[str, dict[str, set[str]]] = {}
    for rep, fr in parsed:
        if not fr.vex:
            for key in {fr.host, *rep.match_keys}:
                claims.setdefault(_match_name(key), {}).setdefault(fr.format.value, set()).add(fr.host)
    return {
        name: next((fmt, ids) for fmt, ids in by_tool.items() if len(ids) > 1)
        for name, by_tool in claims.items()
        if any(len(ids) > 1 for ids in by_tool.values())
    }


def _say_matches(
    parsed: list[tuple[ParsedReport, FileReport]],
    link: dict[int, tuple[int, str]],
    unmatched: dict[int, tuple[str, str, set[str]]],
) -> None:
    """Each report's ``host_match``: the report whose host it took, or the name that matched nothing."""
    for i, (_, fr) in enumerate(parsed):
        if i in link:
            j, key = link[i]
            fr.host_match = f"same host as {parsed[j][1].format.value} {parsed[j][1].file}: {key}"
        elif i in unmatched and unmatched[i][1] != fr.format.value:
            key, fmt, ids = unmatched[i]
            shown = ", ".join(sorted(ids)[:3]) + (", ..." if len(ids) > 3 else "")
            fr.host_match = f"not matched by {key}: {fmt} gives it to {len(ids)} hosts ({shown})"


def match_hosts(parsed: list[tuple[ParsedReport, FileReport]], inv: Inventory | None) -> int:
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

    ambiguous = _ambiguous_names(parsed)
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
    _say_matches(parsed, link, unmatched)
    for i, (_, fr) in enumerate(parsed):
        root = find(i)
        fr.host = inv_id[root] or parsed[root][1].host
    return len(link)

