"""A standalone CycloneDX VEX is applied to the SBOM or the scanner findings it names (by
BOM-Link serial, else by package URL), instead of becoming a host of its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from patchpolicy.importers import ImporterFormat, build_snapshot

F = ImporterFormat
VEX = "cyclonedx/vex-jackson-databind.cdx.json"
BOM = "cyclonedx/bom-referenced-by-vex.cdx.json"
PURL = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0"


def _load(realdata: Path, rel: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((realdata / rel).read_text())
    return doc


def test_the_real_vex_applies_to_the_real_sbom_by_purl(realdata: Path) -> None:
    # Upstream's BOM-Link names another serial than the BOM beside it: the purl joins them.
    snap, report = build_snapshot([(F.CYCLONEDX, realdata / BOM), (F.CYCLONEDX, realdata / VEX)])
    (host,) = snap.hosts
    assert host.id == "example-app@1.0.0"
    (f,) = host.findings
    assert f.id == "CVE-2020-25649/com.fasterxml.jackson.core:jackson-databind"
    assert (f.status, f.status_reason) == ("not_affected", "code_not_reachable")
    assert f.provenance["vex_state"] == "not_affected"
    assert f.package is not None and f.package.version == "2.10.0"
    bom_fr, vex_fr = report.files
    assert vex_fr.vex and vex_fr.host == "example-app@1.0.0"
    assert vex_fr.host_match == (
        f"VEX applied to cyclonedx {realdata / BOM} by purl {PURL}"
        " (its BOM-Link urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79 is no report of this import)"
    )
    assert vex_fr.entries_read == vex_fr.findings_written + len(vex_fr.merged) == 1
    assert report.hosts_matched == 0  # a VEX is not a second scan of the host
    # the VEX carries no time: its file's mtime is not the host's scan time
    assert host.last_scan == bom_fr.scan_time


def test_a_matching_bom_link_serial_applies_strictly(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    bom = _load(realdata, BOM)
    bom["serialNumber"] = "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79"
    bom["components"] = bom["components"][1:]  # the BOM-Link decides, even without the purl
    other = _load(realdata, BOM)  # a second product with the same library, by purl only
    other["metadata"]["component"].update(name="other-app", purl="pkg:maven/com.example/other-app@1.0.0?type=jar")
    snap, report = build_snapshot([
        (F.CYCLONEDX, write_json("bom.json", bom)), (F.CYCLONEDX, write_json("other.json", other)),
        (F.CYCLONEDX, realdata / VEX),
    ])
    hosts = {h.id: h for h in snap.hosts}
    assert sorted(hosts) == ["example-app@1.0.0", "other-app@1.0.0"]
    assert [f.vuln for f in hosts["example-app@1.0.0"].findings] == ["CVE-2020-25649"]
    assert hosts["other-app@1.0.0"].findings == ()  # the BOM-Link named the first one only
    (vex_fr,) = [fr for fr in report.files if fr.vex]
    assert vex_fr.host_match is not None
    assert vex_fr.host_match.endswith("by BOM-Link urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79")


def _trivy_with_jackson(realdata: Path) -> dict[str, Any]:
    """The real UBI 7 Trivy report, its Python package turned into the Maven library the VEX names."""
    doc = _load(realdata, "scanners/trivy/trivy-ubi-7-comprehensive.json")
    lang = doc["Results"][1]
    lang["Type"] = "jar"
    v = lang["Vulnerabilities"][0]
    v.update(
        VulnerabilityID="CVE-2020-25649", PkgName="com.fasterxml.jackson.core:jackson-databind",
        InstalledVersion="2.10.0", FixedVersion="2.10.5.1", Severity="HIGH",
        PkgIdentifier={"PURL": PURL}, PkgPath="app/lib/jackson-databind-2.10.0.jar",
    )
    return doc


def test_vex_decides_the_status_of_a_scanner_finding(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    trivy = write_json("trivy.json", _trivy_with_jackson(realdata))
    snap, report = build_snapshot([(F.CYCLONEDX, realdata / VEX), (F.TRIVY, trivy)])
    (host,) = snap.hosts
    assert host.id == "ghcr.io/aquasecurity/trivy-test-images:ubi-7"
    f = next(f for f in host.findings if f.vuln == "CVE-2020-25649")
    assert f.id == "CVE-2020-25649/com.fasterxml.jackson.core:jackson-databind"
    assert (f.status, f.status_reason) == ("not_affected", "code_not_reachable")
    assert f.fixed_version == "2.10.5.1"  # the scanner's facts stay
    assert f.provenance["sources"] == "trivy,vex"
    assert f.severity == "high"  # the VEX's environmental "none" rating is not stricter
    assert len(host.findings) == 2
    vex_fr = next(fr for fr in report.files if fr.vex)
    (note,) = vex_fr.merged
    assert note.reason.startswith(
        "same vulnerability on the same package: CVE-2020-25649 on"
        " com.fasterxml.jackson.core:jackson-databind@2.10.0 (vex "
    )
    assert vex_fr.findings_written == 0


def test_statements_naming_nothing_read_keep_the_vex_host(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    vex = _load(realdata, VEX)
    stray = json.loads(json.dumps(vex["vulnerabilities"][0]))
    stray["id"] = "CVE-2021-20190"
    stray["affects"] = [{"ref": "urn:cdx:00000000-0000-0000-0000-000000000000/1#pkg:maven/org.example/nothing@1.0"}]
    vex["vulnerabilities"].append(stray)
    path = write_json("vex.json", vex)
    snap, report = build_snapshot([(F.CYCLONEDX, realdata / BOM), (F.CYCLONEDX, path)])
    hosts = {h.id: h for h in snap.hosts}
    assert sorted(hosts) == ["example-app@1.0.0", "vex.json"]
    assert [f.vuln for f in hosts["vex.json"].findings] == ["CVE-2021-20190"]
    kept = next(fr for fr in report.files if fr.host == "vex.json")
    assert kept.host_match == "1 VEX statements name no report of this import: kept as the VEX's own host"
    assert report.entries_read == report.findings_written + report.merged == 2
