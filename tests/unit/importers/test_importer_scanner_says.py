"""Importers read what scanners already say: Grype's KEV copy, the image and repository
names the reports carry, and SARIF logs refused with the way to the JSON format."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot
from patchpolicy.model.fleet import KevRecord

F = ImporterFormat
GRYPE_PRESENTER = "scanners/grype/grype-json-presenter-image.json"
SARIF = "scanners/grype/grype-sarif-presenter-image.sarif.json"


def _load(realdata: Path, rel: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((realdata / rel).read_text())
    return doc


# ------------------------------------------------------------------ KEV from Grype


def test_grype_known_exploited_without_a_date_is_counted_not_invented(realdata: Path) -> None:
    # The real sample lists CVE-1999-0002 as known exploited, but without dateAdded: a KEV
    # record needs the date (the kev_added clock reads it), so kev stays empty, said.
    snap, report = build_snapshot([(F.GRYPE, realdata / GRYPE_PRESENTER)])
    f = next(f for f in snap.hosts[0].findings if f.vuln == "CVE-1999-0002")
    assert f.kev is None and f.provenance["grype_known_exploited"] == "Known"
    assert (report.kev_from_scanner, report.kev_undated) == (0, 1)
    assert "  1 known exploited per the scanner without a dateAdded: kev not filled (pass --kev with the CISA catalog)" in report.lines()


def _grype_with_kev_dates(realdata: Path, cve: str) -> dict[str, Any]:
    doc = _load(realdata, GRYPE_PRESENTER)
    vuln = doc["matches"][1]["vulnerability"]
    vuln["id"] = cve
    # the fields Grype >= 0.80 copies from the CISA catalog (dates as Go timestamps)
    vuln["knownExploited"] = [{
        "cve": cve, "vendorProject": "Citrix", "product": "ADC", "dateAdded": "2021-11-03T00:00:00Z",
        "dueDate": "2022-05-03", "knownRansomwareCampaignUse": "Known",
    }]
    vuln["epss"] = []
    return doc


def test_grype_known_exploited_with_dates_fills_kev(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    path = write_json("g.json", _grype_with_kev_dates(realdata, "CVE-2019-19781"))
    snap, report = build_snapshot([(F.GRYPE, path)])
    f = next(f for f in snap.hosts[0].findings if f.vuln == "CVE-2019-19781")
    assert f.kev == KevRecord(date_added=date(2021, 11, 3), due_date=date(2022, 5, 3), ransomware=True)
    assert f.provenance["kev"] == "grype knownExploited"
    assert report.kev_from_scanner == 1
    assert "  1 known exploited per the scanner (Grype knownExploited): kev filled" in report.lines()


def test_the_kev_catalog_wins_over_grype(realdata: Path, write_json: Callable[[str, object], Path]) -> None:
    path = write_json("g.json", _grype_with_kev_dates(realdata, "CVE-2019-19781"))
    catalog = realdata / "intel/known_exploited_vulnerabilities.json"
    entry = next(v for v in _load(realdata, "intel/known_exploited_vulnerabilities.json")["vulnerabilities"]
                 if v["cveID"] == "CVE-2019-19781")
    snap, report = build_snapshot([(F.GRYPE, path)], kev=catalog)
    f = next(f for f in snap.hosts[0].findings if f.vuln == "CVE-2019-19781")
    assert f.kev is not None and f.kev.date_added == date.fromisoformat(entry["dateAdded"])
    assert f.provenance["kev"].startswith("cisa-kev ")
    assert (report.kev_joined, report.kev_from_scanner) == (1, 0)


def test_a_bad_grype_kev_date_names_its_json_path(realdata: Path, write_json: Callable[[str, object], Path]) -> None:
    doc = _grype_with_kev_dates(realdata, "CVE-2019-19781")
    doc["matches"][1]["vulnerability"]["knownExploited"][0]["dateAdded"] = "yesterday"
    with pytest.raises(ImporterError, match=r"\$\.matches\[1\]\.vulnerability\.knownExploited\[0\]\.dateAdded"):
        build_snapshot([(F.GRYPE, write_json("g.json", doc))])


# ------------------------------------------------------------------ host ids


def test_grype_of_an_image_archive_is_named_by_the_image_tag(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    doc = _load(realdata, GRYPE_PRESENTER)
    doc["source"]["target"].update(userInput="/builds/ci/out/alpine.tar", tags=["registry.example/app:1.4.2"])
    snap, report = build_snapshot([(F.GRYPE, write_json("g.json", doc))])
    assert [h.id for h in snap.hosts] == ["registry.example/app:1.4.2"]


def test_trivy_repository_is_named_by_its_repo_url(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    doc = _load(realdata, "scanners/trivy/trivy-gomod.json")
    doc["Metadata"] = {"RepoURL": "https://github.com/acme/payments", "Branch": "main"}
    snap, _ = build_snapshot([(F.TRIVY, write_json("t.json", doc))])
    assert [h.id for h in snap.hosts] == ["https://github.com/acme/payments"]


def test_a_path_id_keeps_the_path_as_a_key_for_the_inventory(realdata: Path, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts:\n  - id: payments\n    artifacts: [testdata/fixtures/repo/gomod]\n")
    snap, _ = build_snapshot([(F.TRIVY, realdata / "scanners/trivy/trivy-gomod.json")], inventory=inv)
    assert [h.id for h in snap.hosts] == ["payments"]


def test_trivy_image_scanned_by_reference_keeps_its_name(
    realdata: Path, write_json: Callable[[str, object], Path],
) -> None:
    doc = _load(realdata, "scanners/trivy/trivy-alpine-310.json")
    doc["ArtifactName"] = "alpine:3.10"  # `trivy image alpine:3.10`: already the name and tag
    snap, _ = build_snapshot([(F.TRIVY, write_json("t.json", doc))])
    assert [h.id for h in snap.hosts] == ["alpine:3.10"]


# ------------------------------------------------------------------ SARIF


@pytest.mark.parametrize("fmt", [F.GRYPE, F.TRIVY, F.OSV_SCANNER, F.CYCLONEDX, F.AWS_INSPECTOR2])
def test_grype_sarif_is_refused_with_the_json_flag(realdata: Path, fmt: ImporterFormat) -> None:
    with pytest.raises(ImporterError) as err:
        build_snapshot([(fmt, realdata / SARIF)])
    assert str(err.value).endswith(
        f"$: not a {fmt.value} report: this is a SARIF log written by grype; SARIF has no package"
        " versions or fix data to import: run `grype -o json` and import that"
    )


def test_trivy_sarif_is_refused_with_the_json_flag(realdata: Path, write_json: Callable[[str, object], Path]) -> None:
    doc = _load(realdata, SARIF)
    doc["runs"][0]["tool"]["driver"]["name"] = "Trivy"  # what `trivy --format sarif` writes
    path = write_json("trivy.sarif", doc)
    result = CliRunner().invoke(main, ["import", "trivy", str(path), "-o", str(path.parent / "o.json")])
    assert result.exit_code == 2
    assert "this is a SARIF log written by Trivy" in result.stderr
    assert "run `trivy --format json` and import that" in result.stderr
    assert not (path.parent / "o.json").exists()


def test_sarif_given_without_a_format_is_refused_with_the_hint(realdata: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["import", str(realdata / SARIF), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 2
    assert result.stderr.strip().endswith(
        "$: this is a SARIF log written by grype; SARIF has no package versions or fix data to"
        " import: run `grype -o json` and import that"
    )
    assert not (tmp_path / "o.json").exists()
