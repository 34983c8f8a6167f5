"""The OSCAL plan of action and milestones (``oscal/poam.json``): a POA&M item per group
of items that are not remediated and per group of host checks that do not pass, each
with a risk whose deadline is a milestone; excepted groups point at the exception's
risk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import ExceptionReport, Item, Verdict
from patchpolicy.render._common import NOT_REMEDIATED, count, ts
from patchpolicy.render.evidence import encode_json
from patchpolicy.render.grouping import Groups, ItemGroup, group_items
from patchpolicy.render.interface import RenderContext, Renderer, RenderOptions
from patchpolicy.render.oscal.common import (
    doc_key,
    exception_risk,
    inventory,
    metadata,
    name_hosts,
    props,
    uid,
)
from patchpolicy.render.oscal.observations import (
    CheckGroup,
    check_groups,
    check_observation,
    group_description,
    group_observation,
    group_props,
)
from patchpolicy.render.views import View

__all__ = ["OscalPoam", "poam"]


def _poam_key(i: Item) -> tuple[str, ...] | None:
    """POA&M groups: one per policy, vulnerability and exception (or none) of the items
    that are not remediated; items that could not be judged are a group of their own."""
    if i.verdict not in NOT_REMEDIATED:
        return None
    excepted = i.exception or "" if i.verdict == Verdict.EXCEPTED else ""
    return (i.policy, i.vuln, excepted, "error" if i.verdict == Verdict.ERROR else "")


def _group_risk(g: ItemGroup, observation: str, as_of: datetime) -> dict[str, Any]:
    i = g.worst
    key = ("risk", *g.key)
    where = f"host {i.host}" if g.items == 1 else count(g.hosts, "host")
    risk: dict[str, Any] = {
        "uuid": uid(*key),
        "title": (f"{i.finding} on {i.host}" if g.items == 1 else f"{i.vuln} on {where}")
                 + f" not remediated ({i.policy})",
        "description": group_description(g),
        "statement": f"{i.vuln} ({i.severity}{', known exploited' if i.kev else ''}) in "
                     f"{i.package or 'a package'} on {where} stays exploitable until patched.",
        "props": group_props(g),
        "status": "investigating" if i.verdict == Verdict.ERROR else "open",
        "related-observations": [{"observation-uuid": observation}],
    }
    # An item that could not be judged is due now: whoever owns it must make it judgeable.
    due = g.earliest_deadline if g.earliest_deadline is not None else \
        as_of if i.verdict == Verdict.ERROR else None
    if due is not None:
        deadline = ts(due)
        risk["deadline"] = deadline
        fix = f" to {i.fixed_version}" if i.fixed_version else ""
        risk["remediations"] = [{
            "uuid": uid("remediation", *g.key),
            "lifecycle": "planned",
            "title": f"Patch {i.package or i.finding}{fix} on {where}",
            "description": f"Install the fix{fix}" + (f" ({i.patch})" if i.patch else "")
                           + (f" by the SLA deadline of rule {i.binding_rule}"
                              + ("." if g.items == 1 else "; the earliest deadline of the group.")
                              if g.earliest_deadline is not None
                              else ": the finding could not be judged, so it is due as of this "
                                   "evaluation (correct the data, then patch)."),
            "tasks": [{
                "uuid": uid("milestone", *g.key),
                "type": "milestone",
                "title": f"SLA deadline for {i.finding if g.items == 1 else i.vuln} on {where}",
                "timing": {"on-date": {"date": deadline}},
            }],
        }]
    return risk


_CHECK_FIX = {
    "scan_freshness": "Scan the host again",
    "reboot": "Reboot the host",
}


def _check_risk(ev: Evaluation, g: CheckGroup, observation: str) -> dict[str, Any]:
    """The risk of a host check that does not pass: due when the first of its hosts went
    past the policy's limit (the last scan plus the scan interval; the pending reboot plus
    its limit), or as of this evaluation when there is no such instant (never scanned,
    a scope that could not be judged)."""
    c, n = g.worst, len(g.checks)
    dues = [x.due for x in g.checks if x.due is not None]
    due = ts(min(dues)) if dues else ts(ev.as_of)
    where = f"host {c.host}" if n == 1 else f"{n} hosts"
    key = ("check", c.policy, c.check, c.verdict.value)
    return {
        "uuid": uid("risk", *key),
        "title": f"host check {c.check} {c.verdict.value} on {where} ({c.policy})",
        "description": f"Policy {c.policy}: host check {c.check} is {c.verdict.value} on {where}.",
        "statement": f"Until {c.check} passes on {where}, what the evidence says of "
                     + ("its findings rests on an old scan." if c.check == "scan_freshness"
                        else "its patches is not in effect." if c.check == "reboot"
                        else "it cannot be judged."),
        "props": props(policy=c.policy, check=c.check, verdict=c.verdict.value, hosts=n),
        "status": "investigating" if c.verdict.value == "error" else "open",
        "deadline": due,
        "related-observations": [{"observation-uuid": observation}],
        "remediations": [{
            "uuid": uid("remediation", *key),
            "lifecycle": "planned",
            "title": f"{_CHECK_FIX.get(c.check, 'Correct the data of')} {where}",
            "description": f"Make host check {c.check} pass on {where}; due {due}.",
            "tasks": [{
                "uuid": uid("milestone", *key),
                "type": "milestone",
                "title": f"{c.check} due on {where}",
                "timing": {"on-date": {"date": due}},
            }],
        }],
    }


@dataclass
class _Collected:
    """What the walk over the groups gathers for the document."""

    observations: list[dict[str, Any]] = field(default_factory=list)
    risks: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    used_exceptions: set[str] = field(default_factory=set)
    """The exceptions an excepted group points at: their risks are listed after the others."""
    hosts: dict[str, str | None] = field(default_factory=dict)
    """The hosts named (host -> owner, when known): the inventory."""


def _item_entries(ev: Evaluation, exceptions: dict[str, ExceptionReport], sample: int,
                  out: _Collected) -> None:
    """A POA&M item per group of items that are not remediated, with its risk (or the
    exception's)."""
    for g in group_items(ev, _poam_key, sample):
        i = g.worst
        obs = group_observation(ev, g, ("poam", *g.key))
        out.observations.append(obs)
        name_hosts(out.hosts, g)
        related: list[dict[str, str]] = []
        if i.verdict == Verdict.EXCEPTED and i.exception in exceptions:
            out.used_exceptions.add(i.exception or "")
            related.append({"risk-uuid": uid("exception", i.exception or "")})
        else:
            risk = _group_risk(g, obs["uuid"], ev.as_of)
            out.risks.append(risk)
            related.append({"risk-uuid": risk["uuid"]})
        out.items.append({
            "uuid": uid("poam-item", *g.key),
            "title": f"{obs['title']} ({i.policy})",
            "description": obs["description"],
            "props": group_props(g) + props(owner=i.owner if g.items == 1 else None),
            "related-observations": [{"observation-uuid": obs["uuid"]}],
            "related-risks": related,
        })


def _check_entries(ev: Evaluation, sample: int, out: _Collected) -> None:
    """A POA&M item and a risk per group of host checks that do not pass."""
    for cg in check_groups(ev):
        obs = check_observation(ev, cg, sample)
        out.observations.append(obs)
        for x in cg.sample(sample):
            out.hosts.setdefault(x.host, None)
        risk = _check_risk(ev, cg, obs["uuid"])
        out.risks.append(risk)
        c = cg.worst
        out.items.append({
            "uuid": uid("poam-item", "check", c.policy, c.check, c.verdict.value),
            "title": f"{obs['title']} ({c.policy})",
            "description": obs["description"],
            "props": props(policy=c.policy, check=c.check, verdict=c.verdict.value,
                           hosts=len(cg.checks), deadline=risk["deadline"]),
            "related-observations": [{"observation-uuid": obs["uuid"]}],
            "related-risks": [{"risk-uuid": risk["uuid"]}],
        })


def poam(ctx: RenderContext) -> dict[str, Any]:
    """The plan-of-action-and-milestones document as plain data: one POA&M item per
    (policy, vulnerability, exception) that is not remediated, with its affected hosts."""
    ev = ctx.evaluation
    exceptions = {x.id: x for x in ev.exceptions}
    got = _Collected()
    _item_entries(ev, exceptions, ctx.options.group_sample, got)
    _check_entries(ev, ctx.options.group_sample, got)
    risks = got.risks + [exception_risk(x) for x in ev.exceptions if x.id in got.used_exceptions]
    doc: dict[str, Any] = {
        "uuid": uid("poam", *doc_key(ctx)),
        "metadata": metadata(ctx, f"Patch plan of action and milestones as of {ts(ev.as_of)}"),
    }
    if ctx.options.oscal_ssp:
        doc["import-ssp"] = {"href": ctx.options.oscal_ssp}
    if ctx.options.oscal_system_id:
        doc["system-id"] = {"identifier-type": "https://fedramp.gov", "id": ctx.options.oscal_system_id}
    if got.hosts:
        doc["local-definitions"] = {"inventory-items": inventory(got.hosts)}
    if got.observations:
        doc["observations"] = got.observations
    if risks:
        doc["risks"] = risks
    items = got.items
    if not items:
        # OSCAL requires at least one POA&M item; say plainly that nothing is open.
        items.append({
            "uuid": uid("poam-item", "none-open", ts(ev.as_of)),
            "title": "No open findings",
            "description": f"No finding is open, overdue, excepted or unjudged as of {ts(ev.as_of)}.",
        })
    doc["poam-items"] = items
    return {"plan-of-action-and-milestones": doc}


class OscalPoam(Renderer):
    """``oscal/poam.json``."""

    filename = "oscal/poam.json"

    def views(self, options: RenderOptions) -> list[View[Any]]:
        return [Groups(_poam_key, options.group_sample)]

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json(poam(ctx))
