"""KEV and EPSS: the real files load; a KEV file breaking CISA's schema and a bad EPSS
row are errors that say where."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers.intel import kev_schema, load_epss, load_kev

KEV = "intel/known_exploited_vulnerabilities.json"
EPSS = "intel/epss_scores-2026-09-29.sample.csv"


def test_vendored_kev_schema_is_the_official_one(realdata: Path) -> None:
    official = json.loads((realdata / "schemas/known_exploited_vulnerabilities_schema.json").read_text())
    assert kev_schema() == official


def test_real_kev_catalog(realdata: Path) -> None:
    kev = load_kev(realdata / KEV)
    assert kev.version == "2025.08.25"
    assert len(kev.entries) == 23  # the trimmed copy: see tests/data/SOURCES.md
    citrix = kev.entries["CVE-2019-19781"]
    assert (citrix.date_added, citrix.due_date, citrix.ransomware) == (
        date(2021, 11, 3), date(2022, 5, 3), True,
    )
    assert kev.entries["CVE-2019-1653"].ransomware is False  # "Unknown"
    assert kev.lookup(["GHSA-xxxx", "CVE-2019-1652"]) == ("CVE-2019-1652", kev.entries["CVE-2019-1652"])
    assert kev.lookup(["CVE-1999-0001"]) is None


def _broken_kev(realdata: Path, tmp_path: Path, edit: str) -> Path:
    doc = json.loads((realdata / KEV).read_text())
    if edit == "bad-cve":
        doc["vulnerabilities"][3]["cveID"] = "CVE-19-1"
    elif edit == "no-due":
        del doc["vulnerabilities"][5]["dueDate"]
    elif edit == "no-version":
        del doc["catalogVersion"]
    p = tmp_path / "kev.json"
    p.write_text(json.dumps(doc))
    return p


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ("bad-cve", r"kev\.json: \$\.vulnerabilities\[3\]\.cveID: 'CVE-19-1' does not match"),
        ("no-due", r"kev\.json: \$\.vulnerabilities\[5\]: 'dueDate' is a required property"),
        ("no-version", r"kev\.json: \$: 'catalogVersion' is a required property"),
    ],
)
def test_kev_failing_its_schema_is_an_error(realdata: Path, tmp_path: Path, edit: str, expected: str) -> None:
    path = _broken_kev(realdata, tmp_path, edit)
    with pytest.raises(ImporterError, match="KEV catalog does not match the CISA schema") as e:
        load_kev(path, "kev.json")
    assert e.match(expected)


def test_real_epss_sample(realdata: Path) -> None:
    epss = load_epss(realdata / EPSS)
    assert len(epss.scores) == 1586
    assert (epss.model_version, epss.score_date) == ("v2026.06.15", "2026-09-29T12:00:22Z")
    assert epss.scores["CVE-2019-19781"] == (0.99999, 0.99998)
    assert epss.scores["CVE-1999-0001"] == (0.03351, 0.88255)
    # the file is not sorted: 5-digit ids come before 4-digit ones; both are there
    assert "CVE-2019-19999" in epss.scores and "CVE-2019-1000" in epss.scores
    assert epss.provenance == "epss v2026.06.15 2026-09-29T12:00:22Z"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("CVE-2019-0001,0.5", "expected 3 cells"),
        ("CVE-2019-0001,high,0.5", "epss 'high' is not a number"),
        ("CVE-2019-0001,0.5,1.5", "percentile '1.5' is outside 0..1"),
        ("CVE-2019-0001,nan,0.5", "epss 'nan' is outside 0..1"),
        ("GHSA-1234,0.5,0.5", "invalid CVE id 'GHSA-1234'"),
        ("CVE-1999-0001,0.1,0.1", r"duplicate row for CVE-1999-0001 \(first at line 3\)"),
    ],
)
def test_a_bad_epss_row_is_an_error_with_its_line(tmp_path: Path, row: str, message: str) -> None:
    p = tmp_path / "epss.csv"
    p.write_text(
        "#model_version:v2026.06.15,score_date:2026-09-29T12:00:22Z\ncve,epss,percentile\n"
        f"CVE-1999-0001,0.03351,0.88255\nCVE-1999-0002,0.27858,0.98037\n{row}\n"
    )
    with pytest.raises(ImporterError, match=f"^epss.csv:5: {message}"):
        load_epss(p, "epss.csv")


def test_an_epss_file_without_its_header_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("id,score\nCVE-1999-0001,0.1\n")
    with pytest.raises(ImporterError, match=r"^x.csv:1: expected the header 'cve,epss,percentile'"):
        load_epss(p, "x.csv")
