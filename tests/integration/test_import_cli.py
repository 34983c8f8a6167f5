"""``patchpolicy import`` through click: counts printed, snapshots valid, bad input exits 2
with the message on stderr and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.model.fleet import FleetSnapshot

REALDATA = Path(__file__).parents[1] / "data" / "realdata"


@pytest.fixture
def realdata() -> Path:
    return REALDATA


def _run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["import", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_import_prints_counts_and_writes_a_valid_snapshot(realdata: Path, tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    code, stdout, stderr = _run(
        "grype",
        realdata / "scanners/grype/grype-keycloak-21.0.2.json",
        realdata / "scanners/grype/grype-chainguard-ruby.json",
        "-o", out,
        "--kev", realdata / "intel/known_exploited_vulnerabilities.json",
        "--epss", realdata / "intel/epss_scores-2026-09-29.sample.csv",
    )
    assert code == 0, stderr
    assert "grype-keycloak-21.0.2.json: grype: host docker.io/keycloak/keycloak:21.0.2@sha256:" in stdout
    assert "6 entries in, 6 findings out, 0 merged" in stdout
    assert "3 entries in, 2 findings out, 1 merged" in stdout
    assert "merged into cgr.dev/chainguard/ruby:latest-3.0 CVE-2023-28755/uri: alias: GHSA-hv5j-3h9f-99c2" in stdout
    assert "total: 9 entries in, 8 findings out, 1 merged; snapshot: 2 hosts, 8 findings" in stdout
    assert f"wrote {out}" in stdout
    snap = FleetSnapshot.model_validate_json(out.read_bytes())
    assert len(snap.hosts) == 2


def test_jsonl_output_and_scan_time(realdata: Path, tmp_path: Path) -> None:
    out = tmp_path / "fleet.jsonl"
    code, stdout, stderr = _run(
        "osv-scanner", realdata / "scanners/osv-scanner/osv-scanner-results-go-cargo.json",
        "-o", out, "--scan-time", "2026-03-01T06:00:00Z",
    )
    assert code == 0, stderr
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["taken_at"] == "2026-03-01T06:00:00Z" and "hosts" not in header
    header["hosts"] = [json.loads(line) for line in lines[1:]]
    assert len(FleetSnapshot.model_validate(header).hosts[0].findings) == 2
    assert "(--scan-time): 4 entries in, 2 findings out, 2 merged" in stdout


def _assert_input_error(code: int, stdout: str, stderr: str, *expected: str) -> None:
    assert code == 2
    assert stderr.startswith("error: ")
    for text in expected:
        assert text in stderr
    assert "wrote" not in stdout


def test_truncated_json_exits_2(realdata: Path, tmp_path: Path) -> None:
    bad = tmp_path / "trivy.json"
    text = (realdata / "scanners/trivy/trivy-alpine-310.json").read_text()
    bad.write_text(text[:5000])
    out = tmp_path / "fleet.json"
    _assert_input_error(*_run("trivy", bad, "-o", out), f"{bad}:", "invalid JSON (truncated or corrupt?)")
    assert not out.exists()


def test_trivy_file_passed_as_grype_exits_2(realdata: Path, tmp_path: Path) -> None:
    path = realdata / "scanners/trivy/trivy-debian-buster.json"
    _assert_input_error(
        *_run("grype", path, "-o", tmp_path / "f.json"),
        "$: not a grype report: no 'matches'; it looks like a trivy report (use: import trivy ...)",
    )


def test_kev_failing_its_schema_exits_2(realdata: Path, tmp_path: Path) -> None:
    kev = json.loads((realdata / "intel/known_exploited_vulnerabilities.json").read_text())
    kev["vulnerabilities"][0]["dateAdded"] = 20250825
    bad = tmp_path / "kev.json"
    bad.write_text(json.dumps(kev))
    _assert_input_error(
        *_run("trivy", realdata / "scanners/trivy/trivy-debian-buster.json", "-o", tmp_path / "f.json", "--kev", bad),
        "KEV catalog does not match the CISA schema",
        f"{bad}: $.vulnerabilities[0].dateAdded: 20250825 is not of type 'string'",
    )


def test_bad_epss_row_exits_2(realdata: Path, tmp_path: Path) -> None:
    bad = tmp_path / "epss.csv"
    bad.write_text("#model_version:v1,score_date:2026-01-01T00:00:00Z\ncve,epss,percentile\nCVE-2019-1,x,0.1\n")
    _assert_input_error(
        *_run("trivy", realdata / "scanners/trivy/trivy-debian-buster.json", "-o", tmp_path / "f.json", "--epss", bad),
        f"{bad}:3: invalid CVE id 'CVE-2019-1'",
    )


def test_a_report_without_scan_time_uses_the_file_mtime_and_says_so(realdata: Path, tmp_path: Path) -> None:
    """OSV-Scanner never records a scan time: the file's mtime stands in, named in the
    summary and in every finding's provenance; --scan-time overrides, 'now' included."""
    import os
    import shutil
    from datetime import UTC, datetime

    src = tmp_path / "osv.json"
    shutil.copy(realdata / "scanners/osv-scanner/osv-scanner-results-go-cargo.json", src)
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    os.utime(src, (when.timestamp(), when.timestamp()))
    out = tmp_path / "f.json"
    code, stdout, stderr = _run("osv-scanner", src, "-o", out)
    assert code == 0, stderr
    assert "scanned 2026-03-04T05:06:07Z (file_mtime)" in stdout
    (host,) = json.loads(out.read_text())["hosts"]
    assert host["last_scan"] == "2026-03-04T05:06:07Z"
    assert host["findings"] and all(f["provenance"]["scan_time"] == "file_mtime" for f in host["findings"])
    code, stdout, stderr = _run("osv-scanner", src, "-o", out, "--scan-time", "2026-05-01T00:00:00Z")
    assert code == 0 and "scanned 2026-05-01T00:00:00Z (--scan-time)" in stdout, stderr
    assert "scan_time" not in json.loads(out.read_text())["hosts"][0]["findings"][0]["provenance"]
    code, stdout, stderr = _run("osv-scanner", src, "-o", out, "--scan-time", "now")
    assert code == 0 and "(--scan-time)" in stdout, stderr
    stamp = json.loads(out.read_text())["hosts"][0]["last_scan"]
    assert stamp > "2026-03-04T05:06:07Z" and stamp.endswith("Z")


def test_bad_inventory_row_exits_2_with_file_and_line(realdata: Path, tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yaml"
    inv.write_text("hosts:\n  - id: web-01\n    criticality: extreme\n")
    result = CliRunner().invoke(
        main,
        ["import", "trivy", str(realdata / "scanners/trivy/trivy-debian-buster.json"),
         "-o", str(tmp_path / "f.json"), "--inventory", str(inv)],
    )
    assert result.exit_code == 2
    assert f"{inv}:2:1: host 'web-01': unknown criticality 'extreme'" in result.stderr


def test_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    code, _, stderr = _run("openvas", tmp_path / "x.json", "-o", tmp_path / "f.json")
    assert code == 2 and "Invalid value for 'FORMAT'" in stderr


def test_reports_that_name_no_host_are_refused_not_a_crash(realdata: Path, tmp_path: Path) -> None:
    """Inspector's zero-finding page names no resource: exit 2 with the file, nothing written."""
    out = tmp_path / "fleet.json"
    src = realdata / "scanners" / "aws-inspector2" / "inspector2-zero-vul.json"
    code, _, stderr = _run("aws-inspector2", src, "-o", out)
    assert code == 2, stderr
    assert "inspector2-zero-vul.json: the reports name no host" in stderr
    assert not out.exists()


def test_a_nessus_file_with_two_report_hosts_gives_two_hosts(realdata: Path, tmp_path: Path) -> None:
    """The real sample's ReportHost twice, the copy renamed: one host per ReportHost, each
    with all of its entries, and the other names kept as labels."""
    import re

    src = (realdata / "scanners" / "nessus" / "nessus-many-vuln.nessus").read_text()
    host = re.search(r"<ReportHost .*?</ReportHost>", src, re.S)
    assert host is not None
    copy = (host.group(0).replace("preprod.boardvantage.net", "copy.example.net")
            .replace("12.233.108.201", "192.0.2.7"))
    two = tmp_path / "two.nessus"
    two.write_text(src[: host.end()] + copy + src[host.end():])
    out = tmp_path / "fleet.json"
    code, stdout, stderr = _run("nessus", two, "-o", out)
    assert code == 0, stderr
    single = tmp_path / "one.json"
    assert _run("nessus", realdata / "scanners" / "nessus" / "nessus-many-vuln.nessus", "-o", single)[0] == 0
    hosts = {h["id"]: h for h in json.loads(out.read_text())["hosts"]}
    one = json.loads(single.read_text())["hosts"]
    assert sorted(hosts) == ["copy.example.net", "preprod.boardvantage.net"]
    assert len(one) == 1
    for h in hosts.values():
        assert len(h["findings"]) == len(one[0]["findings"]) > 0
    assert hosts["copy.example.net"]["labels"].get("nessus-ip") == "192.0.2.7"
    assert stdout.count("two.nessus: nessus: host ") == 2
