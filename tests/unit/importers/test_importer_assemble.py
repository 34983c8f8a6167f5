"""The import as a whole: nothing is lost, ids and merges are explained, intel joins,
history carries over, and the output is deterministic and valid."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, run_import
from patchpolicy.model.fleet import FleetSnapshot
from patchpolicy.snapshot import open_snapshot

F = ImporterFormat
SCAN = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def _raw_entries(fmt: ImporterFormat, doc: dict[str, Any]) -> int:
    """Vulnerability entries counted straight from the JSON, independently of the importer."""
    if fmt is F.TRIVY:
        return sum(len(r.get("Vulnerabilities") or []) for r in doc.get("Results", []))
    if fmt is F.GRYPE:
        return len(doc["matches"])
    if fmt is F.OSV_SCANNER:
        return sum(len(p["vulnerabilities"]) for r in doc["results"] for p in r["packages"])
    return sum(max(1, len(v.get("affects", []))) for v in doc.get("vulnerabilities", []))


# (format, file, entries in, findings out, merged)
SAMPLES = [
    (F.TRIVY, "scanners/trivy/trivy-alpine-310.json", 4, 4, 0),
    (F.TRIVY, "scanners/trivy/trivy-amazonlinux2-vm.json", 1, 1, 0),
    (F.TRIVY, "scanners/trivy/trivy-debian-buster.json", 2, 2, 0),
    (F.TRIVY, "scanners/trivy/trivy-gomod.json", 5, 5, 0),
    (F.TRIVY, "scanners/trivy/trivy-ubi-7-comprehensive.json", 2, 2, 0),
    (F.CYCLONEDX, "scanners/trivy/trivy-pom-cyclonedx-1.6.json", 2, 2, 0),
    (F.GRYPE, "scanners/grype/grype-keycloak-21.0.2.json", 6, 6, 0),
    (F.GRYPE, "scanners/grype/grype-chainguard-ruby.json", 3, 2, 1),
    (F.GRYPE, "scanners/grype/grype-json-presenter-image.json", 2, 2, 0),
    (F.OSV_SCANNER, "scanners/osv-scanner/osv-scanner-results-go-cargo.json", 4, 2, 2),
    (F.OSV_SCANNER, "scanners/osv-scanner/osv-scanner-results-debian-go-cargo.json", 6, 4, 2),
    (F.CYCLONEDX, "cyclonedx/vex-jackson-databind.cdx.json", 1, 1, 0),
    (F.CYCLONEDX, "cyclonedx/vex-usecase12-mixed-status.cdx.json", 3, 3, 0),
    (F.CYCLONEDX, "cyclonedx/bom-referenced-by-vex.cdx.json", 0, 0, 0),
]


@pytest.mark.parametrize(("fmt", "rel", "n_in", "n_out", "n_merged"), SAMPLES, ids=[s[1].rsplit("/", 1)[1] for s in SAMPLES])
def test_every_real_sample_counts_in_equal_counts_out(
    realdata: Path, tmp_path: Path, validate: Callable[[Path], FleetSnapshot],
    fmt: ImporterFormat, rel: str, n_in: int, n_out: int, n_merged: int,
) -> None:
    path = realdata / rel
    out = tmp_path / "fleet.json"
    report = run_import([(fmt, path)], out, scan_time=SCAN)
    (fr,) = report.files
    assert fr.entries_read == _raw_entries(fmt, json.loads(path.read_text())) == n_in
    assert (fr.findings_written, len(fr.merged)) == (n_out, n_merged)
    assert fr.entries_read == fr.findings_written + len(fr.merged)
    assert all(m.reason for m in fr.merged)
    snap = validate(out)
    assert sum(len(h.findings) for h in snap.hosts) == n_out == report.findings
    for h in snap.hosts:
        ids = [f.id for f in h.findings]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        for f in h.findings:
            assert f.first_seen_at is not None and f.provenance["first_seen_at"] == "scan_time"
            assert h.last_scan == f.first_seen_at


def test_all_samples_in_one_snapshot(realdata: Path, tmp_path: Path, validate: Callable[[Path], FleetSnapshot]) -> None:
    inputs = [(fmt, realdata / rel) for fmt, rel, *_ in SAMPLES]
    out = tmp_path / "fleet.jsonl"
    report = run_import(inputs, out, scan_time=SCAN)
    assert (report.entries_read, report.findings_written, report.merged) == (41, 36, 5)
    snap = validate(out)
    assert [h.id for h in snap.hosts] == sorted(h.id for h in snap.hosts)
    # 14 reports, 13 hosts: the standalone VEX applies to the SBOM it names (issue 17 #5)
    assert len(snap.hosts) == 13
    assert "vex-jackson-databind.cdx.json" not in {h.id for h in snap.hosts}
    app = next(h for h in snap.hosts if h.id == "example-app@1.0.0")
    assert [(f.vuln, f.status) for f in app.findings] == [("CVE-2020-25649", "not_affected")]
    assert snap.taken_at == SCAN  # the latest scan time among the inputs
    assert snap.source is not None and snap.source.tool == "cyclonedx+grype+osv-scanner+trivy"
    assert len(list(open_snapshot(out).hosts())) == 13


def test_grype_sarif_is_not_grype_json(realdata: Path) -> None:
    with pytest.raises(ImporterError, match="not a grype report: this is a SARIF log written by grype"):
        build_snapshot([(F.GRYPE, realdata / "scanners/grype/grype-sarif-presenter-image.sarif.json")])


def test_output_is_deterministic_and_input_order_free(realdata: Path, tmp_path: Path) -> None:
    a = realdata / "scanners/trivy/trivy-debian-buster.json"
    b = realdata / "scanners/grype/grype-chainguard-ruby.json"
    outs = []
    for n, inputs in enumerate([[(F.TRIVY, a), (F.GRYPE, b)], [(F.GRYPE, b), (F.TRIVY, a)], [(F.TRIVY, a), (F.GRYPE, b)]]):
        for suffix in (".json", ".jsonl"):
            out = tmp_path / f"o{n}{suffix}"
            run_import(inputs, out)
            outs.append((suffix, out.read_bytes()))
    for suffix in (".json", ".jsonl"):
        blobs = {blob for s, blob in outs if s == suffix}
        assert len(blobs) == 1


def test_the_same_report_twice_is_merged_as_duplicates(realdata: Path) -> None:
    path = realdata / "scanners/trivy/trivy-debian-buster.json"
    snap, report = build_snapshot([(F.TRIVY, path), (F.TRIVY, path)])
    assert len(snap.hosts[0].findings) == 2
    assert (report.entries_read, report.findings_written, report.merged) == (4, 2, 2)
    second = report.files[1]
    assert second.findings_written == 0
    assert [m.finding for m in second.merged] == ["CVE-2019-18276/bash", "CVE-2019-18224/libidn2-0"]
    assert second.merged[1].reason.startswith("duplicate: CVE-2019-18224 on libidn2-0@2.0.5-1 at ")
    assert snap.hosts[0].findings[0].provenance["merged_entries"] == "2"


def test_kev_and_epss_join_by_id_and_alias(
    realdata: Path, write_json: Callable[[str, object], Path], tmp_path: Path,
    validate: Callable[[Path], FleetSnapshot],
) -> None:
    # A small fixture derived from real reports, renamed to CVEs the KEV and EPSS samples hold.
    trivy = json.loads((realdata / "scanners/trivy/trivy-debian-buster.json").read_text())
    vulns = trivy["Results"][0]["Vulnerabilities"]
    vulns[0]["VulnerabilityID"] = "CVE-2019-19781"
    vulns[1]["VulnerabilityID"] = "CVE-2019-1653"
    grype = json.loads((realdata / "scanners/grype/grype-chainguard-ruby.json").read_text())
    ghsa = grype["matches"][2]
    ghsa["relatedVulnerabilities"][0]["id"] = "CVE-2019-1652"
    grype["matches"] = [ghsa]
    out = tmp_path / "fleet.json"
    report = run_import(
        [(F.TRIVY, write_json("t.json", trivy)), (F.GRYPE, write_json("g.json", grype))],
        out,
        kev=realdata / "intel/known_exploited_vulnerabilities.json",
        epss=realdata / "intel/epss_scores-2026-09-29.sample.csv",
    )
    assert (report.kev_joined, report.epss_joined) == (3, 3)
    snap = validate(out)
    found = {f.vuln: f for h in snap.hosts for f in h.findings}
    citrix = found["CVE-2019-19781"]
    assert citrix.kev is not None
    assert (citrix.kev.date_added, citrix.kev.due_date, citrix.kev.ransomware) == (
        date(2021, 11, 3), date(2022, 5, 3), True,
    )
    assert (citrix.epss, citrix.epss_percentile) == (0.99999, 0.99998)
    assert citrix.provenance["kev"] == "cisa-kev 2025.08.25"
    assert citrix.provenance["epss"] == "epss v2026.06.15 2026-09-29T12:00:22Z"
    cisco = found["CVE-2019-1653"]
    assert cisco.kev is not None and cisco.kev.ransomware is False
    assert (cisco.epss, cisco.epss_percentile) == (0.99876, 0.99963)
    alias = found["GHSA-hv5j-3h9f-99c2"]
    assert alias.aliases == ["CVE-2019-1652"]
    assert alias.kev is not None and alias.kev.date_added == date(2022, 3, 3)
    assert alias.provenance["kev"] == "cisa-kev 2025.08.25 via CVE-2019-1652"
    assert (alias.epss, alias.epss_percentile) == (0.95923, 0.99873)


def _scan(realdata: Path, created: str, drop: str | None = None, rename: tuple[str, str] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((realdata / "scanners/trivy/trivy-alpine-310.json").read_text())
    doc["CreatedAt"] = created
    vulns = doc["Results"][0]["Vulnerabilities"]
    if drop is not None:
        vulns[:] = [v for v in vulns if f"{v['VulnerabilityID']}/{v['PkgName']}" != drop]
    if rename is not None:
        for v in vulns:
            if f"{v['VulnerabilityID']}/{v['PkgName']}" == rename[0]:
                v["VulnerabilityID"] = rename[1]
    return doc


def test_previous_keeps_first_seen_and_marks_vanished_findings_fixed(
    realdata: Path, write_json: Callable[[str, object], Path], tmp_path: Path,
    validate: Callable[[Path], FleetSnapshot],
) -> None:
    t1, t2, t3 = "2026-01-05T06:00:00Z", "2026-01-12T06:00:00Z", "2026-01-19T06:00:00Z"
    s1 = write_json("s1.json", _scan(realdata, t1))
    other = realdata / "scanners/trivy/trivy-debian-buster.json"
    snap1 = tmp_path / "fleet1.json"
    run_import([(F.TRIVY, s1), (F.TRIVY, other)], snap1)

    # week 2: libssl's CVE-2019-1551 is gone; libcrypto's CVE-2019-1549 shows up renamed as new
    s2 = write_json(
        "s2.json",
        _scan(realdata, t2, drop="CVE-2019-1551/libssl1.1", rename=("CVE-2019-1549/libcrypto1.1", "CVE-2026-0001")),
    )
    snap2 = tmp_path / "fleet2.jsonl"
    report = run_import([(F.TRIVY, s2)], snap2, previous=snap1)
    assert (report.first_seen_kept, report.marked_fixed, report.hosts_carried) == (2, 2, 1)
    fleet = validate(snap2)
    hosts = {h.id: h for h in fleet.hosts}
    debian = hosts["ghcr.io/aquasecurity/trivy-test-images:debian-buster"]  # not re-scanned: unchanged
    assert debian.last_scan == datetime(2021, 8, 25, 12, 20, 30, tzinfo=UTC)
    alpine = hosts["ghcr.io/aquasecurity/trivy-test-images:alpine-310"]
    found = {f.id: f for f in alpine.findings}
    assert alpine.last_scan == datetime(2026, 1, 12, 6, tzinfo=UTC)
    kept = found["CVE-2019-1551/libcrypto1.1"]
    assert (kept.status, kept.first_seen_at, kept.provenance["first_seen_at"]) == (
        "open", datetime(2026, 1, 5, 6, tzinfo=UTC), "previous",
    )
    new = found["CVE-2026-0001/libcrypto1.1"]
    assert new.first_seen_at == datetime(2026, 1, 12, 6, tzinfo=UTC)
    for gone in ("CVE-2019-1551/libssl1.1", "CVE-2019-1549/libcrypto1.1"):
        f = found[gone]
        assert (f.status, f.fixed_at, f.provenance["fixed_at"]) == (
            "fixed", datetime(2026, 1, 12, 6, tzinfo=UTC), "absent_from_scan",
        )
        assert f.first_seen_at == datetime(2026, 1, 5, 6, tzinfo=UTC)

    # week 3: same findings; the fixed ones stay as they were
    s3 = write_json(
        "s3.json",
        _scan(realdata, t3, drop="CVE-2019-1551/libssl1.1", rename=("CVE-2019-1549/libcrypto1.1", "CVE-2026-0001")),
    )
    snap3 = tmp_path / "fleet3.json"
    report = run_import([(F.TRIVY, s3)], snap3, previous=snap2)
    assert (report.marked_fixed, report.previous_fixed_kept, report.first_seen_kept) == (0, 2, 3)
    found3 = {f.id: f for h in validate(snap3).hosts for f in h.findings}
    assert found3["CVE-2019-1551/libssl1.1"].fixed_at == datetime(2026, 1, 12, 6, tzinfo=UTC)
    assert found3["CVE-2026-0001/libcrypto1.1"].first_seen_at == datetime(2026, 1, 12, 6, tzinfo=UTC)

    # an older scan than the previous snapshot's is refused
    with pytest.raises(ImporterError, match="older than the previous snapshot's last scan"):
        build_snapshot([(F.TRIVY, s1)], previous=snap3)


def test_reappearing_fixed_finding_is_reopened(
    realdata: Path, write_json: Callable[[str, object], Path], tmp_path: Path
) -> None:
    run_import([(F.TRIVY, write_json("a.json", _scan(realdata, "2026-01-05T06:00:00Z")))], tmp_path / "1.json")
    run_import(
        [(F.TRIVY, write_json("b.json", _scan(realdata, "2026-01-12T06:00:00Z", drop="CVE-2019-1551/libssl1.1")))],
        tmp_path / "2.json", previous=tmp_path / "1.json",
    )
    snap, report = build_snapshot(
        [(F.TRIVY, write_json("c.json", _scan(realdata, "2026-01-19T06:00:00Z")))], previous=tmp_path / "2.json"
    )
    f = next(f for f in snap.hosts[0].findings if f.id == "CVE-2019-1551/libssl1.1")
    assert report.reopened == 1
    assert (f.status, f.first_seen_at) == ("open", datetime(2026, 1, 19, 6, tzinfo=UTC))
    assert f.provenance["reopened"] == "fixed at 2026-01-12T06:00:00Z"


def test_inventory_maps_reports_to_hosts(
    realdata: Path, tmp_path: Path, validate: Callable[[Path], FleetSnapshot]
) -> None:
    inv = tmp_path / "cmdb.csv"
    inv.write_text(
        "id,artifacts,env,tags,owner,criticality,exposure,label.ring\n"
        "web-01,ghcr.io/aquasecurity/trivy-test-images:debian-buster,prod,cde;pci,team-web,high,internet,canary\n"
        "db-01,,prod,,team-db,critical,internal,\n"
    )
    out = tmp_path / "fleet.json"
    report = run_import([(F.TRIVY, realdata / "scanners/trivy/trivy-debian-buster.json")], out, inventory=inv)
    assert report.files[0].host == "web-01" and report.hosts_inventory_only == 1
    hosts = {h.id: h for h in validate(out).hosts}
    web = hosts["web-01"]
    assert (web.name, web.env, web.tags, web.labels, web.owner, web.criticality, web.exposure) == (
        "ghcr.io/aquasecurity/trivy-test-images:debian-buster", "prod", ["cde", "pci"], {"ring": "canary"},
        "team-web", "high", "internet",
    )
    assert len(web.findings) == 2
    db = hosts["db-01"]  # in the CMDB, never scanned: a host without last_scan
    assert (db.last_scan, db.findings, db.criticality) == (None, [], "critical")


def test_taken_at(realdata: Path) -> None:
    path = realdata / "scanners/trivy/trivy-debian-buster.json"
    later = datetime(2026, 1, 1, tzinfo=UTC)
    snap, _ = build_snapshot([(F.TRIVY, path)], taken_at=later)
    assert snap.header.taken_at == later
    with pytest.raises(ImporterError, match="--taken-at 2020-01-01T00:00:00Z is before the latest scan"):
        build_snapshot([(F.TRIVY, path)], taken_at=datetime(2020, 1, 1, tzinfo=UTC))
    # the report's own timestamp wins over --scan-time
    snap, report = build_snapshot([(F.TRIVY, path)], scan_time=later)
    assert report.files[0].scan_time_source == "report"
    assert snap.hosts[0].last_scan == datetime(2021, 8, 25, 12, 20, 30, tzinfo=UTC)
