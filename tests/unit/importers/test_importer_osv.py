"""OSV-Scanner JSON (v1 and v2 shapes): mapping checked against the real files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from patchpolicy.importers import ImporterFormat, build_snapshot
from patchpolicy.importers._common import semver_key

OSV = "scanners/osv-scanner"
WHEN = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def test_v1_go_and_cargo(realdata: Path) -> None:
    snap, report = build_snapshot(
        [(ImporterFormat.OSV_SCANNER, realdata / OSV / "osv-scanner-results-go-cargo.json")], scan_time=WHEN
    )
    (host,) = snap.hosts
    # the scanned project: the common directory of the lock files, by its name (issue 17 #5)
    assert host.id == "scorecard-check-osv-e2e"
    assert host.last_scan == WHEN
    gogo, regex = host.findings
    assert gogo.id == "GHSA-c3h9-896r-86jm/github.com/gogo/protobuf"
    assert gogo.aliases == ("CVE-2021-3121", "GO-2021-0053")
    assert gogo.fixed_version == "1.3.2"
    assert gogo.severity == "high"
    assert (gogo.cvss, gogo.cvss_source) == (8.6, "ghsa")  # CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:L/A:H
    assert gogo.published_at == datetime(2022, 3, 28, 20, 28, tzinfo=UTC)
    assert gogo.package is not None
    assert gogo.package.purl == "pkg:golang/github.com/gogo/protobuf@v1.3.1"
    assert gogo.package.ecosystem == "Go"
    assert regex.id == "GHSA-m5pq-gvj9-9vr8/regex"
    assert (regex.fixed_version, regex.cvss) == ("1.5.5", 7.5)
    assert regex.package is not None and regex.package.purl == "pkg:cargo/regex@1.5.1"
    assert (report.entries_read, report.findings_written, report.merged) == (4, 2, 2)
    assert all(m.reason.startswith("alias: ") for f in report.files for m in f.merged)


def test_v2_debian_go_cargo(realdata: Path) -> None:
    snap, report = build_snapshot(
        [(ImporterFormat.OSV_SCANNER, realdata / OSV / "osv-scanner-results-debian-go-cargo.json")],
        scan_time=WHEN,
    )
    (host,) = snap.hosts
    assert host.id == "configs"
    found = {f.id: f for f in host.findings}
    assert sorted(found) == [
        "CVE-2024-3847/chromium",
        "GHSA-mrrw-grhq-86gf/ascii",
        "GHSA-vvpx-j8f3-3w6h/golang.org/x/net",
        "GHSA-wcg3-cvx6-7396/time",
    ]
    chromium = found["CVE-2024-3847/chromium"]
    assert chromium.fixed_version is None and chromium.provenance["fix_state"] == "not-fixed"
    assert chromium.severity == "unknown"
    assert chromium.package is not None and chromium.package.purl == "pkg:deb/debian/chromium@73.0.3683.75-1"
    ascii_ = found["GHSA-mrrw-grhq-86gf/ascii"]
    assert (ascii_.severity, ascii_.fixed_version) == ("medium", "0.9.3")  # MODERATE
    net = found["GHSA-vvpx-j8f3-3w6h/golang.org/x/net"]
    assert net.fixed_version == "0.7.0"  # not stdlib's 1.19.6: another package
    assert net.aliases == ("CVE-2022-41723", "GO-2023-1571")
    time = found["GHSA-wcg3-cvx6-7396/time"]
    # GHSA says 0.1.x is affected up to 0.2 with no fix; RUSTSEC says fixed in 0.2.0
    assert time.fixed_version == "0.2.0"
    assert time.provenance["fixed_version"] == "from RUSTSEC-2020-0071"
    assert (report.entries_read, report.findings_written, report.merged) == (6, 4, 2)


def test_osv_reports_have_no_scan_time_so_the_file_mtime_is_used(realdata: Path) -> None:
    _, report = build_snapshot([(ImporterFormat.OSV_SCANNER, realdata / OSV / "osv-scanner-results-go-cargo.json")])
    assert [f.scan_time_source for f in report.files] == ["file_mtime"]


def test_semver_key_orders_like_semver() -> None:
    versions = ["0.0.0-0", "0.1", "0.1.45", "0.2.0-alpha.1", "0.2.0-alpha.beta", "0.2.0", "1.10.0", "v1.11.0"]
    keys = [semver_key(v) for v in versions]
    assert all(k is not None for k in keys)
    assert keys == sorted(keys)  # type: ignore[type-var]
    assert semver_key("73.0.3683.75-1") is None
