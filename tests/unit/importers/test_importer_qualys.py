"""Qualys: the ASSET_DATA_REPORT XML and the VMDR CSV exports map as read by hand from the
real files; every entry in is a finding out or an explained merge; broken input names its
place and exits 2."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, get_importer
from patchpolicy.model.fleet import FleetSnapshot

QUALYS = "scanners/qualys"
XML = "qualys-sample-report.xml"
CVE_CSV = "qualys-vmdr-many-vulns-cve.csv"
QID_CSV = "qualys-vmdr-many-vulns-qid.csv"


def _hosts_by_id(path: Path) -> dict[str, object]:
    snap, _ = build_snapshot([(ImporterFormat.QUALYS, path)])
    return {h.id: h for h in snap.hosts}


def _xml_expected(path: Path) -> tuple[int, int]:
    """(entries, informational) counted without the importer: a detection gives one entry
    per CVE its QID's glossary entry lists (one when none); TYPE Ig is informational."""
    text = path.read_text()
    cves: dict[str, int] = {}
    for qid, body in re.findall(r'<VULN_DETAILS id="qid_(\d+)">(.*?)</VULN_DETAILS>', text, flags=re.S):
        cves[qid] = len(set(re.findall(r"<ID><!\[CDATA\[(CVE-[\d-]+)\]\]></ID>", body)))
    entries = informational = 0
    for info in re.findall(r"<VULN_INFO>(.*?)</VULN_INFO>", text, flags=re.S):
        qid = re.search(r"<QID[^>]*>(\d+)</QID>", info)
        assert qid is not None
        n = cves[qid.group(1)] or 1
        entries += n
        if "<TYPE>Ig</TYPE>" in info:
            informational += n
    return entries, informational


def test_xml_counts_in_equal_findings_out_plus_merges(realdata: Path) -> None:
    path = realdata / QUALYS / XML
    snap, report = build_snapshot([(ImporterFormat.QUALYS, path)])
    entries, informational = _xml_expected(path)
    assert report.entries_read == entries == 353
    assert sum(f.informational for f in report.files) == informational
    assert report.entries_read == report.findings_written + report.merged
    assert len(report.files) == len(snap.hosts) == 7  # 7 HOSTs; 64.41.200.248 had no results
    for fr in report.files:
        assert fr.entries_read == fr.findings_written + len(fr.merged)
    # demo20 lists some QIDs on several ports: one finding each, the others merged, named
    demo20 = next(f for f in report.files if f.host == "demo20.s02.sjc01.qualys.com")
    assert len(demo20.merged) == 58
    assert "QUALYS-86672" in demo20.merged[0].reason and "$.HOST[6].VULN_INFO[25]" in demo20.merged[0].reason


def test_xml_mapping_read_by_hand(realdata: Path) -> None:
    hosts = _hosts_by_id(realdata / QUALYS / XML)
    h = hosts["demo14.s02.sjc01.qualys.com"]
    assert h.labels == {  # type: ignore[attr-defined]
        "qualys-asset-groups": "App1_Asset_Group",
        "qualys-dns": "demo14.s02.sjc01.qualys.com",
        "qualys-ip": "64.41.200.244",
    }
    assert h.os.version == "Linux 2.4-2.6 / Embedded Device / F5 Networks Big-IP / Linux 2.6"  # type: ignore[attr-defined]
    # the latest LAST_FOUND of the host (its QID 370876 was last found in 2021)
    assert h.last_scan == datetime(2021, 4, 19, 2, 35, 28, tzinfo=UTC)  # type: ignore[attr-defined]
    findings = {f.id: f for f in h.findings}  # type: ignore[attr-defined]
    # QID 370876 "AMD Processors Multiple Security Vulnerabilities", TYPE Practice, SEVERITY 4,
    # CVSS3_BASE 9.0, CVE-2018-8930..8936, FIRST_FOUND 2020-10-15T12:16:23Z, VULN_STATUS Active
    amd = [findings[f"CVE-2018-{n}"] for n in range(8930, 8937)]
    for f in amd:
        assert (f.severity, f.cvss, f.cvss_source, f.status) == ("high", 9.0, "qualys", "open")
        assert f.first_seen_at == datetime(2020, 10, 15, 12, 16, 23, tzinfo=UTC)
        assert f.provenance["qualys_qid"] == "370876"
        assert f.provenance["qualys_type"] == "Practice"
        assert f.provenance["first_seen_at"] == "FIRST_FOUND"
        assert f.provenance["cvss"] == "qualys v3"
    # the SOLUTION's HTML (<P>, <BR>) becomes lines of text
    assert amd[0].patch == (
        "AMD has confirmed the vulnerability. However, updates are awaited.\nWorkaround:\n"
        "Customers are advised to maintain physical security for affected devices as most of"
        " these vulnerabilities need physical access."
    )
    # QID 82003 "ICMP Timestamp Request", TYPE Vuln, SEVERITY 1, CVE-1999-0524: low
    assert findings["CVE-1999-0524"].severity == "low"
    # QID 6 "DNS Host Name" is TYPE Ig: informational, kept as none
    assert findings["QUALYS-6"].severity == "none"
    win7 = hosts["trn-win7.trn.qualys.com"]
    assert win7.labels["qualys-netbios"] == "TRN-WIN7"  # type: ignore[attr-defined]


def test_the_external_dtd_is_never_fetched(realdata: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample declares <!DOCTYPE ASSET_DATA_REPORT SYSTEM "https://...dtd">: reading it
    opens no connection."""
    assert b'SYSTEM "https://qualysguard' in (realdata / QUALYS / XML).read_bytes()[:300]

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the importer opened a network connection")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    reports = get_importer(ImporterFormat.QUALYS).load_reports(realdata / QUALYS / XML)
    assert len(reports) == 7


def test_cve_csv_mapping_read_by_hand(realdata: Path) -> None:
    path = realdata / QUALYS / CVE_CSV
    snap, report = build_snapshot([(ImporterFormat.QUALYS, path)])
    assert report.entries_read == 5 == report.findings_written  # 5 rows, 5 assets
    hosts = {h.id: h for h in snap.hosts}
    assert sorted(hosts) == ["APPSERVER01", "DBSERVER01", "SERVER01", "SERVER02", "WORKSTATION01"]
    # row 5: CVE-2023-0001, QID 800001, Severity 1, CVSSv3.1 3.1, First Detected
    # "Jan 10, 2026 10:00 AM" (the preamble says GMT-0500), ACTIVE, no Patch Released
    (f,) = hosts["SERVER01"].findings
    assert (f.vuln, f.severity, f.cvss, f.cvss_source, f.status) == ("CVE-2023-0001", "low", 3.1, "nvd", "open")
    assert f.first_seen_at == datetime(2026, 1, 10, 15, 0, tzinfo=UTC)
    assert f.published_at == datetime(2022, 12, 1, 17, 0, tzinfo=UTC)
    assert f.fix_released_at is None
    assert f.patch == "Update component X."
    assert f.provenance["port"] == "80/tcp" and f.provenance["qualys_qid"] == "800001"
    assert hosts["SERVER01"].last_scan == datetime(2026, 2, 3, 12, 0, tzinfo=UTC)  # Last Detected
    # row 7: FIXED, Last Fixed "Jan 25, 2026 08:00 AM", Patch Released "Dec 01, 2022 12:00 PM"
    (db,) = hosts["DBSERVER01"].findings
    assert (db.status, db.severity) == ("fixed", "medium")
    assert db.fixed_at == datetime(2026, 1, 25, 13, 0, tzinfo=UTC)
    assert db.provenance["fixed_at"] == "qualys last_fixed"
    assert db.fix_released_at == datetime(2022, 12, 1, 17, 0, tzinfo=UTC)
    # row 9: Severity 5, Asset Critical Score 5, tags "App,Production,Critical", IPv6 only
    app = hosts["APPSERVER01"]
    assert app.findings[0].severity == "critical"
    assert app.criticality == "critical"
    assert app.tags == ("App", "Critical", "Production")
    assert app.labels["qualys-ipv6"] == "2001:db8::100"
    assert app.labels["qualys-asset-id"] == "300000005"
    # row 8: two IPv4 addresses, port 0 (none), Severity 4, Asset Critical Score 3
    ws = hosts["WORKSTATION01"]
    assert ws.findings[0].severity == "high" and "port" not in ws.findings[0].provenance
    assert ws.criticality == "medium"
    rep = next(r for r in get_importer(ImporterFormat.QUALYS).load_reports(path) if r.host_id == "WORKSTATION01")
    assert rep.host_keys == ("WORKSTATION01", "192.168.1.100", "192.168.1.101", "300000004")
    assert hosts["SERVER02"].findings[0].severity == "low"  # Severity 2


def test_qid_csv_mapping_read_by_hand(realdata: Path) -> None:
    path = realdata / QUALYS / QID_CSV
    snap, report = build_snapshot([(ImporterFormat.QUALYS, path)])
    assert report.entries_read == 5 == report.findings_written
    hosts = {h.id: h for h in snap.hosts}
    # no CVE column: one finding per QID
    assert sorted(f.vuln for h in snap.hosts for f in h.findings) == [
        "QUALYS-100001", "QUALYS-100002", "QUALYS-100003", "QUALYS-100004", "QUALYS-100005",
    ]
    # row 7: QID 100003, FIXED, Last Fixed "Jan 20, 2026 08:00 AM", Severity 3, no CVSS column
    (f,) = hosts["APPSERVER01"].findings
    assert (f.status, f.severity, f.cvss) == ("fixed", "medium", None)
    assert f.fixed_at == datetime(2026, 1, 20, 13, 0, tzinfo=UTC)
    assert f.first_seen_at == datetime(2025, 12, 1, 15, 0, tzinfo=UTC)
    assert f.fix_released_at == datetime(2025, 11, 15, 17, 0, tzinfo=UTC)
    assert hosts["APPSERVER01"].criticality == "low"  # Asset Critical Score 2
    assert hosts["DBSERVER01"].tags == ("Critical", "Database", "Production")


def _xml(hosts: str, glossary: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<!DOCTYPE ASSET_DATA_REPORT SYSTEM "https://example.invalid/asset_data_report.dtd">\n'
        "<ASSET_DATA_REPORT><HEADER><GENERATION_DATETIME>2026-01-02T00:00:00Z</GENERATION_DATETIME>"
        f"</HEADER><HOST_LIST>{hosts}</HOST_LIST><GLOSSARY><VULN_DETAILS_LIST>{glossary}"
        "</VULN_DETAILS_LIST></GLOSSARY></ASSET_DATA_REPORT>\n"
    )


def _info(qid: str, extra: str = "", kind: str = "Vuln") -> str:
    return f"<VULN_INFO><QID>{qid}</QID><TYPE>{kind}</TYPE>{extra}</VULN_INFO>"


def _details(qid: str, severity: str, extra: str = "") -> str:
    return f'<VULN_DETAILS id="qid_{qid}"><QID>{qid}</QID><SEVERITY>{severity}</SEVERITY>{extra}</VULN_DETAILS>'


def test_xml_statuses_glossary_join_and_tags(tmp_path: Path) -> None:
    p = tmp_path / "q.xml"
    p.write_text(_xml(
        "<HOST><IP>10.1.1.1</IP><ASSET_TAGS><ASSET_TAG>PCI</ASSET_TAG><ASSET_TAG>Prod</ASSET_TAG></ASSET_TAGS>"
        + _info("1", "<PORT>443</PORT><PROTOCOL>TCP</PROTOCOL><FIRST_FOUND>2025-12-01T00:00:00Z</FIRST_FOUND>"
                "<LAST_FOUND>2025-12-20T00:00:00Z</LAST_FOUND><VULN_STATUS>Re-Opened</VULN_STATUS>")
        + _info("2", "<LAST_FOUND>2025-11-01T00:00:00Z</LAST_FOUND><VULN_STATUS>Fixed</VULN_STATUS>"
                "<LAST_FIXED>2025-12-24T00:00:00Z</LAST_FIXED>")
        + _info("3", kind="Ig")
        + "</HOST>",
        _details("1", "5", "<CVE_ID_LIST><CVE_ID><ID>CVE-2025-0001</ID></CVE_ID><CVE_ID><ID>CVE-2025-0002</ID>"
                 "</CVE_ID></CVE_ID_LIST><CVSS_SCORE><CVSS_BASE>7.5</CVSS_BASE></CVSS_SCORE>")
        + _details("2", "2") + _details("3", "3"),
    ))
    (rep,) = get_importer(ImporterFormat.QUALYS).load_reports(p)
    assert rep.host_keys == ("10.1.1.1",)
    assert rep.tags == ("PCI", "Prod")
    # the latest LAST_FOUND or LAST_FIXED, not the report's GENERATION_DATETIME
    assert rep.scan_time == datetime(2025, 12, 24, tzinfo=UTC)
    got = [(e.vuln, e.severity, e.status, e.cvss, e.fixed_at) for e in rep.entries]
    assert got == [
        ("CVE-2025-0001", "critical", "open", 7.5, None),
        ("CVE-2025-0002", "critical", "open", 7.5, None),
        ("QUALYS-2", "low", "fixed", None, datetime(2025, 12, 24, tzinfo=UTC)),
        ("QUALYS-3", "none", "open", None, None),  # Ig: none, though its SEVERITY is 3
    ]
    assert rep.entries[0].provenance["port"] == "443/tcp"
    assert rep.entries[0].provenance["cvss"] == "qualys v2"
    assert rep.entries[0].first_seen_at == datetime(2025, 12, 1, tzinfo=UTC)
    assert rep.entries[2].first_seen_at is None  # no FIRST_FOUND: the scan time, in assemble


def test_xml_without_found_times_takes_the_generation_time(tmp_path: Path) -> None:
    p = tmp_path / "q.xml"
    p.write_text(_xml("<HOST><IP>10.1.1.1</IP>" + _info("1") + "</HOST>", _details("1", "4")))
    (rep,) = get_importer(ImporterFormat.QUALYS).load_reports(p)
    assert rep.scan_time == datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hosts", "glossary", "message"),
    [
        ("<HOST><IP>10.1.1.1</IP>" + _info("9") + "</HOST>", _details("1", "4"),
         r"q\.xml: \$\.HOST\[0\]\.VULN_INFO\[0\]: QID 9 has no VULN_DETAILS in the GLOSSARY"),
        ("<HOST><IP>10.1.1.1</IP>" + _info("1", "<VULN_STATUS>Closed</VULN_STATUS>") + "</HOST>",
         _details("1", "4"), r"\$\.HOST\[0\]\.VULN_INFO\[0\]\.VULN_STATUS: unknown status 'Closed'"),
        ("<HOST><IP>10.1.1.1</IP>" + _info("1") + "</HOST>", _details("1", "7"),
         r"VULN_DETAILS\[qid 1\]\.SEVERITY: unknown severity '7'"),
        ("<HOST><IP>10.1.1.1</IP>" + _info("1", "<FIRST_FOUND>2025-12-01</FIRST_FOUND>") + "</HOST>",
         _details("1", "4"), r"\$\.HOST\[0\]\.VULN_INFO\[0\]\.FIRST_FOUND: invalid timestamp"),
        ("<HOST><TRACKING_METHOD>IP</TRACKING_METHOD></HOST>", "", r"\$\.HOST\[0\]: HOST without DNS, IP or NETBIOS"),
        ("", "", "the report has no HOST"),
    ],
    ids=["qid-not-in-glossary", "status", "severity", "date", "no-host-name", "no-host"],
)
def test_bad_xml_names_the_element(tmp_path: Path, hosts: str, glossary: str, message: str) -> None:
    p = tmp_path / "q.xml"
    p.write_text(_xml(hosts, glossary))
    with pytest.raises(ImporterError, match=message):
        get_importer(ImporterFormat.QUALYS).load_reports(p, "q.xml")


def test_truncated_xml_and_wrong_root(tmp_path: Path) -> None:
    p = tmp_path / "q.xml"
    p.write_text(_xml("<HOST><IP>10.1.1.1</IP>" + _info("1") + "</HOST>", _details("1", "4"))[:-60])
    with pytest.raises(ImporterError, match=r"q\.xml:\d+:\d+: invalid XML"):
        get_importer(ImporterFormat.QUALYS).load_reports(p, "q.xml")
    p.write_text('<?xml version="1.0"?><NessusClientData_v2/>')
    with pytest.raises(ImporterError, match="not a qualys report: root element <NessusClientData_v2>"):
        get_importer(ImporterFormat.QUALYS).load_reports(p, "q.xml")
    p.write_text('{"findings": []}')
    with pytest.raises(ImporterError, match="not a qualys report: it is JSON"):
        get_importer(ImporterFormat.QUALYS).load_reports(p, "q.xml")


def _csv_with(realdata: Path, tmp_path: Path, edit: Callable[[list[str]], None]) -> Path:
    lines = (realdata / QUALYS / CVE_CSV).read_text().splitlines()
    edit(lines)
    p = tmp_path / "q.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def _replace(line: int, old: str, new: str) -> Callable[[list[str]], None]:
    def edit(lines: list[str]) -> None:
        assert old in lines[line - 1]
        lines[line - 1] = lines[line - 1].replace(old, new, 1)

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_replace(5, '"ACTIVE"', '"OPEN"'), r"q\.csv:5: column 'Status': unknown status 'OPEN'"),
        (_replace(6, '"Jan 15, 2026 10:00 AM"', '"2026-01-15"'),
         r"q\.csv:6: column 'First Detected': invalid date '2026-01-15'"),
        (_replace(7, '"Confirmed","Feb', '"Confirmed","Feb 31'), r"q\.csv:7: column 'Last Detected': invalid date"),
        (_replace(5, '"1","1","Confirmed"', '"9","1","Confirmed"'), r"q\.csv:5: column 'Severity': unknown severity '9'"),
        (_replace(8, '"7.2","7.8"', '"7.2","78"'), r"q\.csv:8: column 'CVSSv3\.1 Base \(nvd\)': CVSS score 78\.0"),
        (_replace(9, '"QUALYS"', '"QUALYS","extra"'), r"q\.csv:9: 42 cells, but the header \(line 4\) has 41"),
        (_replace(9, '"Yes","5","250"', '"Yes","9","250"'), r"q\.csv:9: column 'Asset Critical Score': '9' is not 1 to 5"),
        (_replace(4, '"QID"', '"Qid"'), "not a qualys report: no header row with QID"),
        (_replace(5, '"Update component X."', '"Update "component X."'), r"q\.csv:5: invalid CSV"),
    ],
    ids=["status", "date", "day-31", "severity", "cvss", "cells", "criticality", "no-header", "quote"],
)
def test_bad_csv_names_file_and_line(
    realdata: Path, tmp_path: Path, edit: Callable[[list[str]], None], message: str
) -> None:
    p = _csv_with(realdata, tmp_path, edit)
    with pytest.raises(ImporterError, match=message):
        get_importer(ImporterFormat.QUALYS).load_reports(p, "q.csv")


def test_csv_rows_of_one_asset_make_one_host_and_a_cve_list_splits(realdata: Path, tmp_path: Path) -> None:
    def edit(lines: list[str]) -> None:
        # row 6 becomes a second detection of SERVER01 (asset 300000001), listing two CVEs
        lines[5] = (lines[5].replace('"CVE-2023-0002"', '"CVE-2023-0002, CVE-2023-0102"')
                    .replace('"300000002","SERVER02","192.168.1.11"', '"300000001","SERVER01","192.168.1.10"'))
        lines.append(lines[4].replace('"TCP","80"', '"TCP","8080"'))  # row 5 again, another port

    p = _csv_with(realdata, tmp_path, edit)
    snap, report = build_snapshot([(ImporterFormat.QUALYS, p)])
    server01 = next(f for f in report.files if f.host == "SERVER01")
    assert server01.entries_read == 4 and server01.findings_written == 3
    assert [m.reason.split(" at ")[0] for m in server01.merged] == ["duplicate: CVE-2023-0001 on the artifact"]
    assert "line 10" in server01.merged[0].reason and "line 5" in server01.merged[0].reason
    host = next(h for h in snap.hosts if h.id == "SERVER01")
    assert sorted(f.vuln for f in host.findings) == ["CVE-2023-0001", "CVE-2023-0002", "CVE-2023-0102"]
    assert host.tags == ("Production", "Web")


def test_cli_import_qualys_exits_0_and_2(
    realdata: Path, tmp_path: Path, validate: Callable[[Path], FleetSnapshot]
) -> None:
    out = tmp_path / "fleet.json"
    result = CliRunner().invoke(main, [
        "import", "qualys", str(realdata / QUALYS / XML), str(realdata / QUALYS / QID_CSV), "-o", str(out),
    ])
    assert result.exit_code == 0, result.stderr
    assert "qualys: host demo13.s02.sjc01.qualys.com: scanned 2021-04-19T02:35:28Z (report)" in result.stdout
    assert "total: 358 entries in" in result.stdout
    snap = validate(out)
    assert len(snap.hosts) == 12  # 7 XML hosts + 5 CSV assets, no name in common
    bad = tmp_path / "bad.csv"
    bad.write_text((realdata / QUALYS / QID_CSV).read_text().replace('"FIXED"', '"GONE"'))
    result = CliRunner().invoke(main, ["import", "qualys", str(bad), "-o", str(tmp_path / "x.json")])
    assert result.exit_code == 2
    assert f"{bad}:7: column 'Status': unknown status 'GONE'" in result.stderr
    assert not (tmp_path / "x.json").exists()
