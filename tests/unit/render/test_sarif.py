"""SARIF mapping: rules per policy rule, levels from buckets, suppressions for waivers,
locations at the binding rule, stable fingerprints."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from render_helpers import AS_OF, build_context

from patchpolicy.render.interface import RenderContext
from patchpolicy.render.sarif import FINGERPRINT, artifact_uri, sarif_log


def _results(ctx: RenderContext) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = sarif_log(ctx)["runs"][0]["results"]
    return results


def _by(results: list[dict[str, Any]], policy: str, host: str, key: str) -> dict[str, Any]:
    return next(r for r in results
                if r["properties"]["policy"] == policy and r["properties"]["host"] == host
                and key in (r["properties"].get("finding"), r["properties"].get("check")))


def test_one_rule_per_policy_rule_plus_checks_and_errors(ctx: RenderContext) -> None:
    rules = sarif_log(ctx)["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for cp in ctx.evaluation.bundle.policies:
        for r in cp.rules:
            assert f"{cp.name}/{r.rule.id}" in ids
        for extra in ("scan_freshness", "reboot", "scope", "error"):
            assert f"{cp.name}#{extra}" in ids
    kev = next(r for r in rules if r["id"] == "pci-dss/kev")
    assert "PCI-DSS 4.0.1 6.3.3" in kev["help"]["markdown"]
    assert "Security patches installed timely" in kev["help"]["text"]


def test_levels_follow_the_gate_buckets_and_passing_items_are_left_out(ctx: RenderContext) -> None:
    results = _results(ctx)
    levels = Counter(r["properties"]["bucket"] + ":" + r["level"] for r in results)
    t = ctx.evaluation.tally
    assert levels["fail:error"] == t.by_bucket["fail"] + t.checks_by_bucket["fail"]
    assert levels["warn:warning"] == t.by_bucket["warn"]
    assert levels["waived:note"] == t.by_bucket["waived"] > 0  # counted by no dashboard
    assert not any(r["properties"]["bucket"] == "pass" for r in results)


def test_waived_items_carry_an_external_suppression_with_the_justification(ctx: RenderContext) -> None:
    r = _by(_results(ctx), "pci-dss", "pos-gw-01", "CVE-2024-6387/openssh-server")
    (s,) = r["suppressions"]
    assert s["kind"] == "external" and s["status"] == "accepted"
    assert s["justification"].startswith("Vendor fix breaks the terminal driver")
    assert s["properties"]["exception"] == "EXC-2026-014"
    assert s["properties"]["expires"] == "2026-12-29T00:00:00Z"
    assert not any("suppressions" in x for x in _results(ctx) if x is not r
                   and x["properties"]["bucket"] != "waived")


def test_locations_point_at_the_binding_rule_or_the_policy_document(ctx: RenderContext) -> None:
    results = _results(ctx)
    cp = ctx.evaluation.bundle.policy("baseline")
    kev_rule = next(r for r in cp.rules if r.rule.id == "kev")
    overdue = _by(results, "baseline", "web-01", "CVE-2023-44487/libnghttp2-14")
    assert overdue["ruleId"] == "baseline/kev"
    phys = overdue["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"] == {"uri": "examples/policies/baseline.yaml", "uriBaseId": "%SRCROOT%"}
    assert phys["region"]["startLine"] == kev_rule.where.line > 1
    assert overdue["locations"][0]["logicalLocations"][0]["name"] == "web-01"
    error = _by(results, "baseline", "app-01", "VENDOR-2026-77/acme-agent")
    assert error["ruleId"] == "baseline#error"
    assert error["locations"][0]["physicalLocation"]["region"]["startLine"] == cp.where.line
    stale = _by(results, "baseline", "web-02", "scan_freshness")
    assert stale["ruleId"] == "baseline#scan_freshness" and stale["level"] == "error"
    rules = sarif_log(ctx)["runs"][0]["tool"]["driver"]["rules"]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)


def test_fingerprints_are_unique_and_stable_across_runs(ctx: RenderContext) -> None:
    now = [r["partialFingerprints"][FINGERPRINT] for r in _results(ctx)]
    assert len(now) == len(set(now))
    later = build_context(AS_OF.replace(day=27))
    by_item = {(r["properties"]["policy"], r["properties"]["host"],
                r["properties"].get("finding") or r["properties"]["check"]):
               r["partialFingerprints"][FINGERPRINT] for r in _results(later)}
    for r in _results(ctx):
        key = (r["properties"]["policy"], r["properties"]["host"],
               r["properties"].get("finding") or r["properties"]["check"])
        if key in by_item:
            assert by_item[key] == r["partialFingerprints"][FINGERPRINT]


def test_absolute_policy_paths_become_file_uris() -> None:
    assert artifact_uri("/srv/policies/a b.yaml") == {"uri": "file:///srv/policies/a%20b.yaml"}
    assert artifact_uri("policies/pci.yaml") == {"uri": "policies/pci.yaml", "uriBaseId": "%SRCROOT%"}


@pytest.mark.parametrize("fail_on", [(), ("due_soon",), ("due_soon", "remediated_late")])
@pytest.mark.parametrize("threshold", [1, 2])
def test_grouped_keys_count_hosts_per_gate_level(ctx: RenderContext, fail_on: tuple[str, ...],
                                                 threshold: int) -> None:
    # The host counts are collected without the gate, per verdict set; splitting them by
    # the gate's levels afterwards must count what counting each level's hosts counts.
    from patchpolicy.model.gate import Gate
    from patchpolicy.model.results import Bucket
    from patchpolicy.render.sarif import _big_keys, _GroupKeys

    ev = ctx.evaluation
    keys = _GroupKeys(Gate.of(fail_on).judge(ev), threshold)
    hosts: dict[tuple[str, ...], set[str]] = {}
    for i in ev.items:
        k = keys.item(i)
        if i.bucket != Bucket.PASS and k is not None:
            hosts.setdefault(k, set()).add(i.host)
    expected = {k for k, h in hosts.items() if len(h) >= threshold}
    assert expected, "the example evaluation has keys on that many hosts"
    assert _big_keys(ev, [], keys) == expected
