"""One fleet scanned by several tools: reports that name the same host (inventory id,
FQDN, IP address, instance id, image digest) are one host, and the same vulnerability on
the same package from two tools is one finding, each merge explained."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patchpolicy.importers import ImporterFormat, build_snapshot, run_import
from patchpolicy.model.fleet import FleetSnapshot, HostRecord

F = ImporterFormat

# A Nessus credentialed scan of the EC2 instance the real Inspector sample names
# (i-0b22a22eec53b9321, private address 10.52.88.71): hand-made, the Inspector file real.
NESSUS_EC2 = """<?xml version="1.0" ?>
<NessusClientData_v2><Report name="ec2">
<ReportHost name="10.52.88.71"><HostProperties>
<tag name="HOST_END_TIMESTAMP">1717232400</tag>
<tag name="host-ip">10.52.88.71</tag>
<tag name="host-fqdn">IP-10-52-88-71.ec2.internal.</tag>
</HostProperties>
<ReportItem port="0" svc_name="general" protocol="tcp" severity="1" pluginID="86895" pluginName="CentOS 7 : libxml2">
<risk_factor>Medium</risk_factor><solution>Update the affected libxml2 packages.</solution>
<cve>CVE-2015-8035</cve><cve>CVE-2015-8241</cve>
</ReportItem>
</ReportHost></Report></NessusClientData_v2>
"""


def _host(snap: Any, host_id: str) -> HostRecord:
    return next(h for h in snap.hosts if h.id == host_id)


def _trivy_named(realdata: Path, name: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    """The real Debian buster Trivy report, as if ``trivy rootfs`` ran on the host ``name``."""
    doc: dict[str, Any] = json.loads((realdata / "scanners/trivy/trivy-debian-buster.json").read_text())
    doc["ArtifactName"] = name
    doc["ArtifactType"] = "filesystem"
    doc.pop("Metadata")
    doc["Results"][0]["Vulnerabilities"] += extra
    return doc


# CVE-2006-1015 is in one ReportItem of the real Nessus file (plugin 31649, risk High).
PHP_VULN = {
    "VulnerabilityID": "CVE-2006-1015", "PkgName": "php5", "InstalledVersion": "5.1.6",
    "FixedVersion": "5.2.0", "Severity": "CRITICAL", "SeveritySource": "debian",
}


def test_nessus_and_trivy_for_one_fqdn_are_one_host_with_both_findings(
    realdata: Path, write_json: Callable[[str, object], Path], tmp_path: Path,
    validate: Callable[[Path], FleetSnapshot],
) -> None:
    nessus = realdata / "scanners/nessus/nessus-with-cvssv3.nessus"
    # DNS names match whatever their case, with or without the final dot
    trivy = write_json("rootfs.json", _trivy_named(realdata, "TestPHP.vulnweb.com.", [PHP_VULN]))
    out = tmp_path / "fleet.json"
    report = run_import([(F.NESSUS, nessus), (F.TRIVY, trivy)], out)
    alone_n, alone_report = build_snapshot([(F.NESSUS, nessus)])
    n_nessus = len(alone_n.hosts[0].findings)
    n_nessus_merged = len(alone_report.files[0].merged)  # the same plugin on two ports
    snap = validate(out)
    assert [h.id for h in snap.hosts] == ["testphp.vulnweb.com"]
    host = snap.hosts[0]
    # every Nessus finding, the two Debian ones, and the PHP CVE once (not twice)
    assert len(host.findings) == n_nessus + 2
    fr_n, fr_t = report.files
    assert fr_t.host == "testphp.vulnweb.com"
    assert fr_t.host_match == f"same host as nessus {nessus}: TestPHP.vulnweb.com."
    assert report.hosts_matched == 1
    assert fr_t.entries_read == fr_t.findings_written + len(fr_t.merged) == 3
    assert fr_n.entries_read == fr_n.findings_written + len(fr_n.merged)
    assert len(fr_n.merged) == n_nessus_merged + 1
    (note,) = [m for m in fr_n.merged if m.finding == "CVE-2006-1015/php5"]
    assert note.reason.startswith("same vulnerability: CVE-2006-1015 (nessus ")
    assert "names no package; it is the only finding of it on this host, on php5@5.1.6 (trivy " in note.reason
    assert note.reason.endswith("severities critical and high: critical kept")
    php = next(f for f in host.findings if f.vuln == "CVE-2006-1015")
    assert php.id == "CVE-2006-1015/php5" and php.package is not None and php.package.name == "php5"
    assert php.severity == "critical"
    assert php.provenance["sources"] == "nessus,trivy"
    assert php.provenance["nessus_plugin"] == "31649"  # the Nessus side is still named
    assert php.patch is not None and php.patch.startswith("Upgrade to PHP")  # Trivy had none
    assert php.fixed_version == "5.2.0"
    assert host.labels["nessus-ip"] == "44.228.249.3"
    lines = report.lines()
    assert f"{trivy}: trivy: host testphp.vulnweb.com (same host as nessus {nessus}: TestPHP.vulnweb.com.): " in "\n".join(lines)
    assert any(line.startswith("  merged into testphp.vulnweb.com CVE-2006-1015/php5: same vulnerability") for line in lines)


def test_the_stricter_severity_is_kept_whichever_tool_says_it(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    nessus = realdata / "scanners/nessus/nessus-with-cvssv3.nessus"
    low = dict(PHP_VULN, Severity="LOW")
    trivy = write_json("rootfs.json", _trivy_named(realdata, "testphp.vulnweb.com", [low]))
    snap, report = build_snapshot([(F.TRIVY, trivy), (F.NESSUS, nessus)])
    php = next(f for f in snap.hosts[0].findings if f.vuln == "CVE-2006-1015")
    assert php.severity == "high"
    assert php.provenance["severity"] == "nessus (stricter than trivy low)"
    # the Trivy report came first: its name is the host id; Nessus matched it
    assert report.files[1].host_match == f"same host as trivy {trivy}: testphp.vulnweb.com"


def test_inventory_joins_a_container_scan_to_the_server_by_its_aliases(
    realdata: Path, tmp_path: Path,
) -> None:
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "hosts:\n"
        "  - id: web-prod-1\n"
        "    artifacts: [44.228.249.3, ghcr.io/aquasecurity/trivy-test-images:debian-buster]\n"
        "    env: prod\n"
    )
    snap, report = build_snapshot(
        [(F.NESSUS, realdata / "scanners/nessus/nessus-with-cvssv3.nessus"),
         (F.TRIVY, realdata / "scanners/trivy/trivy-debian-buster.json")],
        inventory=inv,
    )
    assert [h.id for h in snap.hosts] == ["web-prod-1"]
    assert {f.host for f in report.files} == {"web-prod-1"}
    assert snap.hosts[0].env == "prod"
    assert {f.vuln for f in snap.hosts[0].findings} >= {"CVE-2019-18224", "CVE-2019-18276", "CVE-2006-1015"}


def test_inspector_and_nessus_meet_on_the_instance_address(realdata: Path, tmp_path: Path) -> None:
    nessus = tmp_path / "ec2.nessus"
    nessus.write_text(NESSUS_EC2)
    inspector = realdata / "scanners/aws-inspector2/inspector2-many-vul.json"
    snap, report = build_snapshot([(F.AWS_INSPECTOR2, inspector), (F.NESSUS, nessus)])
    ec2 = _host(snap, "i-0b22a22eec53b9321")
    assert len(snap.hosts) == 2  # the instance and the ECR image; no third host
    fr = next(f for f in report.files if f.format is F.NESSUS)
    assert fr.host_match == f"same host as aws-inspector2 {inspector}: 10.52.88.71"
    # CVE-2015-8035 is on libxml2 and libxml2-python in Inspector: which one Nessus means
    # is unknown, so its entry stays a finding of its own, said in the summary.
    vulns = sorted(f.id for f in ec2.findings)
    assert vulns == [
        "CVE-2015-8035",
        "CVE-2015-8035/libxml2",
        "CVE-2015-8035/libxml2-python",
        "CVE-2015-8241",
    ]
    (kept,) = fr.kept_apart
    assert kept.finding == "CVE-2015-8035"
    assert kept.reason == (
        "CVE-2015-8035 names no package, and other tools have it on 2 packages"
        " (libxml2-python@2.9.1-6.el7_2.3, libxml2@2.9.1-6.el7_2.3): not merged"
    )
    assert fr.entries_read == fr.findings_written + len(fr.merged) == 2
    assert any(line.startswith("  kept apart i-0b22a22eec53b9321 CVE-2015-8035: ") for line in report.lines())
    assert ec2.labels["nessus-fqdn"] == "IP-10-52-88-71.ec2.internal."


def _grype_of_alpine(realdata: Path) -> dict[str, Any]:
    """A Grype report (the real presenter sample's shape) on the image of the real Trivy
    alpine-310 report: same image id, libssl1.1 located where Grype puts apk packages."""
    doc: dict[str, Any] = json.loads((realdata / "scanners/grype/grype-json-presenter-image.json").read_text())
    target = doc["source"]["target"]
    target["userInput"] = "alpine-310.tar"
    target["imageID"] = "sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4"
    target["manifestDigest"] = "sha256:" + "1" * 64
    target["tags"], target["repoDigests"] = [], []
    match = doc["matches"][0]
    match["vulnerability"].update(id="CVE-2019-1549", severity="High", namespace="alpine:distro:alpine:3.10")
    match["vulnerability"].pop("knownExploited", None)
    match["relatedVulnerabilities"] = []
    match["artifact"].update(
        name="libssl1.1", version="1.1.1c-r0", type="apk", purl="pkg:apk/alpine/libssl1.1@1.1.1c-r0?arch=x86_64",
        locations=[{"path": "/lib/apk/db/installed"}],
    )
    doc["matches"] = [match]
    return doc


def test_trivy_and_grype_of_one_image_merge_by_image_id_and_package(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    trivy = realdata / "scanners/trivy/trivy-alpine-310.json"
    grype = write_json("grype.json", _grype_of_alpine(realdata))
    snap, report = build_snapshot([(F.TRIVY, trivy), (F.GRYPE, grype)])
    (host,) = snap.hosts
    assert len(host.findings) == 4  # Trivy's four; Grype's one is one of them
    fr_g = report.files[1]
    assert fr_g.host_match is not None and fr_g.host_match.endswith(
        ": sha256:961769676411f082461f9ef46626dd7a2d1e2b2a38e6a44364bcbecf51e66dd4"
    )
    (note,) = fr_g.merged
    assert note.finding == "CVE-2019-1549/libssl1.1"
    assert note.reason.startswith(
        "same vulnerability on the same package: CVE-2019-1549 on libssl1.1@1.1.1c-r0 (grype "
    )
    assert "at /lib/apk/db/installed) is CVE-2019-1549 (trivy " in note.reason
    assert note.reason.endswith("severities medium and high: high kept")
    f = next(f for f in host.findings if f.id == "CVE-2019-1549/libssl1.1")
    assert (f.severity, f.provenance["sources"], f.provenance["merged_entries"]) == ("high", "grype,trivy", "2")


def test_one_tool_twice_at_two_locations_is_ambiguous_for_the_other(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    doc: dict[str, Any] = json.loads((realdata / "scanners/trivy/trivy-alpine-310.json").read_text())
    vulns = doc["Results"][0]["Vulnerabilities"]
    second = dict(vulns[2], PkgPath="usr/lib/other/libssl")  # libssl1.1 a second time, elsewhere
    vulns.append(second)
    trivy = write_json("trivy.json", doc)
    grype = write_json("grype.json", _grype_of_alpine(realdata))
    snap, report = build_snapshot([(F.TRIVY, trivy), (F.GRYPE, grype)])
    fr_g = report.files[1]
    assert fr_g.merged == [] and fr_g.findings_written == 1
    (kept,) = fr_g.kept_apart
    assert kept.reason == (
        "CVE-2019-1549 on libssl1.1@1.1.1c-r0 could be any of the findings of the package at"
        " several locations (2 of trivy): not merged"
    )
    assert len(snap.hosts[0].findings) == 6


def test_inventory_keeps_apart_hosts_that_share_an_address(realdata: Path, tmp_path: Path) -> None:
    nessus = tmp_path / "ec2.nessus"
    nessus.write_text(NESSUS_EC2)
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        "hosts:\n  - id: i-0b22a22eec53b9321\n  - id: nat-box\n    artifacts: [10.52.88.71]\n"
    )
    snap, report = build_snapshot(
        [(F.AWS_INSPECTOR2, realdata / "scanners/aws-inspector2/inspector2-many-vul.json"), (F.NESSUS, nessus)],
        inventory=inv,
    )
    assert {"i-0b22a22eec53b9321", "nat-box"} <= {h.id for h in snap.hosts}
    assert next(f for f in report.files if f.format is F.NESSUS).host == "nat-box"


@pytest.mark.parametrize("order", [0, 1])
def test_cross_tool_merge_does_not_depend_on_input_order_for_findings(
    realdata: Path, write_json: Callable[[str, object], Path], order: int,
) -> None:
    trivy = realdata / "scanners/trivy/trivy-alpine-310.json"
    grype = write_json("grype.json", _grype_of_alpine(realdata))
    inputs = [(F.TRIVY, trivy), (F.GRYPE, grype)]
    snap, _ = build_snapshot(inputs if order == 0 else inputs[::-1])
    f = next(f for h in snap.hosts for f in h.findings if f.vuln == "CVE-2019-1549" and f.package and f.package.name == "libssl1.1")
    assert f.id == "CVE-2019-1549/libssl1.1" and f.severity == "high"


def test_two_nessus_plugins_on_one_cve_both_join_the_package_finding(
    realdata: Path, write_json: Callable[[str, object], Path], tmp_path: Path,
) -> None:
    # A distro-advisory plugin and a version-check plugin name the same CVE (hand-made).
    nessus = tmp_path / "two.nessus"
    nessus.write_text(NESSUS_EC2.replace(
        "</ReportHost>",
        '<ReportItem port="443" svc_name="www" protocol="tcp" severity="3" pluginID="99999"'
        ' pluginName="libxml2 &lt; 2.9.3"><risk_factor>High</risk_factor><cve>CVE-2015-8241</cve>'
        "</ReportItem></ReportHost>",
    ).replace("10.52.88.71", "203.0.113.9"))
    trivy = _trivy_named(realdata, "203.0.113.9", [{
        "VulnerabilityID": "CVE-2015-8241", "PkgName": "libxml2", "InstalledVersion": "2.9.1",
        "Severity": "MEDIUM",
    }])
    snap, report = build_snapshot([(F.NESSUS, nessus), (F.TRIVY, write_json("t.json", trivy))])
    (host,) = snap.hosts
    (f,) = [f for f in host.findings if f.vuln == "CVE-2015-8241"]
    assert f.id == "CVE-2015-8241/libxml2"
    assert f.severity == "high"  # the version-check plugin's, the stricter
    assert f.provenance["merged_entries"] == "3"
    fr_n = report.files[0]
    assert [m.finding for m in fr_n.merged] == ["CVE-2015-8241/libxml2", "CVE-2015-8241/libxml2"]
    assert fr_n.kept_apart == []


def test_trivy_and_inspector_meet_on_the_ecr_digest(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    digest = "sha256:d667ad018b538adadb5bd1db75836c8561b23bc7d31d9cd8941fa74f5df93802"
    repo = "012345678901.dkr.ecr.us-east-1.amazonaws.com/my-awesome-docker-image"
    doc: dict[str, Any] = json.loads((realdata / "scanners/trivy/trivy-debian-buster.json").read_text())
    doc["ArtifactName"] = f"{repo}:2.3.0"
    doc["Metadata"].update(RepoTags=[f"{repo}:2.3.0"], RepoDigests=[f"{repo}@{digest}"], ImageID="sha256:" + "2" * 64)
    doc["Results"][0]["Vulnerabilities"].append({
        "VulnerabilityID": "CVE-2022-29824", "PkgName": "libxml2", "InstalledVersion": "2.9.4+dfsg1-7+b3",
        "FixedVersion": "2.9.4+dfsg1-7+deb10u4", "Severity": "MEDIUM",
    })
    trivy = write_json("trivy.json", doc)
    inspector = realdata / "scanners/aws-inspector2/inspector2-many-vul.json"
    snap, report = build_snapshot([(F.TRIVY, trivy), (F.AWS_INSPECTOR2, inspector)])
    image = _host(snap, f"{repo}:2.3.0")
    assert len(snap.hosts) == 2  # the image (both tools) and the EC2 instance
    ecr = next(f for f in report.files if f.format is F.AWS_INSPECTOR2 and f.host == image.id)
    assert ecr.host_match == f"same host as trivy {trivy}: {repo}@{digest}"
    libxml2 = sorted(f.id for f in image.findings if f.vuln == "CVE-2022-29824")
    # Inspector lists two libxml2 builds; Trivy's (-7+b3) is one of them, merged; -7 stays
    assert libxml2 == ["CVE-2022-29824/libxml2@2.9.4+dfsg1-7", "CVE-2022-29824/libxml2@2.9.4+dfsg1-7+b3"]
    merged = next(f for f in image.findings if f.id == "CVE-2022-29824/libxml2@2.9.4+dfsg1-7+b3")
    assert merged.provenance["sources"] == "aws-inspector2,trivy"
    assert [m.finding for m in ecr.merged] == ["CVE-2022-29824/libxml2@2.9.4+dfsg1-7+b3"]
    assert image.labels["aws:ecr-repository"] == "my-awesome-docker-image"  # Inspector's labels kept


def test_an_address_one_tool_gives_two_hosts_matches_nothing(
    realdata: Path, write_json: Callable[[str, object], Path], tmp_path: Path,
) -> None:
    # A second instance with the same private address (another VPC): derived from the real file.
    doc: dict[str, Any] = json.loads((realdata / "scanners/aws-inspector2/inspector2-many-vul.json").read_text())
    ec2 = next(f for f in doc["findings"] if f["resources"][0]["type"] == "AWS_EC2_INSTANCE")
    twin = json.loads(json.dumps(ec2))
    twin["resources"][0]["id"] = "i-0aaaaaaaaaaaaaaa1"
    twin["findingArn"] = ec2["findingArn"] + "-twin"
    doc["findings"].append(twin)
    inspector = write_json("inspector.json", doc)
    nessus = tmp_path / "ec2.nessus"
    nessus.write_text(NESSUS_EC2)
    snap, report = build_snapshot([(F.AWS_INSPECTOR2, inspector), (F.NESSUS, nessus)])
    ids = {h.id for h in snap.hosts}
    assert {"i-0b22a22eec53b9321", "i-0aaaaaaaaaaaaaaa1", "IP-10-52-88-71.ec2.internal."} <= ids
    fr = next(f for f in report.files if f.format is F.NESSUS)
    assert fr.host == "IP-10-52-88-71.ec2.internal."
    assert fr.host_match == (
        "not matched by 10.52.88.71: aws-inspector2 gives it to 2 hosts (i-0aaaaaaaaaaaaaaa1, i-0b22a22eec53b9321)"
    )
    assert report.hosts_matched == 0


def test_nessus_and_qualys_on_one_address_and_cve_give_one_finding(tmp_path: Path, realdata: Path) -> None:
    # The real Qualys VMDR export says CVE-2023-0001 (low) on SERVER01, 192.168.1.10; a
    # hand-made Nessus scan of that address says it too, as Medium. Neither names a package.
    nessus = tmp_path / "server01.nessus"
    nessus.write_text(
        NESSUS_EC2.replace("10.52.88.71", "192.168.1.10")
        .replace("IP-10-52-88-71.ec2.internal.", "server01.corp.example")
        .replace("<cve>CVE-2015-8035</cve><cve>CVE-2015-8241</cve>", "<cve>CVE-2023-0001</cve>")
    )
    qualys = realdata / "scanners/qualys/qualys-vmdr-many-vulns-cve.csv"
    snap, report = build_snapshot([(F.QUALYS, qualys), (F.NESSUS, nessus)])
    host = _host(snap, "SERVER01")
    fr_n = next(f for f in report.files if f.format is F.NESSUS)
    assert fr_n.host == "SERVER01" and fr_n.host_match == f"same host as qualys {qualys}: 192.168.1.10"
    (f,) = [f for f in host.findings if f.vuln == "CVE-2023-0001"]
    assert f.severity == "medium" and f.provenance["sources"] == "nessus,qualys"
    assert f.provenance["nessus_plugin"] == "86895" and f.provenance["qualys_qid"] == "800001"
    (note,) = fr_n.merged
    assert note.reason.endswith("neither names a package; severities low and medium: medium kept")
    assert fr_n.entries_read == fr_n.findings_written + len(fr_n.merged) == 1
