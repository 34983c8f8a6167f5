"""The OSCAL assessment-results document (``oscal/assessment-results.json``): one result
for the evaluation, an observation and a finding per group of items and of host checks
that do not pass, a finding per control evidenced, exceptions as risks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import Bucket, ControlReport, ControlStatus, Item
from patchpolicy.render._common import VALUE, control_label, control_state, ts
from patchpolicy.render.evidence import encode_json
from patchpolicy.render.grouping import Groups, group_items
from patchpolicy.render.interface import RenderContext, Renderer, RenderOptions
from patchpolicy.render.oscal.common import (
    control_id,
    doc_key,
    exception_risk,
    inventory,
    metadata,
    name_hosts,
    props,
    token,
    uid,
)
from patchpolicy.render.oscal.observations import check_groups, check_observation, group_observation
from patchpolicy.render.views import View

__all__ = ["OscalAssessmentResults", "assessment_results"]


def _plan_resource(ctx: RenderContext) -> dict[str, Any]:
    """The back-matter resource ``import-ap`` points at: the policy files evaluated, with
    their SHA-256 digests (patchpolicy has no separate assessment plan: they are it)."""
    return {
        "uuid": uid("resource", "assessment-plan", *doc_key(ctx)),
        "title": "Assessment plan: the policy files evaluated",
        "description": "The policies, their versions and digests are the plan; evidence.json "
                       "of the evidence bundle records them with the snapshot's digest.",
        "rlinks": [{"href": f.path, "hashes": [{"algorithm": "SHA-256", "value": f.sha256}]}
                   for f in ctx.inputs.policies],
    }


def _control_finding(c: ControlReport, observations: list[str]) -> dict[str, Any]:
    cid = control_id(c.framework, c.framework_version, c.control)
    finding: dict[str, Any] = {
        "uuid": uid("control", c.policy, cid),
        "title": f"{control_label(c)}: {control_state(c)}",
        "description": f"Policy {c.policy} evidences {control_label(c)}"
                       + (f" ({c.title})" if c.title else "") + f": {control_state(c)}.",
        "props": props(policy=c.policy, framework=c.framework, framework_version=c.framework_version,
                        control=c.control, failing=c.failing_total),
        "target": {
            "type": "objective-id",
            "target-id": cid,
            "status": (
                {"state": "satisfied"} if c.status == ControlStatus.SATISFIED
                else {"state": "not-satisfied", "reason": "other",
                      "remarks": "Not assessed: the policy's scope matched no host of the snapshot."}
                if c.status == ControlStatus.NOT_ASSESSED
                else {"state": "not-satisfied"}
            ),
        },
    }
    if observations:
        finding["related-observations"] = [{"observation-uuid": o} for o in observations]
    return finding


def _targets(ev: Evaluation) -> dict[tuple[str, str], str]:
    """(policy, control id as written) -> OSCAL control-id."""
    return {(c.policy, c.control): control_id(c.framework, c.framework_version, c.control)
            for c in ev.controls}


def _finding_key(i: Item) -> tuple[str, ...] | None:
    """Assessment-results groups: one per policy, vulnerability, verdict, exception and
    controls, of the items that do not pass."""
    if i.bucket == Bucket.PASS:
        return None
    return (i.policy, i.vuln, VALUE[i.verdict], i.exception or "", *i.controls)


@dataclass
class _Collected:
    """What the walk over the groups gathers for the result."""

    observations: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    by_control: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(policy, control) -> the observations behind it."""
    hosts: dict[str, str | None] = field(default_factory=dict)
    """The hosts named (host -> owner, when known): the inventory."""


def _item_findings(ev: Evaluation, sample: int, targets: dict[tuple[str, str], str],
                   out: _Collected) -> None:
    """An observation and a finding per group of items that do not pass."""
    exceptions = {x.id: x for x in ev.exceptions}
    for g in group_items(ev, _finding_key, sample):
        i = g.worst
        key = ("group", *g.key)
        obs = group_observation(ev, g, key)
        out.observations.append(obs)
        name_hosts(out.hosts, g)
        for c in i.controls:
            out.by_control.setdefault((i.policy, c), []).append(obs["uuid"])
        first = next((targets[(i.policy, c)] for c in i.controls if (i.policy, c) in targets), None)
        finding: dict[str, Any] = {
            "uuid": uid("finding", ts(ev.as_of), *key),
            "title": f"{obs['title']} ({i.policy})",
            "description": obs["description"],
            "props": props(verdict=i.verdict.value, bucket=i.bucket.value, items=g.items,
                           hosts=g.hosts, controls=", ".join(i.controls)),
            "target": {
                "type": "objective-id",
                "target-id": first or token(f"policy-{i.policy}"),
                "status": {"state": "not-satisfied" if i.bucket == Bucket.FAIL else "satisfied",
                           "reason": "fail" if i.bucket == Bucket.FAIL else "other"},
            },
            "related-observations": [{"observation-uuid": obs["uuid"]}],
        }
        if i.exception in exceptions:
            finding["related-risks"] = [{"risk-uuid": uid("exception", i.exception or "")}]
        out.findings.append(finding)


def _check_findings(ev: Evaluation, sample: int, targets: dict[tuple[str, str], str],
                    out: _Collected) -> None:
    """An observation and a finding per group of host checks that do not pass."""
    for cg in check_groups(ev):
        chk = cg.worst
        obs = check_observation(ev, cg, sample)
        out.observations.append(obs)
        for x in cg.sample(sample):
            out.hosts.setdefault(x.host, None)
        for c in chk.controls:
            out.by_control.setdefault((chk.policy, c), []).append(obs["uuid"])
        first = next((targets[(chk.policy, c)] for c in chk.controls if (chk.policy, c) in targets), None)
        out.findings.append({
            "uuid": uid("finding", ts(ev.as_of), "check", chk.policy, chk.check, chk.verdict.value),
            "title": f"{obs['title']} ({chk.policy})",
            "description": obs["description"],
            "target": {
                "type": "objective-id",
                "target-id": first or token(f"policy-{chk.policy}"),
                "status": {"state": "not-satisfied" if chk.bucket == Bucket.FAIL else "satisfied",
                           "reason": "fail" if chk.bucket == Bucket.FAIL else "other"},
            },
            "related-observations": [{"observation-uuid": obs["uuid"]}],
        })


def _result(ctx: RenderContext, targets: dict[tuple[str, str], str], got: _Collected) -> dict[str, Any]:
    """The one result: the controls reviewed, the inventory, observations, risks and
    findings (the controls' findings first)."""
    ev = ctx.evaluation
    control_findings = [_control_finding(c, got.by_control.get((c.policy, c.control), []))
                        for c in ev.controls]
    selected = sorted(set(targets.values()))
    result: dict[str, Any] = {
        "uuid": uid("result", *doc_key(ctx)),
        "title": f"patchpolicy evaluation as of {ts(ev.as_of)}",
        "description": f"Patch SLA evaluation of {ev.tally.hosts_read} hosts and "
                       f"{ev.tally.findings_read} findings against "
                       + ", ".join(f"{p.name} {p.version}" for p in ev.policies)
                       + f"; {ctx.result.failing} failing.",
        "start": ts(ev.as_of),
        "end": ts(ev.as_of),
        "reviewed-controls": {
            "control-selections": [
                {"include-controls": [{"control-id": c} for c in selected]} if selected
                else {"include-all": {}}
            ],
        },
    }
    if got.hosts:
        result["local-definitions"] = {"inventory-items": inventory(got.hosts)}
    if got.observations:
        result["observations"] = got.observations
    if ev.exceptions:
        result["risks"] = [exception_risk(x) for x in ev.exceptions]
    if control_findings or got.findings:
        result["findings"] = control_findings + got.findings
    return result


def assessment_results(ctx: RenderContext) -> dict[str, Any]:
    """The assessment-results document as plain data: see :mod:`patchpolicy.render.oscal`."""
    ev = ctx.evaluation
    sample = ctx.options.group_sample
    targets = _targets(ev)
    got = _Collected()
    _item_findings(ev, sample, targets, got)
    _check_findings(ev, sample, targets, got)
    plan = _plan_resource(ctx)
    return {
        "assessment-results": {
            "uuid": uid("assessment-results", *doc_key(ctx)),
            "metadata": metadata(ctx, f"Patch compliance assessment results as of {ts(ev.as_of)}"),
            "import-ap": {
                "href": f"#{plan['uuid']}",
                "remarks": "patchpolicy has no separate assessment plan: the policy files, "
                           "listed with their digests in back-matter, are the plan.",
            },
            "results": [_result(ctx, targets, got)],
            "back-matter": {"resources": [plan]},
        }
    }


class OscalAssessmentResults(Renderer):
    """``oscal/assessment-results.json``."""

    filename = "oscal/assessment-results.json"

    def views(self, options: RenderOptions) -> list[View[Any]]:
        return [Groups(_finding_key, options.group_sample)]

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json(assessment_results(ctx))
