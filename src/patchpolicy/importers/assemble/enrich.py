"""A merged entry becomes a ``FindingRecord``: CISA KEV and FIRST EPSS joined by vuln id,
then aliases (a ``--kev`` catalog wins over the scanner's own KEV copy), fixed time filled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patchpolicy.importers.assemble.report import ImportReport
from patchpolicy.importers.intel import EpssScores, KevCatalog
from patchpolicy.importers.interface import Entry
from patchpolicy.model.fleet import FindingRecord


@dataclass
class Enrichment:
    kev: KevCatalog | None
    epss: EpssScores | None



def finding_record(
    fid: str, e: Entry, first_seen: datetime, scan_time: datetime, intel: Enrichment, report: ImportReport
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
