"""Standalone CycloneDX VEX documents applied to the reports of the same import they name
(BOM-Link serial, else package URL), instead of hosts of their own."""

from __future__ import annotations

import dataclasses

from patchpolicy.importers.assemble.report import FileReport
from patchpolicy.importers.interface import Entry, ParsedReport


def _purl_key(purl: str) -> str:
    """``pkg:maven/g/a@1?type=jar#x`` -> ``pkg:maven/g/a@1``: a package URL as a VEX and an
    SBOM or scanner spell it (qualifiers and subpath differ between tools)."""
    body = purl.split("#", 1)[0].split("?", 1)[0]
    head, _, rest = body.partition("/")
    return f"{head.lower()}/{rest}"


def _index(parsed: list[tuple[ParsedReport, FileReport]]) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(reports by CycloneDX serial, reports by package URL): what a VEX statement may name."""
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
    return by_serial, by_purl


def _targets(e: Entry, by_serial: dict[str, list[int]], by_purl: dict[str, list[int]]) -> tuple[list[int], str]:
    """The reports one statement names (its BOM-Link serial, else its purl), and how."""
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
    return targets, how


def apply_vex(parsed: list[tuple[ParsedReport, FileReport]]) -> list[tuple[ParsedReport, FileReport]]:
    """Standalone VEX documents applied to the reports they name, instead of hosts of
    their own: a statement goes to the report whose CycloneDX ``serialNumber`` its
    BOM-Link names, else to every report whose SBOM components or findings have its
    package URL (qualifiers ignored). Each (VEX, host) pair is a ``FileReport`` of its
    own, after the scans; statements that name nothing this import read keep the VEX's
    own host, said in the summary.
    """
    by_serial, by_purl = _index(parsed)
    out: list[tuple[ParsedReport, FileReport]] = []
    applied: list[tuple[ParsedReport, FileReport]] = []
    for rep, fr in parsed:
        if not rep.vex_only:
            out.append((rep, fr))
            continue
        per_target: dict[int, tuple[list[Entry], set[str]]] = {}
        left: list[Entry] = []
        for e in rep.entries:
            targets, how = _targets(e, by_serial, by_purl)
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

