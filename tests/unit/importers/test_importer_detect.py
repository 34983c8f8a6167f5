"""Format detection from content: every real sample is placed right, others are None."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat
from patchpolicy.importers.detect import detect_format

F = ImporterFormat
# Every scanner sample in tests/data, and what it is (read from the file, not the name:
# the Trivy directory holds a CycloneDX BOM; Grype's SARIF output is no importable format).
EXPECTED: dict[str, ImporterFormat | None] = {
    "aws-inspector2/inspector2-many-vul.json": F.AWS_INSPECTOR2,
    "aws-inspector2/inspector2-zero-vul.json": F.AWS_INSPECTOR2,
    "grype/grype-chainguard-ruby.json": F.GRYPE,
    "grype/grype-json-presenter-image.json": F.GRYPE,
    "grype/grype-keycloak-21.0.2.json": F.GRYPE,
    "grype/grype-sarif-presenter-image.sarif.json": None,
    "nessus/nessus-many-vuln.nessus": F.NESSUS,
    "nessus/nessus-with-cvssv3.nessus": F.NESSUS,
    "osv-scanner/osv-scanner-results-debian-go-cargo.json": F.OSV_SCANNER,
    "osv-scanner/osv-scanner-results-go-cargo.json": F.OSV_SCANNER,
    "qualys/qualys-sample-report.xml": F.QUALYS,
    "qualys/qualys-vmdr-many-vulns-cve.csv": F.QUALYS,
    "qualys/qualys-vmdr-many-vulns-qid.csv": F.QUALYS,
    "trivy/trivy-alpine-310.json": F.TRIVY,
    "trivy/trivy-amazonlinux2-vm.json": F.TRIVY,
    "trivy/trivy-debian-buster.json": F.TRIVY,
    "trivy/trivy-gomod.json": F.TRIVY,
    "trivy/trivy-pom-cyclonedx-1.6.json": F.CYCLONEDX,
    "trivy/trivy-ubi-7-comprehensive.json": F.TRIVY,
}


def test_the_table_lists_every_sample(realdata: Path) -> None:
    found = {str(p.relative_to(realdata / "scanners")) for p in (realdata / "scanners").rglob("*") if p.is_file()}
    assert found == set(EXPECTED)
    assert set(EXPECTED.values()) - {None} == set(ImporterFormat)  # every format has a sample


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_is_detected(realdata: Path, name: str) -> None:
    assert detect_format(realdata / "scanners" / name, name) is EXPECTED[name]


def test_a_qualys_csv_without_its_preamble_is_detected_by_its_header(realdata: Path, tmp_path: Path) -> None:
    lines = (realdata / "scanners/qualys/qualys-vmdr-many-vulns-qid.csv").read_text().splitlines()
    p = tmp_path / "q.csv"
    p.write_text("\n".join(lines[3:]) + "\n")
    assert detect_format(p, "q.csv") is F.QUALYS


@pytest.mark.parametrize(
    "text",
    ['{"foo": 1}', "[1, 2]", '<?xml version="1.0"?><OpenVAS/>', "host,cve\nweb-01,CVE-2024-1\n"],
    ids=["json-object", "json-array", "xml-root", "csv"],
)
def test_other_documents_are_not_placed(tmp_path: Path, text: str) -> None:
    p = tmp_path / "x"
    p.write_text(text)
    assert detect_format(p, "x") is None


def test_unreadable_content_is_an_error_naming_the_place(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text('{"SchemaVersion": 2, "Results": [')
    with pytest.raises(ImporterError, match=r"^t\.json:1:\d+: invalid JSON"):
        detect_format(p, "t.json")
    p.write_text('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    with pytest.raises(ImporterError, match=r"^t\.json: refused"):
        detect_format(p, "t.json")
    p.write_text(" \n")
    with pytest.raises(ImporterError, match="empty file"):
        detect_format(p, "t.json")
