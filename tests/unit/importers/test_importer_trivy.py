"""Trivy JSON: field mapping checked against values read by hand from the real files."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, get_importer
from patchpolicy.importers._common import cvss3_base_score
from patchpolicy.model.fleet import FindingRecord, HostRecord

TRIVY = "scanners/trivy"


def _only_host(realdata: Path, name: str) -> HostRecord:
    snap, _ = build_snapshot([(ImporterFormat.TRIVY, realdata / TRIVY / name)])
    assert len(snap.hosts) == 1
    return snap.hosts[0]


def _by_id(host: HostRecord) -> dict[str, FindingRecord]:
    return {f.id: f for f in host.findings}


def test_debian_buster(realdata: Path) -> None:
    host = _only_host(realdata, "trivy-debian-buster.json")
    # read from an archive (--input): named by the image's RepoTag, not the path (issue 17 #5)
    assert host.id == "ghcr.io/aquasecurity/trivy-test-images:debian-buster"
    assert host.name == host.id
    assert host.os is not None and (host.os.family, host.os.version) == ("debian", "10.1")
    assert host.last_scan == datetime(2021, 8, 25, 12, 20, 30, tzinfo=UTC)
    found = _by_id(host)
    assert sorted(found) == ["CVE-2019-18224/libidn2-0", "CVE-2019-18276/bash"]
    idn = found["CVE-2019-18224/libidn2-0"]
    assert idn.vuln == "CVE-2019-18224"
    assert idn.severity == "critical"
    assert idn.fixed_version == "2.0.5-1+deb10u1"
    assert idn.patch == "DSA-4613-1"
    assert (idn.cvss, idn.cvss_source) == (9.8, "nvd")
    assert idn.provenance["cvss"] == "nvd v3"
    assert idn.published_at == datetime(2019, 10, 21, 17, 15, tzinfo=UTC)
    assert idn.first_seen_at == host.last_scan
    assert idn.provenance["first_seen_at"] == "scan_time"
    assert idn.package is not None
    assert idn.package.version == "2.0.5-1"
    assert idn.package.purl == "pkg:deb/debian/libidn2-0@2.0.5-1?arch=amd64&distro=debian-10.1"
    bash = found["CVE-2019-18276/bash"]
    assert bash.severity == "low"
    assert bash.provenance["severity"] == "debian"
    assert bash.fixed_version is None
    assert bash.provenance["fix_state"] == "not-fixed"
    assert (bash.cvss, bash.cvss_source) == (7.8, "nvd")
    assert bash.status == "open"


def test_ubi7_will_not_fix_drops_the_fix(realdata: Path) -> None:
    found = _by_id(_only_host(realdata, "trivy-ubi-7-comprehensive.json"))
    bash = found["CVE-2019-18276/bash"]
    assert bash.fixed_version is None
    assert bash.provenance["fix_state"] == "wont-fix"
    assert bash.severity == "low"
    setuptools = found["CVE-2022-40897/setuptools"]
    assert setuptools.severity == "high"
    assert setuptools.fixed_version == "65.5.1"
    assert (setuptools.cvss, setuptools.cvss_source) == (5.9, "nvd")
    assert setuptools.package is not None and setuptools.package.purl == "pkg:pypi/setuptools@0.9.8"
    assert setuptools.published_at == datetime(2022, 12, 23, 0, 15, 13, 987000, tzinfo=UTC)


def test_amazon_vm_keeps_rpm_epochs(realdata: Path) -> None:
    host = _only_host(realdata, "trivy-amazonlinux2-vm.json")
    assert host.id == "disk.img"
    assert host.os is not None and host.os.version == "2 (Karoo)"
    (f,) = host.findings
    assert f.id == "CVE-2022-38177/bind-export-libs"
    assert f.package is not None and f.package.version == "32:9.11.4-26.P2.amzn2.5.2"
    assert f.fixed_version == "99:9.11.4-26.P2.amzn2.13"
    assert f.severity == "medium"


def test_gomod_repository_edge_cases(realdata: Path) -> None:
    host = _only_host(realdata, "trivy-gomod.json")
    assert host.id == "gomod"  # a local checkout: its directory's name (issue 17 #5)
    assert host.os is None
    found = _by_id(host)
    # GMS-2022-20 on the same module in three go.mod files: three findings, ids by path.
    assert sorted(k for k in found if k.startswith("GMS-2022-20/")) == [
        "GMS-2022-20/github.com/docker/distribution#go.mod",
        "GMS-2022-20/github.com/docker/distribution#submod/go.mod",
        "GMS-2022-20/github.com/docker/distribution#submod2/go.mod",
    ]
    gms = found["GMS-2022-20/github.com/docker/distribution#go.mod"]
    assert gms.severity == "unknown"
    assert gms.cvss is None and gms.published_at is None
    assert gms.fixed_version == "v2.8.0"
    opa = found["CVE-2022-23628/github.com/open-policy-agent/opa"]
    assert opa.fixed_version == "0.37.0" and opa.package is not None
    assert opa.package.version == "v0.35.0"
    assert (opa.cvss, opa.severity) == (5.3, "medium")
    assert len(found) == 5


def test_alpine_four_findings(realdata: Path) -> None:
    found = _by_id(_only_host(realdata, "trivy-alpine-310.json"))
    assert sorted(found) == [
        "CVE-2019-1549/libcrypto1.1",
        "CVE-2019-1549/libssl1.1",
        "CVE-2019-1551/libcrypto1.1",
        "CVE-2019-1551/libssl1.1",
    ]
    assert found["CVE-2019-1551/libssl1.1"].fixed_version == "1.1.1d-r2"


def test_unknown_severity_is_an_error_with_the_json_path(
    realdata: Path, write_json: Callable[[str, object], Path]
) -> None:
    doc = json.loads((realdata / TRIVY / "trivy-debian-buster.json").read_text())
    doc["Results"][0]["Vulnerabilities"][1]["Severity"] = "SEVERE"
    p = write_json("trivy.json", doc)
    with pytest.raises(ImporterError) as e:
        get_importer(ImporterFormat.TRIVY).load(p, "trivy.json")
    assert str(e.value) == "trivy.json: $.Results[0].Vulnerabilities[1].Severity: unknown severity 'SEVERE'"


def test_unknown_status_and_schema_version_are_errors(
    realdata: Path, write_json: Callable[[str, object], Path]
) -> None:
    doc = json.loads((realdata / TRIVY / "trivy-debian-buster.json").read_text())
    doc["Results"][0]["Vulnerabilities"][0]["Status"] = "patched-maybe"
    with pytest.raises(ImporterError, match=r"Vulnerabilities\[0\]\.Status: unknown Trivy status"):
        get_importer(ImporterFormat.TRIVY).load(write_json("a.json", doc))
    doc["SchemaVersion"] = 1
    with pytest.raises(ImporterError, match=r"\$\.SchemaVersion: unsupported Trivy SchemaVersion 1"):
        get_importer(ImporterFormat.TRIVY).load(write_json("b.json", doc))


def test_purl_is_built_exactly_where_trivy_gives_none(
    realdata: Path, write_json: Callable[[str, object], Path]
) -> None:
    doc = json.loads((realdata / TRIVY / "trivy-amazonlinux2-vm.json").read_text())
    del doc["Results"][0]["Vulnerabilities"][0]["PkgIdentifier"]
    gomod = json.loads((realdata / TRIVY / "trivy-gomod.json").read_text())
    for result in gomod["Results"]:
        for v in result["Vulnerabilities"]:
            del v["PkgIdentifier"]
    rep = get_importer(ImporterFormat.TRIVY).load(write_json("vm.json", doc))
    pkg = rep.entries[0].package
    assert pkg is not None
    assert pkg.purl == "pkg:rpm/amazon/bind-export-libs@9.11.4-26.P2.amzn2.5.2?epoch=32"
    assert rep.entries[0].provenance["purl"] == "built"
    rep = get_importer(ImporterFormat.TRIVY).load(write_json("gomod.json", gomod))
    purls = {e.package.purl for e in rep.entries if e.package is not None}
    # The same purls Trivy itself wrote in the original file.
    assert "pkg:golang/github.com/docker/distribution@v2.7.1%2Bincompatible" in purls
    assert "pkg:golang/golang.org/x/text@v0.3.6" in purls


def test_cvss3_calculator_agrees_with_trivy_scores(realdata: Path) -> None:
    checked = 0
    for path in sorted((realdata / TRIVY).glob("trivy-*.json")):
        doc = json.loads(path.read_text())
        for result in doc.get("Results", []):
            for v in result.get("Vulnerabilities", []):
                for source, c in v.get("CVSS", {}).items():
                    if "V3Vector" not in c:
                        continue
                    # The amazon VM golden pairs a local/scope-changed vector with the
                    # network vector's 7.5; the calculator says 6.0 for that vector.
                    if c["V3Vector"] == "CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:C/C:H/I:N/A:N":
                        assert cvss3_base_score(c["V3Vector"]) == 6.0
                        continue
                    assert cvss3_base_score(c["V3Vector"]) == c["V3Score"], (path.name, source)
                    checked += 1
    assert checked == 16
    assert cvss3_base_score("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N") == 6.1
    assert cvss3_base_score("AV:N/AC:L/Au:N/C:P/I:P/A:P") is None
    assert cvss3_base_score("CVSS:3.1/AV:N") is None
