"""CycloneDX BOMs and VEX: mapping and VEX states checked against the real files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, get_importer
from patchpolicy.importers.cyclonedx import package_from_purl

WHEN = datetime(2026, 3, 1, tzinfo=UTC)


def test_trivy_pom_cyclonedx_16(realdata: Path) -> None:
    path = realdata / "scanners/trivy/trivy-pom-cyclonedx-1.6.json"
    snap, report = build_snapshot([(ImporterFormat.CYCLONEDX, path)])
    (host,) = snap.hosts
    # Trivy names a repository BOM by the scanned path: the id is its last part (issue 17 #5)
    assert host.id == "pom"
    assert host.last_scan == datetime(2021, 8, 25, 12, 20, 30, tzinfo=UTC)
    a, b = host.findings
    assert a.id == "CVE-2020-9548/com.fasterxml.jackson.core:jackson-databind"
    # severity from the vulnerability's own source (ghsa), CVSS from NVD v3.1
    assert (a.severity, a.provenance["severity"]) == ("critical", "ghsa")
    assert (a.cvss, a.cvss_source) == (9.8, "nvd")
    assert a.published_at == datetime(2020, 3, 2, 4, 15, tzinfo=UTC)
    assert a.package is not None
    assert a.package.purl == "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.9.1"
    assert a.package.version == "2.9.1"
    assert a.fixed_version is None  # CycloneDX has no fixed-version field
    assert b.id == "CVE-2021-20190/com.fasterxml.jackson.core:jackson-databind"
    assert (b.severity, b.provenance["severity"], b.cvss) == ("high", "nvd", 8.1)
    assert (report.entries_read, report.findings_written) == (2, 2)


def test_vex_usecase12_mixed_status(realdata: Path) -> None:
    path = realdata / "cyclonedx/vex-usecase12-mixed-status.cdx.json"
    snap, _ = build_snapshot([(ImporterFormat.CYCLONEDX, path)])
    (host,) = snap.hosts
    assert host.id == "Acme Product@2.2.0"
    found = {f.vuln: f for f in host.findings}
    assert (found["CVE-2020-25649"].status, found["CVE-2020-25649"].status_reason) == (
        "not_affected", "code_not_reachable",
    )
    assert (found["CVE-2020-14195"].status, found["CVE-2020-14195"].status_reason) == (
        "not_affected", "protected_by_mitigating_control",
    )
    assert (found["CVE-2020-35491"].status, found["CVE-2020-35491"].status_reason) == ("open", "exploitable")
    assert found["CVE-2020-35491"].provenance["vex_state"] == "exploitable"
    assert found["CVE-2020-35491"].id == "CVE-2020-35491/Acme Product"
    assert found["CVE-2020-35491"].provenance["vex_response"] == "will_not_fix,update"


def test_standalone_vex_resolves_its_bom_link_by_purl(realdata: Path) -> None:
    path = realdata / "cyclonedx/vex-jackson-databind.cdx.json"
    snap, _ = build_snapshot([(ImporterFormat.CYCLONEDX, path)], scan_time=WHEN)
    (host,) = snap.hosts
    assert host.id == "vex-jackson-databind.cdx.json"  # no metadata: the file names it
    (f,) = host.findings
    assert f.id == "CVE-2020-25649/com.fasterxml.jackson.core:jackson-databind"
    assert f.package is not None and f.package.version == "2.10.0"
    assert (f.status, f.status_reason) == ("not_affected", "code_not_reachable")
    # NVD 7.5 over SNYK 8.2 and the vendor's environmental 0.0
    assert (f.cvss, f.cvss_source, f.severity) == (7.5, "nvd", "high")
    assert f.aliases == ("SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302",)


def test_sbom_without_vulnerabilities_is_a_host_without_findings(realdata: Path) -> None:
    snap, report = build_snapshot(
        [(ImporterFormat.CYCLONEDX, realdata / "cyclonedx/bom-referenced-by-vex.cdx.json")]
    )
    (host,) = snap.hosts
    assert host.findings == () and report.entries_read == 0


def _vex(state: str, **analysis: object) -> dict[str, object]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {"timestamp": "2026-02-01T00:00:00Z", "component": {"name": "app", "bom-ref": "app"}},
        "vulnerabilities": [
            {"id": "CVE-2024-0001", "analysis": {"state": state, **analysis}, "affects": [{"ref": "app"}]}
        ],
    }


def test_vex_resolved_is_fixed_and_in_triage_stays_open(write_json: Callable[[str, object], Path]) -> None:
    snap, _ = build_snapshot([(ImporterFormat.CYCLONEDX, write_json("r.json", _vex("resolved")))])
    f = snap.hosts[0].findings[0]
    assert (f.status, f.fixed_at, f.provenance["fixed_at"]) == (
        "fixed", datetime(2026, 2, 1, tzinfo=UTC), "scan_time",
    )
    doc = _vex("resolved", lastUpdated="2026-01-15T10:00:00Z")
    f = build_snapshot([(ImporterFormat.CYCLONEDX, write_json("r2.json", doc))])[0].hosts[0].findings[0]
    assert f.fixed_at == datetime(2026, 1, 15, 10, tzinfo=UTC)
    f = build_snapshot([(ImporterFormat.CYCLONEDX, write_json("t.json", _vex("in_triage")))])[0].hosts[0].findings[0]
    assert (f.status, f.status_reason) == ("open", "in_triage")
    f = build_snapshot([(ImporterFormat.CYCLONEDX, write_json("n.json", _vex("not_affected")))])[0].hosts[0].findings[0]
    assert (f.status, f.status_reason) == ("not_affected", "not_affected")


def test_bad_cyclonedx_inputs(write_json: Callable[[str, object], Path]) -> None:
    with pytest.raises(ImporterError, match=r"analysis\.state: unknown VEX analysis state 'meh'"):
        get_importer(ImporterFormat.CYCLONEDX).load(write_json("a.json", _vex("meh")))
    doc = _vex("exploitable")
    doc["specVersion"] = "2.0"
    with pytest.raises(ImporterError, match=r"\$\.specVersion: unsupported CycloneDX specVersion '2.0'"):
        get_importer(ImporterFormat.CYCLONEDX).load(write_json("b.json", doc))
    doc = _vex("exploitable")
    doc["vulnerabilities"][0]["affects"] = [{"ref": "nowhere"}]  # type: ignore[index]
    with pytest.raises(ImporterError, match=r"affects\[0\]\.ref: affects ref 'nowhere' matches no component"):
        get_importer(ImporterFormat.CYCLONEDX).load(write_json("c.json", doc))


def test_package_from_purl() -> None:
    p = package_from_purl("pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0?type=jar")
    assert p is not None and (p.name, p.version, p.ecosystem) == (
        "com.fasterxml.jackson.core:jackson-databind", "2.10.0", "maven",
    )
    p = package_from_purl("pkg:npm/%40angular/core@1.0.0")
    assert p is not None and (p.name, p.version) == ("@angular/core", "1.0.0")
    assert package_from_purl("not-a-purl") is None
