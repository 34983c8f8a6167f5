"""OSCAL mapping: observations and findings per group of non-passing items, POA&M items
per open vulnerability with deadline milestones, exceptions as risks, deterministic UUIDs and timestamps."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from render_helpers import AS_OF, build_context, fleet_context, fleet_finding, fleet_host

from patchpolicy.model.results import Verdict
from patchpolicy.render.interface import RenderContext, RenderOptions
from patchpolicy.render.oscal import assessment_results, poam, token, uid


def _ar(ctx: RenderContext) -> dict[str, Any]:
    doc: dict[str, Any] = assessment_results(ctx)["assessment-results"]
    return doc


def _poam(ctx: RenderContext) -> dict[str, Any]:
    doc: dict[str, Any] = poam(ctx)["plan-of-action-and-milestones"]
    return doc


def _prop(entry: dict[str, Any], name: str) -> str | None:
    return next((p["value"] for p in entry.get("props", []) if p["name"] == name), None)


def test_every_item_that_does_not_pass_is_counted_in_exactly_one_observation(ctx: RenderContext) -> None:
    result = _ar(ctx)["results"][0]
    ev = ctx.evaluation
    not_passing = [i for i in ev.items if i.bucket != "pass"]
    checks = [c for c in ev.checks if c.bucket != "pass"]
    item_obs = [o for o in result["observations"] if _prop(o, "check") is None]
    check_obs = [o for o in result["observations"] if _prop(o, "check") is not None]
    assert sum(int(_prop(o, "items") or 0) for o in item_obs) == len(not_passing)
    assert sum(int(_prop(o, "hosts") or 0) for o in check_obs) == len(checks)
    groups = {(i.policy, i.vuln, i.verdict.value, i.exception or "", i.controls) for i in not_passing}
    assert len(item_obs) == len(groups)
    # A group of one item reads as that item: its finding and host.
    for o in item_obs:
        if _prop(o, "items") == "1":
            i = next(i for i in not_passing if i.finding == _prop(o, "finding") and i.host == _prop(o, "host"))
            assert o["title"] == f"{i.verdict.value}: {i.finding} on {i.host}"
    pci = next(f for f in result["findings"] if f["title"].startswith("PCI-DSS 4.0.1 6.3.3"))
    assert pci["title"] == "PCI-DSS 4.0.1 6.3.3: not satisfied, 1 failing"
    assert pci["target"]["status"]["state"] == "not-satisfied"
    scans = next(f for f in result["findings"] if f["title"].startswith("PCI-DSS 4.0.1 11.3.1"))
    assert scans["target"]["status"]["state"] == "satisfied"


def test_exceptions_are_risks_with_their_expiry(ctx: RenderContext) -> None:
    risks = {r["title"].split()[1]: r for r in _ar(ctx)["results"][0]["risks"]}
    assert risks["EXC-2026-014"]["status"] == "deviation-approved"
    assert risks["EXC-2026-014"]["deadline"] == "2026-12-29T00:00:00Z"
    assert risks["EXC-2026-009"]["status"] == "open"  # expired: no longer approved
    assert [m["description"] for m in risks["EXC-2026-014"]["mitigating-factors"]] == [
        "network isolation VLAN 40", "EDR in block mode"]


def test_poam_item_per_open_vulnerability_with_its_earliest_deadline_as_milestone(ctx: RenderContext) -> None:
    doc = _poam(ctx)
    open_items = [i for i in ctx.evaluation.items if i.verdict in (
        Verdict.OPEN, Verdict.DUE_SOON, Verdict.OVERDUE, Verdict.ERROR, Verdict.EXCEPTED)]

    def key(i: Any) -> tuple[str, ...]:
        return (i.policy, i.vuln, i.exception or "" if i.verdict == Verdict.EXCEPTED else "",
                "error" if i.verdict == Verdict.ERROR else "")

    groups: dict[tuple[str, ...], list[Any]] = {}
    for i in open_items:
        groups.setdefault(key(i), []).append(i)
    vulns = [p for p in doc["poam-items"] if _prop(p, "check") is None]
    assert len(vulns) == len(groups)
    assert sum(int(_prop(p, "items") or 0) for p in vulns) == len(open_items)
    risks = {r["uuid"]: r for r in doc["risks"]}
    for k, members in groups.items():
        item = next(p for p in doc["poam-items"] if p["uuid"] == uid("poam-item", *k))
        assert _prop(item, "items") == str(len(members))
        assert _prop(item, "hosts") == str(len({i.host for i in members}))
        (ref,) = item["related-risks"]
        risk = risks[ref["risk-uuid"]]
        if members[0].verdict == Verdict.EXCEPTED:
            assert risk["status"] == "deviation-approved"
            continue
        deadlines = [i.deadline for i in members if i.deadline is not None]
        if not deadlines:  # could not be judged: due as of the evaluation
            assert risk["status"] == "investigating"
            assert risk["deadline"] == AS_OF.strftime("%Y-%m-%dT%H:%M:%SZ")
            continue
        (task,) = risk["remediations"][0]["tasks"]
        assert task["type"] == "milestone"
        assert task["timing"]["on-date"]["date"] == risk["deadline"]
        assert risk["deadline"] == min(deadlines).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_failing_host_checks_are_poam_items_due_when_the_limit_was_passed(ctx: RenderContext) -> None:
    doc = _poam(ctx)
    risks = {r["uuid"]: r for r in doc["risks"]}
    checks = {(_prop(p, "check"), _prop(p, "verdict")): p for p in doc["poam-items"] if _prop(p, "check")}
    failing = {(c.check, c.verdict.value) for c in ctx.evaluation.checks if c.bucket != "pass"}
    assert set(checks) == failing
    deadline = {k: risks[p["related-risks"][0]["risk-uuid"]]["deadline"] for k, p in checks.items()}
    # pos-db-01: reboot pending since 2026-11-15T02:40:00Z, limit 3d
    assert deadline[("reboot", "reboot_overdue")] == "2026-11-18T02:40:00Z"
    # ci-runner-07 was never scanned: no instant to add the interval to, so due as of now
    assert deadline[("scan_freshness", "never_scanned")] == "2026-11-20T06:00:00Z"
    for p in checks.values():
        (task,) = risks[p["related-risks"][0]["risk-uuid"]]["remediations"][0]["tasks"]
        assert task["timing"]["on-date"]["date"] == _prop(p, "deadline")


def test_many_hosts_with_one_vulnerability_are_one_group_that_counts_them_all(tmp_path: Path) -> None:
    hosts = [fleet_host(n, [fleet_finding("CVE-2025-0001"), fleet_finding(f"CVE-2025-{1000 + n}", "low")])
             for n in range(60)]
    ctx = fleet_context(tmp_path, hosts, RenderOptions(group_sample=5))
    ev = ctx.evaluation
    assert ev.tally.items == 120
    for doc, entries in ((_ar(ctx)["results"][0], "observations"), (_poam(ctx), "poam-items")):
        shared = [o for o in doc[entries] if _prop(o, "vulnerability") == "CVE-2025-0001"]
        assert len(shared) == 1, entries
        (g,) = shared
        assert (_prop(g, "items"), _prop(g, "hosts")) == ("60", "60")
        assert "on 60 hosts (60 items)" in g["title"]
        assert "5 of 60 hosts listed" in g["description"]
        # the other 60 vulnerabilities are one item each: 61 entries stand for all 120 items
        assert len(doc[entries]) == 61
        assert sum(int(_prop(o, "items") or 0) for o in doc[entries]) == 120
    obs = next(o for o in _ar(ctx)["results"][0]["observations"] if _prop(o, "vulnerability") == "CVE-2025-0001")
    assert [s["title"] for s in obs["subjects"]] == [f"host-{n:05d}" for n in range(5)]
    inventory = _ar(ctx)["results"][0]["local-definitions"]["inventory-items"]
    assert len(inventory) == 60  # the sample of the big group plus every single-item group's host


def test_no_wall_clock_and_stable_ids(ctx: RenderContext) -> None:
    later = build_context(AS_OF.replace(day=21))
    for doc in (assessment_results, poam):
        text = str(doc(ctx))
        stamps = set(re.findall(r"'(?:collected|last-modified|start|end|version)': '([^']+)'", text))
        assert stamps == {"2026-11-20T06:00:00Z"}
        assert doc(ctx) == doc(build_context())
    # POA&M items and their risks keep their UUIDs from one run to the next; documents do not.
    a, b = _poam(ctx), _poam(later)
    assert a["uuid"] != b["uuid"]
    shared = {p["uuid"] for p in a["poam-items"]} & {p["uuid"] for p in b["poam-items"]}
    assert len(shared) >= len(a["poam-items"]) - 1


def test_empty_poam_still_has_one_item(ctx: RenderContext) -> None:
    ev = dataclasses.replace(ctx.evaluation, items=[], checks=[])
    items = poam(RenderContext(ev, ctx.inputs))["plan-of-action-and-milestones"]["poam-items"]
    assert [i["title"] for i in items] == ["No open findings"]


def test_tokens() -> None:
    assert token("6.3.3") == "_6.3.3"
    assert token("PCI DSS/4") == "PCI-DSS-4"


@pytest.mark.parametrize("key", [(), ("",), ("a",), ("poam", "pci-dss", "web-01", "CVE-2024-6387/openssh"),
                                 ("naïve", "\u202e", "x" * 500)])
def test_uid_is_exactly_uuid5_of_the_joined_key(key: tuple[str, ...]) -> None:
    import uuid

    from patchpolicy.render.oscal import NAMESPACE, uid

    assert uid(*key) == str(uuid.uuid5(NAMESPACE, "\0".join(key)))


def test_parties_roles_and_system_references(ctx: RenderContext) -> None:
    from render_helpers import SCHEMAS, json_errors

    plain = _ar(ctx)
    # Without --run-by the tool is the assessor; every policy owner is a party.
    parties = {p["name"]: p for p in plain["metadata"]["parties"]}
    assert set(parties) == {"patchpolicy " + ctx.inputs.tool_version, "secops@example.com"}
    assert parties["secops@example.com"]["email-addresses"] == ["secops@example.com"]
    roles = {r["role-id"]: r["party-uuids"] for r in plain["metadata"]["responsible-parties"]}
    assert roles["policy-owner"] == [parties["secops@example.com"]["uuid"]]
    # import-ap names a back-matter resource listing the policy files with their digests.
    href = plain["import-ap"]["href"]
    (plan,) = [r for r in plain["back-matter"]["resources"] if f"#{r['uuid']}" == href]
    assert [(r["href"], r["hashes"][0]["value"]) for r in plan["rlinks"]] == [
        (f.path, f.sha256) for f in ctx.inputs.policies]
    assert not href.startswith("../")

    options = RenderOptions(run_by="https://ci.example/pipelines/42", policy_commit="0123abc",
                            oscal_ssp="https://grc.example/ssp.json", oscal_system_id="F1234567890")
    ran = RenderContext(ctx.evaluation, ctx.inputs, ctx.plan, options=options)
    doc = _poam(ran)
    assert doc["import-ssp"] == {"href": "https://grc.example/ssp.json"}
    assert doc["system-id"]["id"] == "F1234567890"
    run = doc["metadata"]["parties"][0]
    assert run["name"] == "https://ci.example/pipelines/42" and "0123abc" in run["remarks"]
    assert {"role-id": "assessor", "party-uuids": [run["uuid"]]} in doc["metadata"]["responsible-parties"]
    for name, document in (("oscal_poam_schema_v1.1.3.json", poam(ran)),
                           ("oscal_assessment-results_schema_v1.1.3.json", assessment_results(ran))):
        assert json_errors(SCHEMAS / name, document) == []
