"""patchpolicy report: the metrics of a small fleet worked out by hand, a directory that
verify checks, deterministic bytes, and a page Chromium renders without a console error."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_helpers import lifecycle_fleet, make_bundles

from patchpolicy.cli import main
from patchpolicy.store import open_store, record_bundle
from patchpolicy.verify import verify_bundle

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "render"))
from test_html import _browse  # noqa: E402  (the shared headless-Chromium helper)


@pytest.fixture(scope="module")
def small_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_bundles(tmp_path_factory.mktemp("rep"), lifecycle_fleet(), list(range(9)))


def _report(url: str, bundles: list[Path], out: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    store = open_store(url, create=True)
    for b in bundles:
        record_bundle(store, b)
    store.close()
    r = CliRunner().invoke(main, ["report", "--store", url, "--from", "2026-01-01",
                                  "--to", "2026-01-31", "-o", str(out), *extra])
    assert r.exit_code == 0, r.output
    return json.loads((out / "metrics.json").read_text())


def test_metrics_of_a_fleet_worked_out_by_hand(small_bundles: list[Path], store_url: str,
                                               tmp_path: Path) -> None:
    m = _report(store_url, small_bundles, tmp_path / "r")
    period = {(x["dimension"], x["key"]): x for x in m["sla"] if x["bucket"] == "period"}
    # CVE-0001 high, deadline 11 Jan, fixed 4 Jan: met (though its deadline is after the
    # last evaluation). CVE-0002 critical, deadline 6 Jan, fixed 8 Jan: late. CVE-0003 high,
    # deadline 11 Jan, not fixed by the last evaluation (9 Jan): pending.
    assert {k: (v["due"], v["met"], v["late"], v["pending"]) for k, v in period.items()} == {
        ("severity", "all"): (2, 1, 1, 1), ("severity", "critical"): (1, 0, 1, 0),
        ("severity", "high"): (1, 1, 0, 1), ("control", "6.3.3"): (2, 1, 1, 1)}
    assert period[("severity", "all")]["attainment_pct"] == 50.0
    mt = {x["key"]: x for x in m["mttr"] if x["bucket"] == "period" and x["dimension"] == "severity"}
    assert (mt["all"]["fixed"], mt["all"]["mean_days"], mt["all"]["median_days"],
            mt["all"]["p90_days"]) == (2, 5.0, 5.0, 7.0)  # 3 and 7 days
    overdue = [(x["as_of"][:10], x["overdue"]) for x in m["backlog"] if x["overdue"]]
    assert overdue == [("2026-01-07", 1)]
    # CVE-0001 open days 0-2; CVE-0002 days 0-6; CVE-0003 excepted through 6 Jan (day 5),
    # open from day 6.
    assert [x["open"] for x in m["backlog"]] == [2, 2, 2, 1, 1, 1, 2, 1, 1]
    (exc,) = m["exceptions"]
    assert exc["active"] == ["EXC-1"] and exc["expired_while_open"] == ["EXC-1"]
    (scan,) = m["scan_cadence"]
    assert (scan["hosts"], scan["missed_hosts"]) == (2, ["h2"])  # h2: 5 Jan -> 9 Jan
    controls = {c["control"]: c for c in m["controls"]}
    assert controls["6.3.3"]["statement"] == (
        "PCI-DSS 4.0.1 6.3.3: 50.0% of 2 items due in the period fixed within their deadline; "
        "1 late, listed; 1 due after the last evaluation, not judged")
    assert controls["6.3.3"]["items"]["late"] == [
        {"host": "h2", "finding": "CVE-2026-0002/pkg", "severity": "critical",
         "deadline": "2026-01-06T06:00:00Z", "fixed_at": "2026-01-08T06:00:00Z"}]
    assert controls["11.3.1"]["statement"] == (
        "PCI-DSS 4.0.1 11.3.1: 1 of 2 hosts scanned at least every 3 days throughout; missed: h2")
    statements = (tmp_path / "r" / "statements.md").read_text()
    assert "| h2 | CVE-2026-0002/pkg | critical | 2026-01-06T06:00:00Z | 2026-01-08T06:00:00Z |" \
        in statements
    assert "| h2 | 4.00 |" in statements
    csv_text = (tmp_path / "r" / "metrics.csv").read_text()
    assert "period,sla,severity,all,sla_attainment_pct,50.00\n" in csv_text
    assert "2026-01,sla,host,h2,scan_missed_host,1\n" in csv_text


def test_report_verifies_and_tampering_is_caught(small_bundles: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "r"
    m = _report(str(tmp_path / "s.db"), small_bundles, out)
    assert m["files"] == ["SHA256SUMS", "metrics.csv", "metrics.json", "report.html",
                          "report.md", "statements.md"]
    assert verify_bundle(out).ok
    r = CliRunner().invoke(main, ["verify", str(out)])
    assert r.exit_code == 0 and r.output.startswith("ok: 5 files re-hashed")
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    (bad / "statements.md").write_text("nothing late\n")
    assert verify_bundle(bad).changed == ["statements.md"]
    (bad / "statements.md").unlink()
    v = verify_bundle(bad)
    assert v.missing == ["statements.md"] and not v.ok
    # A report with its sums and the file removed is still incomplete: metrics.json names it.
    sums = [ln for ln in (bad / "SHA256SUMS").read_text().splitlines() if "statements.md" not in ln]
    (bad / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    assert verify_bundle(bad).missing == ["statements.md"]


def test_report_is_deterministic_and_by_quarter(small_bundles: list[Path], tmp_path: Path) -> None:
    a = tmp_path / "a"
    b = tmp_path / "b"
    _report(str(tmp_path / "s1.db"), small_bundles, a, "--by", "quarter")
    _report(str(tmp_path / "s2.db"), list(reversed(small_bundles)), b, "--by", "quarter")
    for name in ("metrics.json", "metrics.csv", "report.html", "report.md", "statements.md",
                 "SHA256SUMS"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert [x["label"] for x in json.loads((a / "metrics.json").read_text())["buckets"]] == ["2026-Q1"]


def test_empty_period_and_bad_dates_exit_2(small_bundles: list[Path], tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _report(url, small_bundles[:1], tmp_path / "r")
    r = CliRunner().invoke(main, ["report", "--store", url, "--from", "2027-01-01", "--to",
                                  "2027-01-31", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "no evaluation from 2027-01-01T00:00:00Z" in r.output
    assert not (tmp_path / "x").exists()
    r = CliRunner().invoke(main, ["report", "--store", url, "--from", "2026-02-01", "--to",
                                  "2026-01-01", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "is not after" in r.output
    r = CliRunner().invoke(main, ["report", "--store", url, "--from", "2026-01-01", "--to",
                                  "2026-01-31", "--policy", "nope", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "no evaluation of policy 'nope'" in r.output


@pytest.mark.browser
def test_report_html_renders_in_chromium(small_bundles: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "r"
    _report(str(tmp_path / "s.db"), small_bundles, out)
    dom, console = _browse(out / "report.html", tmp_path, "--dump-dom")
    assert console == []
    assert dom.count("<svg") == 4 and "<polyline" in dom and "<rect" in dom
    assert "PCI-DSS 4.0.1 6.3.3: 50.0% of 2 items" in dom
    html = (out / "report.html").read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html
