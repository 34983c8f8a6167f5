"""OSCAL mapping: observations and findings per non-passing item, POA&M items with
deadline milestones, exceptions as risks, deterministic UUIDs and timestamps."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from render_helpers import AS_OF, build_context

from patchpolicy.model.results import Verdict
from patchpolicy.render.interface import RenderContext
from patchpolicy.render.oscal import assessment_results, poam, token, uid


def _ar(ctx: RenderContext) -> dict[str, Any]:
    doc: dict[str, Any] = assessment_results(ctx)["assessment-results"]
    return doc


def _poam(ctx: RenderContext) -> dict[str, Any]:
    doc: dict[str, Any] = poam(ctx)["plan-of-action-and-milestones"]
    return doc


def test_observations_and_findings_for_every_item_that_does_not_pass(ctx: RenderContext) -> None:
    result = _ar(ctx)["results"][0]
    ev = ctx.evaluation
    not_passing = [i for i in ev.items if i.bucket != "pass"] + [c for c in ev.checks if c.bucket != "pass"]
    assert len(result["observations"]) == len(not_passing)
    per_item = [f for f in result["findings"] if "related-observations" in f and f["uuid"] not in
                {uid("control", c.policy, f["target"]["target-id"]) for c in ev.controls}]
    assert len(per_item) >= len(not_passing)
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


def test_poam_item_for_every_open_finding_with_its_deadline_as_milestone(ctx: RenderContext) -> None:
    doc = _poam(ctx)
    open_items = [i for i in ctx.evaluation.items if i.verdict in (
        Verdict.OPEN, Verdict.DUE_SOON, Verdict.OVERDUE, Verdict.ERROR, Verdict.EXCEPTED)]
    assert len(doc["poam-items"]) == len(open_items)
    risks = {r["uuid"]: r for r in doc["risks"]}
    for i in open_items:
        item = next(p for p in doc["poam-items"]
                    if p["uuid"] == uid("poam-item", "item", i.policy, i.host, i.finding))
        (ref,) = item["related-risks"]
        risk = risks[ref["risk-uuid"]]
        if i.verdict == Verdict.EXCEPTED:
            assert risk["status"] == "deviation-approved"
            continue
        if i.deadline is None:
            assert risk["status"] == "investigating" and "remediations" not in risk
            continue
        (task,) = risk["remediations"][0]["tasks"]
        assert task["type"] == "milestone"
        assert task["timing"]["on-date"]["date"] == risk["deadline"]
        assert risk["deadline"] == i.deadline.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    ev = dataclasses.replace(ctx.evaluation, items=[])
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
