"""SARIF at fleet scale: grouping of one rule and one vulnerability on many hosts, a cap
on the number of results with a note of what was left out, and GitHub's limits."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from render_helpers import ROOT, json_errors
from render_helpers import fleet_context as _context
from render_helpers import fleet_finding as _finding
from render_helpers import fleet_host as _host

from patchpolicy.render.interface import RenderContext, RenderOptions
from patchpolicy.render.sarif import CAP_NOTE, FINGERPRINT, GITHUB_FINGERPRINT, SarifLog, sarif_log

GITHUB_MAX_RESULTS = 25_000
GITHUB_MAX_GZIP = 10 * 1000 * 1000
def _run(ctx: RenderContext) -> dict[str, Any]:
    run: dict[str, Any] = json.loads(SarifLog().render(ctx))["runs"][0]
    return run


def test_a_fleet_over_githubs_limit_is_capped_validly_with_a_true_count(
        tmp_path: Path, schemas: Path) -> None:
    # 30,000 overdue findings, each vulnerability on one host only: nothing groups.
    hosts = [_host(h, [_finding(f"CVE-2025-{h * 10 + k}") for k in range(10)]) for h in range(3_000)]
    ctx = _context(tmp_path, hosts, RenderOptions())
    total = sum(1 for i in ctx.evaluation.items if i.bucket != "pass") + sum(
        1 for c in ctx.evaluation.checks if c.bucket != "pass")
    assert total == 30_000
    data = SarifLog().render(ctx)
    assert len(gzip.compress(data)) < GITHUB_MAX_GZIP
    log = json.loads(data)
    run = log["runs"][0]
    assert len(run["results"]) == GITHUB_MAX_RESULTS
    assert run["properties"]["omittedResults"] == total - GITHUB_MAX_RESULTS == 5_000
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == CAP_NOTE
    assert note["message"]["text"].startswith(f"5000 of {total} results left out")
    assert "items.jsonl" in note["message"]["text"]
    # Schema validation of 25,000 results is slow: the run whole with a slice of them.
    trimmed = {**log, "runs": [{**run, "results": run["results"][:500] + run["results"][-500:]}]}
    assert json_errors(schemas / "sarif-schema-2.1.0.json", trimmed) == []


def test_the_worst_results_are_kept_when_capped(tmp_path: Path) -> None:
    # 40 hosts: 20 with a critical (15d, long overdue) and 20 with a low (180d) finding.
    hosts = [_host(h, [_finding(f"CVE-2025-{h}", "critical" if h % 2 else "low")]) for h in range(40)]
    ctx = _context(tmp_path, hosts, RenderOptions(sarif_max_results=20, sarif_group_threshold=0))
    by_sev = {i.finding: i for i in ctx.evaluation.items}
    run = _run(ctx)
    assert len(run["results"]) == 20
    worst = sorted((i for i in by_sev.values() if i.bucket != "pass"),
                   key=lambda i: (i.days_left, i.host))[:20]
    assert {r["properties"]["finding"] for r in run["results"]} == {i.finding for i in worst}
    assert run["properties"]["omittedResults"] == sum(1 for i in by_sev.values() if i.bucket != "pass") - 20


def test_one_rule_and_one_vulnerability_on_many_hosts_is_one_result(tmp_path: Path, schemas: Path) -> None:
    hosts = [_host(h, [_finding("CVE-2025-1000")]) for h in range(12)]
    hosts += [_host(100 + h, [_finding("CVE-2025-2000")]) for h in range(2)]
    ctx = _context(tmp_path, hosts, RenderOptions())
    run = _run(ctx)
    grouped = [r for r in run["results"] if "hostCount" in r["properties"]]
    (g,) = grouped
    assert g["properties"]["hostCount"] == 12 and g["properties"]["itemCount"] == 12
    assert g["properties"]["hosts"] == [f"host-{h:05d}" for h in range(12)]
    assert g["properties"]["vuln"] == "CVE-2025-1000" and g["level"] == "error"
    assert "on 12 hosts" in g["message"]["text"]
    singles = [r for r in run["results"] if "hostCount" not in r["properties"]]
    assert sorted(r["properties"]["host"] for r in singles) == ["host-00100", "host-00101"]
    assert run["properties"]["groupedResults"] == 1
    assert json_errors(schemas / "sarif-schema-2.1.0.json", json.loads(SarifLog().render(ctx))) == []
    # The threshold is an option: above 12 hosts, or 0, nothing groups.
    for threshold in (13, 0):
        ungrouped = _run(replace(ctx, options=RenderOptions(sarif_group_threshold=threshold)))
        assert len(ungrouped["results"]) == 14
        assert not any("hostCount" in r["properties"] for r in ungrouped["results"])


def test_the_host_sample_is_capped_and_the_message_says_how_many_more(tmp_path: Path) -> None:
    hosts = [_host(h, [_finding("CVE-2025-1000")]) for h in range(50)]
    (g,) = _run(_context(tmp_path, hosts, RenderOptions()))["results"]
    assert g["properties"]["hostCount"] == 50 and len(g["properties"]["hosts"]) == 20
    assert "and 30 more" in g["message"]["text"]


def test_ungrouped_results_of_one_rule_on_two_hosts_stay_apart(tmp_path: Path) -> None:
    hosts = [_host(h, [_finding("CVE-2025-1000")]) for h in range(2)]
    a, b = _run(_context(tmp_path, hosts, RenderOptions()))["results"]
    assert a["ruleId"] == b["ruleId"]
    assert a["locations"][0]["physicalLocation"] == b["locations"][0]["physicalLocation"]
    for key in (FINGERPRINT, GITHUB_FINGERPRINT):
        assert a["partialFingerprints"][key] != b["partialFingerprints"][key]
    names = [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in (a, b)]
    assert names == ["host/host-00000", "host/host-00001"]


@pytest.mark.parametrize("threshold", [10, 0])
def test_waived_results_are_never_grouped_and_stay_suppressed(ctx: RenderContext, threshold: int) -> None:
    options = RenderOptions(sarif_group_threshold=threshold)
    results = sarif_log(replace(ctx, options=options))["runs"][0]["results"]
    waived = [r for r in results if r["properties"]["bucket"] == "waived"]
    assert waived and len(waived) == ctx.evaluation.tally.by_bucket["waived"]
    assert all(r["suppressions"][0]["status"] == "accepted" and "hostCount" not in r["properties"]
               for r in waived)


def test_rules_have_a_name_distinct_from_the_id_and_the_driver_an_information_uri(
        ctx: RenderContext) -> None:
    driver = sarif_log(ctx)["runs"][0]["tool"]["driver"]
    assert driver["informationUri"].startswith("https://")
    names = {r["id"]: r["name"] for r in driver["rules"]}
    assert names["pci-dss/kev"] == "PciDssKev"
    assert names["baseline#scan_freshness"] == "BaselineScanFreshness"
    assert all(name != rid and name.isalnum() for rid, name in names.items())


def test_check_takes_the_cap_and_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from patchpolicy.cli import main

    monkeypatch.chdir(ROOT)
    args = ["check", "-p", "examples/policies", "-s", "examples/fleet.json", "--format", "sarif"]
    full = json.loads(CliRunner().invoke(main, args).stdout)["runs"][0]
    capped = json.loads(CliRunner().invoke(main, [*args, "--sarif-max-results", "2"]).stdout)["runs"][0]
    assert len(full["results"]) > 2 and full["properties"]["omittedResults"] == 0
    assert len(capped["results"]) == 2
    assert capped["properties"]["omittedResults"] == len(full["results"]) - 2
    grouped = json.loads(CliRunner().invoke(main, [*args, "--sarif-group-threshold", "1"]).stdout)["runs"][0]
    assert grouped["properties"]["groupedResults"] > 0
    assert sum(r["properties"].get("itemCount", 1) for r in grouped["results"]) == len(full["results"])


def test_results_are_dropped_until_the_gzipped_log_fits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import patchpolicy.render.sarif as sarif

    hosts = [_host(h, [_finding(f"CVE-2025-{h * 10 + k}") for k in range(4)]) for h in range(500)]
    ctx = _context(tmp_path, hosts, RenderOptions())
    unlimited = _run(ctx)
    assert len(unlimited["results"]) == 2_000 and unlimited["properties"]["omittedResults"] == 0
    monkeypatch.setattr(sarif, "MAX_GZIP_BYTES", 40_000)
    data = SarifLog().render(ctx)
    assert len(gzip.compress(data, mtime=0)) <= 40_000
    run = json.loads(data)["runs"][0]
    kept = len(run["results"])
    assert 0 < kept < 2_000 and run["properties"]["maxResults"] == kept
    assert run["properties"]["omittedResults"] == 2_000 - kept
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith(f"{2_000 - kept} of 2000 results left out")
