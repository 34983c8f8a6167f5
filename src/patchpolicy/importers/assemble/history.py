"""A re-scanned host against the previous snapshot: first_seen_at kept, fixed findings
reported again reopened, findings the new scan no longer reports marked fixed."""

from __future__ import annotations

from datetime import datetime

import msgspec

from patchpolicy.errors import ImporterError
from patchpolicy.importers.assemble.report import ImportReport
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import FindingRecord, HostRecord


def apply_previous(
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
