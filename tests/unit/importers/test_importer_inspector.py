"""AWS Inspector v2 findings: the real export maps as read by hand; pages back to back are
read; broken input names its JSON path."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, get_importer
from patchpolicy.importers.inspector import SUPPRESSED_REASON

F = ImporterFormat.AWS_INSPECTOR2
MANY = "scanners/aws-inspector2/inspector2-many-vul.json"
ECR = (
    "012345678901.dkr.ecr.us-east-1.amazonaws.com/my-awesome-docker-image"
    "@sha256:d667ad018b538adadb5bd1db75836c8561b23bc7d31d9cd8941fa74f5df93802"
)
EC2 = "i-0b22a22eec53b9321"


def _raw_entries(doc: dict[str, Any]) -> int:
    """Entries counted from the JSON, independently of the importer: one per vulnerable
    package (one for a finding without packages), on each resource."""
    return sum(
        max(1, len(f.get("packageVulnerabilityDetails", {}).get("vulnerablePackages", []))) * len(f["resources"])
        for f in doc["findings"]
    )


def _load(realdata: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((realdata / MANY).read_text())
    return doc


def test_real_export_counts_in_equal_counts_out(realdata: Path) -> None:
    path = realdata / MANY
    reports = get_importer(F).load_reports(path)
    # 8 findings on 2 resources: 7 on one ECR image, 1 on one EC2 instance
    assert [r.host_id for r in reports] == [ECR, EC2]
    assert sum(len(r.entries) for r in reports) == _raw_entries(_load(realdata)) == 10
    snap, report = build_snapshot([(F, path)])
    assert (report.entries_read, report.findings_written, report.merged) == (10, 10, 0)
    assert [h.id for h in snap.hosts] == sorted([ECR, EC2])
    for fr in report.files:
        assert fr.scan_time_source == "report"
        assert fr.entries_read == fr.findings_written + len(fr.merged)


def test_ecr_host_and_findings_read_by_hand(realdata: Path) -> None:
    snap, report = build_snapshot([(F, realdata / MANY)])
    host = next(h for h in snap.hosts if h.id == ECR)
    assert host.name == "my-awesome-docker-image:2.3.0"
    assert host.labels["aws:ecr-repository"] == "my-awesome-docker-image"
    assert host.labels["aws:ecr-tags"] == "2.3.0"
    assert host.labels["aws:ecr-digest"].startswith("sha256:d667ad01")
    assert host.os is not None and (host.os.family, host.os.version) == ("debian", "10")
    # scan time: the latest lastObservedAt of the image's findings (CVE-2023-42753, CVE-2020-27170)
    assert host.last_scan == datetime(2024, 7, 31, 15, 59, 32, tzinfo=UTC)
    by_id = {f.id: f for f in host.findings}
    # CVE-2021-3744: CLOSED -> fixed at updatedAt 2024-06-14T04:03:53.051+02:00
    closed = by_id["CVE-2021-3744/linux"]
    assert closed.status == "fixed"
    assert closed.fixed_at == datetime(2024, 6, 14, 2, 3, 53, 51000, tzinfo=UTC)
    assert closed.provenance["fixed_at"] == "updatedAt"
    # firstObservedAt 2024-02-02T16:30:33.045+01:00 is first_seen_at, not the scan time
    assert closed.first_seen_at == datetime(2024, 2, 2, 15, 30, 33, 45000, tzinfo=UTC)
    assert closed.provenance["first_seen_at"] == "firstObservedAt"
    assert (closed.package and closed.package.version, closed.fixed_version) == ("4.19.118-2", "4.19.232-1")
    assert (closed.cvss, closed.cvss_source, closed.epss) == (5.5, "nvd", 0.00075)
    # CVE-2024-37021: fixAvailable NO, fixedInVersion NotAvailable, UNTRIAGED
    nofix = by_id["CVE-2024-37021/linux"]
    assert (nofix.fixed_version, nofix.provenance["fix_available"], nofix.severity) == (None, "no", "unknown")
    assert nofix.patch is None and nofix.cvss is None
    # CVE-2023-42753: exploitAvailable YES, lastKnownExploitAt kept
    exploited = by_id["CVE-2023-42753/linux"]
    assert exploited.provenance["exploit_available"] == "yes"
    assert exploited.provenance["last_known_exploit_at"] == "2024-07-30T07:04:56Z"
    assert (exploited.severity, exploited.cvss, exploited.epss) == ("high", 7.8, 0.00044)
    # CVE-2022-29824 names libxml2 twice (releases 7+b3 and 7): two findings, told apart by version
    assert {"CVE-2022-29824/libxml2@2.9.4+dfsg1-7", "CVE-2022-29824/libxml2@2.9.4+dfsg1-7+b3"} <= set(by_id)
    assert by_id["CVE-2022-29824/libxml2@2.9.4+dfsg1-7"].package.purl == (  # type: ignore[union-attr]
        "pkg:deb/debian/libxml2@2.9.4%2Bdfsg1-7?arch=amd64"
    )
    assert report.hosts == 2


def test_ec2_host_read_by_hand(realdata: Path) -> None:
    snap, _ = build_snapshot([(F, realdata / MANY)])
    host = next(h for h in snap.hosts if h.id == EC2)
    assert (host.name, host.labels["Backup_Policy"], host.labels["aws:ec2-instance-type"]) == (
        "my-instance", "Monthly", "t3a.2xlarge",
    )
    assert host.last_scan == datetime(2024, 3, 19, 14, 31, 8, 6000, tzinfo=UTC)
    assert [f.id for f in host.findings] == ["CVE-2015-8035/libxml2", "CVE-2015-8035/libxml2-python"]
    f = host.findings[0]
    assert (f.severity, f.cvss, f.provenance["cvss"], f.fixed_version) == ("low", 2.6, "nvd v2", "2.9.1-6.el7.4")
    assert f.published_at == datetime(2015, 11, 18, 16, 59, 9, tzinfo=UTC)  # vendorCreatedAt
    assert f.package is not None and f.package.purl == "pkg:rpm/centos/libxml2@2.9.1-6.el7_2.3?arch=x86_64"
    assert f.patch == "yum update libxml2"
    # the EC2 instance's addresses are host keys, for matching a network scanner's report
    rep = get_importer(F).load_reports(realdata / MANY)[1]
    assert rep.host_keys == (EC2, "8.84.11.16", "10.52.88.71")


def test_pages_back_to_back_and_a_repeated_finding_is_an_explained_merge(
    realdata: Path, tmp_path: Path
) -> None:
    doc = _load(realdata)
    findings = doc["findings"]
    page1 = {"findings": findings[:5], "nextToken": "abc"}
    page2 = {"findings": [*findings[5:], findings[2]]}  # the export overlapped by one finding
    path = tmp_path / "pages.json"
    path.write_text(json.dumps(page1, indent=1) + "\n" + json.dumps(page2))
    snap, report = build_snapshot([(F, path)])
    assert report.entries_read == 11
    assert (report.findings_written, report.merged) == (10, 1)
    (note,) = [m for fr in report.files for m in fr.merged]
    assert note.finding == "CVE-2021-3640/linux"
    assert note.reason.startswith("duplicate: CVE-2021-3640 on linux@4.19.118-2 at ")
    assert "(document 2) $.findings[3]" in note.reason


def test_suppressed_and_epoch_times(write_json: Callable[[str, object], Path], realdata: Path) -> None:
    f = _load(realdata)["findings"][7]
    f["status"] = "SUPPRESSED"
    f["lastObservedAt"] = 1710858668.006  # AWS CLI v1 writes epoch seconds
    path = write_json("s.json", {"findings": [f]})
    rep = get_importer(F).load(path)
    assert rep.scan_time == datetime.fromtimestamp(1710858668.006, UTC)
    snap, _ = build_snapshot([(F, path)])
    for finding in snap.hosts[0].findings:
        assert (finding.status, finding.status_reason) == ("not_affected", SUPPRESSED_REASON)


def test_closed_without_updated_at_is_fixed_at_last_observed(
    write_json: Callable[[str, object], Path], realdata: Path
) -> None:
    f = _load(realdata)["findings"][0]
    del f["updatedAt"]
    snap, _ = build_snapshot([(F, write_json("c.json", {"findings": [f]}))])
    (finding,) = snap.hosts[0].findings
    assert finding.provenance["fixed_at"] == "lastObservedAt"
    assert finding.fixed_at == datetime(2024, 6, 14, 4, 3, 53, 51000, tzinfo=timezone(timedelta(hours=2)))


def test_lambda_function_is_a_host(write_json: Callable[[str, object], Path], realdata: Path) -> None:
    # The resource block follows the ListFindings shape for a Lambda function (no public
    # sample was found); the finding body is the real one.
    f = _load(realdata)["findings"][7]
    arn = "arn:aws:lambda:us-east-1:012345678901:function:thumbnailer:$LATEST"
    f["resources"] = [{
        "type": "AWS_LAMBDA_FUNCTION", "id": arn, "region": "us-east-1", "partition": "aws",
        "details": {"awsLambdaFunction": {"functionName": "thumbnailer", "runtime": "PYTHON_3_12", "version": "$LATEST"}},
    }]
    for p in f["packageVulnerabilityDetails"]["vulnerablePackages"]:
        p.update(packageManager="PIP", filePath="/var/task/requirements.txt", release=None, epoch=None)
    rep = get_importer(F).load(write_json("l.json", {"findings": [f]}))
    assert (rep.host_id, rep.host_name, rep.labels["aws:lambda-runtime"]) == (arn, "thumbnailer", "PYTHON_3_12")
    assert rep.entries[0].package is not None and rep.entries[0].package.purl == "pkg:pypi/libxml2@2.9.1"
    assert rep.entries[0].location == "/var/task/requirements.txt"


def test_a_file_with_no_findings_names_no_host(realdata: Path) -> None:
    path = realdata / "scanners/aws-inspector2/inspector2-zero-vul.json"
    assert get_importer(F).load_reports(path) == []


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda f: f.update(status="OPEN"), r"\$\.findings\[0\]\.status: unknown Inspector status 'OPEN'"),
        (lambda f: f.update(severity="SEVERE"), r"\$\.findings\[0\]\.severity: unknown Inspector severity"),
        (lambda f: f.update(resources=[]), r"\$\.findings\[0\]\.resources: a finding must name at least one"),
        (lambda f: f.pop("lastObservedAt"), r"\$\.findings\[0\]: missing required field 'lastObservedAt'"),
        (lambda f: f.update(firstObservedAt="yesterday"), r"\$\.findings\[0\]\.firstObservedAt: invalid timestamp"),
        (lambda f: f["epss"].update(score=3), r"\$\.findings\[0\]\.epss\.score: EPSS score 3\.0 is outside 0\.\.1"),
        (
            lambda f: f["packageVulnerabilityDetails"]["vulnerablePackages"][0].pop("name"),
            r"\$\.findings\[0\]\.packageVulnerabilityDetails\.vulnerablePackages\[0\]: missing required field 'name'",
        ),
    ],
)
def test_malformed_findings_name_their_json_path(
    write_json: Callable[[str, object], Path], realdata: Path, edit: Callable[[dict[str, Any]], object], where: str
) -> None:
    f = _load(realdata)["findings"][7]
    edit(f)
    path = write_json("bad.json", {"findings": [f]})
    with pytest.raises(ImporterError, match=r"^" + str(path).replace(".", r"\.") + ": " + where):
        get_importer(F).load_reports(path)


def test_a_truncated_second_page_names_line_and_column(tmp_path: Path, realdata: Path) -> None:
    text = (realdata / MANY).read_text()
    path = tmp_path / "pages.json"
    path.write_text(text + "\n" + text[:200])
    with pytest.raises(ImporterError, match=r"pages\.json:\d+:\d+: invalid JSON in document 2"):
        get_importer(F).load_reports(path)


def test_another_format_is_not_inspector(realdata: Path) -> None:
    with pytest.raises(ImporterError, match="not a aws-inspector2 report: no 'findings' array; it looks like a trivy"):
        get_importer(F).load_reports(realdata / "scanners/trivy/trivy-debian-buster.json")
