"""Nessus v2 XML: the real reports map as read by hand; hostile and broken XML is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, get_importer
from patchpolicy.model.fleet import FleetSnapshot

NESSUS = "scanners/nessus"


def _expected_entries(path: Path) -> int:
    """Entries counted independently of the importer: one per distinct CVE of an item,
    one per item without CVE."""
    total = 0
    for item in re.findall(r"<ReportItem\b.*?</ReportItem>", path.read_text(), flags=re.S):
        cves = set(re.findall(r"<cve>\s*(CVE-[\d-]+)\s*</cve>", item))
        total += len(cves) or 1
    return total


def test_cvssv3_report_counts_and_mapping(realdata: Path) -> None:
    path = realdata / NESSUS / "nessus-with-cvssv3.nessus"
    rep = get_importer(ImporterFormat.NESSUS).load(path, "n.nessus")
    assert rep.host_keys == ("testphp.vulnweb.com", "44.228.249.3")
    assert rep.scan_time == datetime.fromtimestamp(1648044472, UTC)  # HOST_END_TIMESTAMP
    assert len(rep.entries) == _expected_entries(path) == 168
    snap, report = build_snapshot([(ImporterFormat.NESSUS, path)])
    fr = report.files[0]
    assert fr.entries_read == fr.findings_written + len(fr.merged)
    host = snap.hosts[0]
    # plugin 31649 "PHP 5.x < 5.2 Multiple Vulnerabilities", read by hand from the file
    php = [f for f in host.findings if f.provenance.get("nessus_plugin") == "31649"]
    assert php and all(f.severity == "high" and f.cvss == 7.5 for f in php)  # no cvss3: v2 7.5
    assert php[0].fix_released_at == datetime(2006, 11, 2, tzinfo=UTC)
    assert php[0].published_at == datetime(2006, 11, 2, tzinfo=UTC)
    assert php[0].patch == "Upgrade to PHP version 5.2.0 or later."
    assert php[0].provenance["port"] == "80/tcp"
    # risk_factor None: informational plugins are kept as severity none (23 in the file)
    assert sum(1 for f in host.findings if f.severity == "none") == 23


def test_old_layout_uses_host_end_text(realdata: Path) -> None:
    rep = get_importer(ImporterFormat.NESSUS).load(realdata / NESSUS / "nessus-many-vuln.nessus")
    assert rep.host_id == "preprod.boardvantage.net"
    assert rep.scan_time == datetime(2013, 6, 25, 10, 39, 42, tzinfo=UTC)
    assert len(rep.entries) == _expected_entries(realdata / NESSUS / "nessus-many-vuln.nessus")


def _doc(host_props: str, items: str) -> str:
    return (
        '<?xml version="1.0" ?>\n<NessusClientData_v2><Report name="r">'
        f'<ReportHost name="10.0.0.5"><HostProperties>{host_props}</HostProperties>{items}'
        "</ReportHost></Report></NessusClientData_v2>\n"
    )


def test_missing_fqdn_no_cve_and_risk_none(tmp_path: Path) -> None:
    p = tmp_path / "h.nessus"
    p.write_text(_doc(
        '<tag name="host-ip">10.0.0.5</tag><tag name="HOST_END_TIMESTAMP">1700000000</tag>',
        '<ReportItem port="0" pluginID="19506" pluginName="Scan info"><risk_factor>None</risk_factor></ReportItem>'
        '<ReportItem port="22" protocol="tcp" pluginID="1"><risk_factor>Medium</risk_factor>'
        "<cvss3_base_score>5.3</cvss3_base_score><cvss_base_score>4.3</cvss_base_score>"
        "<cve>CVE-2024-0001</cve><cve>CVE-2024-0002</cve></ReportItem>",
    ))
    rep = get_importer(ImporterFormat.NESSUS).load(p)
    assert rep.host_keys == ("10.0.0.5",)
    assert [(e.vuln, e.severity, e.cvss) for e in rep.entries] == [
        ("NESSUS-19506", "none", None),
        ("CVE-2024-0001", "medium", 5.3),
        ("CVE-2024-0002", "medium", 5.3),
    ]


XXE = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
    "<NessusClientData_v2>&x;</NessusClientData_v2>\n"
)
BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>\n<NessusClientData_v2>&c;</NessusClientData_v2>\n'
)


@pytest.mark.parametrize("text", [XXE, BOMB], ids=["xxe", "entity-bomb"])
def test_hostile_xml_is_refused_with_exit_2(tmp_path: Path, text: str) -> None:
    p = tmp_path / "evil.nessus"
    p.write_text(text)
    result = CliRunner().invoke(main, ["import", "nessus", str(p), "-o", str(tmp_path / "f.json")])
    assert result.exit_code == 2
    assert "evil.nessus: refused: the XML declares a DTD or entities" in result.stderr
    assert not (tmp_path / "f.json").exists()


def test_truncated_xml_names_line_and_column(tmp_path: Path) -> None:
    p = tmp_path / "t.nessus"
    p.write_text(_doc('<tag name="host-ip">10.0.0.5</tag>', "")[:-40])
    with pytest.raises(ImporterError, match=r"t\.nessus:\d+:\d+: invalid XML"):
        get_importer(ImporterFormat.NESSUS).load(p, "t.nessus")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('<?xml version="1.0"?><other/>', "not a nessus report: root element <other>"),
        (_doc("", '<ReportItem pluginID="1"><risk_factor>Severe</risk_factor></ReportItem>'),
         r"\$\.ReportHost\[0\]\.ReportItem\[0\]\.risk_factor: unknown severity 'Severe'"),
        (_doc("", '<ReportItem pluginID="1"><patch_publication_date>2020-01-01</patch_publication_date>'
              "</ReportItem>"), "invalid date '2020-01-01'"),
    ],
)
def test_bad_nessus_inputs(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "b.nessus"
    p.write_text(text)
    with pytest.raises(ImporterError, match=message):
        get_importer(ImporterFormat.NESSUS).load(p, "b.nessus")


def test_cli_import_writes_a_valid_snapshot(
    realdata: Path, tmp_path: Path, validate: Callable[[Path], FleetSnapshot]
) -> None:
    out = tmp_path / "fleet.json"
    result = CliRunner().invoke(
        main, ["import", "nessus", str(realdata / NESSUS / "nessus-many-vuln.nessus"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    assert "nessus: host preprod.boardvantage.net: scanned 2013-06-25T10:39:42Z (report)" in result.stdout
    snap = validate(out)
    assert [h.id for h in snap.hosts] == ["preprod.boardvantage.net"]
