"""NIST OSCAL 1.1.3: ``oscal/assessment-results.json`` and ``oscal/poam.json``.

Contract:

* Assessment results: one result for the evaluation. The items that do not pass are
  grouped by (policy, vulnerability, verdict, exception, controls): one observation and
  one finding per group, titled and described with how many items and hosts it stands
  for, its subjects the hosts of its ``group_sample`` worst items, its evidence the lines
  of ``items.jsonl``. A group of one item reads as that item. Host checks that do not
  pass are grouped by (policy, check, verdict) the same way. Every control a policy
  evidences is a finding too (satisfied or not, with the observations behind it);
  exceptions are risks (valid: ``deviation-approved``, not yet valid:
  ``deviation-requested``, expired or over-lifetime: ``open``) whose deadline is their
  expiry. Hosts named are inventory items. The document's size follows the number of
  distinct vulnerabilities, not of items.
* POA&M: one item per (policy, vulnerability, exception) that is not remediated (open,
  due soon, overdue, excepted; unjudged items are a group of their own), with its
  affected hosts counted and sampled, a risk whose deadline is the group's earliest SLA
  deadline (as-of for unjudged items) and a remediation with that deadline as a
  ``milestone`` task; excepted groups point at the exception's risk. Host checks that do
  not pass are POA&M items too, per (policy, check, verdict), due when the first host
  went past the policy's limit (last scan plus the scan interval, pending reboot plus its
  limit) or as-of when there is no such instant (never scanned, scope error).
* Deterministic: every UUID is a uuid5 of a stable key (what it identifies; the
  documents' own UUIDs add the input digests and as-of), every timestamp is as-of.
  POA&M items, risks and hosts keep their UUIDs across runs (keyed by policy and
  vulnerability, not by host) so tools can track them.
* OSCAL tokens cannot start with a digit (``6.3.3``): a control's ``control-id`` is
  ``<framework>-<version>_<id>`` with other characters replaced by ``-``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from patchpolicy.evaluator import Evaluation
from patchpolicy.model.results import (
    VERDICT_ORDER,
    Bucket,
    ControlReport,
    ControlStatus,
    ExceptionReport,
    ExceptionStatus,
    HostCheck,
    Item,
    Verdict,
)
from patchpolicy.render._common import (
    NOT_REMEDIATED,
    control_label,
    control_state,
    count,
    day,
    days_text,
    ts,
)
from patchpolicy.render.evidence import encode_json
from patchpolicy.render.grouping import ItemGroup, group_checks, group_items
from patchpolicy.render.interface import RenderContext, Renderer

OSCAL_VERSION = "1.1.3"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:patchpolicy:oscal")
PROP_NS = "urn:patchpolicy:oscal"
EVIDENCE_HREF = "../evidence.json"
ITEMS_HREF = "../items.jsonl"
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9._-]")


_NS_BYTES = NAMESPACE.bytes


def uid(*key: str) -> str:
    """A uuid5 of the key parts: the same key gives the same UUID in every run.

    Exactly ``str(uuid.uuid5(NAMESPACE, "\\0".join(key)))`` (RFC 4122 section 4.3: SHA-1
    of namespace and name, version and variant bits set), without building a UUID
    object: a POA&M of 10^5 items asks for hundreds of thousands of them."""
    b = bytearray(hashlib.sha1(_NS_BYTES + "\0".join(key).encode(), usedforsecurity=False).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def token(text: str) -> str:
    """An OSCAL token (``^(\\p{L}|_)(\\p{L}|\\p{N}|[.\\-_])*$``, ASCII subset) from any text."""
    t = _NOT_TOKEN.sub("-", text)
    return t if t[:1].isalpha() or t[:1] == "_" else f"_{t}"


def control_id(framework: str, version: str, control: str) -> str:
    return token(f"{framework}-{version}_{control}")


def _prop(name: str, value: object) -> dict[str, str] | None:
    text = " ".join(str(value).split()) if value is not None else ""
    if not text:
        return None
    return {"name": name, "ns": PROP_NS, "value": text}


def _props(**values: object) -> list[dict[str, str]]:
    return [p for name, v in values.items() if (p := _prop(name.replace("_", "-"), v)) is not None]


def _doc_key(ctx: RenderContext) -> list[str]:
    inputs = ctx.inputs
    return [ts(ctx.evaluation.as_of), inputs.snapshot.sha256, *sorted(f.sha256 for f in inputs.policies)]


def _metadata(ctx: RenderContext, title: str) -> dict[str, Any]:
    """Title, times, the tool, and who is responsible: each policy's ``metadata.owner`` as
    a party in the role ``policy-owner``, the run (``--run-by``, or the tool) as the
    ``assessor``."""
    ev, options = ctx.evaluation, ctx.options
    owners = sorted({p.owner for p in ev.policies if p.owner})
    run = options.run_by or f"patchpolicy {ctx.inputs.tool_version}"
    parties = [{
        "uuid": uid("party", "run", run), "type": "organization", "name": run,
        "remarks": "Ran the evaluation" + (f" from policy commit {options.policy_commit}"
                                            if options.policy_commit else "") + ".",
    }]
    for owner in owners:
        party: dict[str, Any] = {"uuid": uid("party", "owner", owner), "type": "organization",
                                 "name": owner}
        if "@" in owner and " " not in owner:
            party["email-addresses"] = [owner]
        parties.append(party)
    responsible = [{"role-id": "assessor", "party-uuids": [parties[0]["uuid"]]}]
    if owners:
        responsible.append({"role-id": "policy-owner",
                            "party-uuids": [uid("party", "owner", o) for o in owners]})
    return {
        "title": title,
        "last-modified": ts(ev.as_of),
        "version": ts(ev.as_of),
        "oscal-version": OSCAL_VERSION,
        "props": _props(
            tool=f"patchpolicy {ctx.inputs.tool_version}",
            snapshot_sha256=ctx.inputs.snapshot.sha256,
            policies=", ".join(f"{p.name} {p.version}" for p in ev.policies),
            policy_commit=options.policy_commit,
        ),
        "roles": [{"id": "assessor", "title": "Assessor: who ran the evaluation"},
                  {"id": "policy-owner", "title": "Policy owner"}],
        "parties": parties,
        "responsible-parties": responsible,
    }


def _plan_resource(ctx: RenderContext) -> dict[str, Any]:
    """The back-matter resource ``import-ap`` points at: the policy files evaluated, with
    their SHA-256 digests (patchpolicy has no separate assessment plan: they are it)."""
    return {
        "uuid": uid("resource", "assessment-plan", *_doc_key(ctx)),
        "title": "Assessment plan: the policy files evaluated",
        "description": "The policies, their versions and digests are the plan; evidence.json "
                       "of the evidence bundle records them with the snapshot's digest.",
        "rlinks": [{"href": f.path, "hashes": [{"algorithm": "SHA-256", "value": f.sha256}]}
                   for f in ctx.inputs.policies],
    }


def _host_uuid(host: str) -> str:
    return uid("host", host)


def _inventory(hosts: dict[str, str | None]) -> list[dict[str, Any]]:
    """Inventory items of the hosts named (host -> owner, when known)."""
    out = []
    for host in sorted(hosts):
        item: dict[str, Any] = {"uuid": _host_uuid(host), "description": f"Host {host}."}
        props = _props(host_id=host, owner=hosts[host])
        if props:
            item["props"] = props
        out.append(item)
    return out


def _name_hosts(hosts: dict[str, str | None], g: ItemGroup) -> None:
    for i in g.sample.values():
        if hosts.get(i.host) is None:
            hosts[i.host] = i.owner


def _item_key(i: Item) -> tuple[str, str, str, str]:
    return ("item", i.policy, i.host, i.finding)


def _item_description(i: Item) -> str:
    parts = [f"Policy {i.policy}: finding {i.finding} ({i.vuln}, {i.severity}"
             f"{', KEV' if i.kev else ''}) on host {i.host} is {i.verdict.value}"]
    if i.deadline is not None:
        parts.append(f"deadline {ts(i.deadline)} ({days_text(i)})" if days_text(i) != "-" else f"deadline {ts(i.deadline)}")
    if i.binding_rule:
        parts.append(f"binding rule {i.binding_rule}")
    if i.exception:
        parts.append(f"covered by exception {i.exception}")
    if i.message:
        parts.append(i.message)
    return "; ".join(parts) + "."


def _verdict_counts(g: ItemGroup) -> str:
    return ", ".join(f"{n} {v}" for v, n in sorted(g.verdicts.items(), key=lambda kv: VERDICT_ORDER[Verdict(kv[0])]))


def _group_title(g: ItemGroup, what: str) -> str:
    w = g.worst
    if g.items == 1:
        return f"{what}: {w.finding} on {w.host}"
    return f"{what}: {w.vuln} on {count(g.hosts, 'host')} ({g.items} items)"


def _group_description(g: ItemGroup) -> str:
    """What the group stands for, every item counted; the worst item in full."""
    if g.items == 1:
        return _item_description(g.worst)
    w = g.worst
    listed = len(g.sample_hosts())
    text = (f"Policy {w.policy}: {w.vuln} ({w.severity}{', KEV' if w.kev else ''}) on "
            f"{count(g.hosts, 'host')}, {g.items} items ({_verdict_counts(g)})")
    if g.earliest_deadline is not None:
        text += f"; earliest deadline {ts(g.earliest_deadline)}"
    if w.exception:
        text += f"; covered by exception {w.exception}"
    text += (f". {listed} of {count(g.hosts, 'host')} listed, worst first; every item is a line of "
             f"{ITEMS_HREF.removeprefix('../')} (policy {w.policy}, vuln {w.vuln}). Worst: "
             + _item_description(w))
    return text


def _group_props(g: ItemGroup) -> list[dict[str, str]]:
    w = g.worst
    one = g.items == 1
    return _props(policy=w.policy, host=w.host if one else None, finding=w.finding if one else None,
                  vulnerability=w.vuln, package=w.package if one else None, severity=w.severity,
                  status=w.status if one else None, verdict=w.verdict.value, bucket=w.bucket.value,
                  items=g.items, hosts=g.hosts, verdicts=_verdict_counts(g),
                  deadline=ts(g.earliest_deadline) if g.earliest_deadline else None,
                  binding_rule=w.binding_rule, exception=w.exception,
                  fixed_version=w.fixed_version if one else None, patch=w.patch)


def _group_evidence(g: ItemGroup) -> list[dict[str, str]]:
    w = g.worst
    if g.items == 1:
        return [{"href": ITEMS_HREF, "description": f"items.jsonl item {w.policy}/{w.host}/{w.finding}"}]
    return [{"href": ITEMS_HREF,
             "description": f"The {g.items} items of policy {w.policy} for {w.vuln} in items.jsonl"}]


def _group_observation(ev: Evaluation, g: ItemGroup, key: tuple[str, ...]) -> dict[str, Any]:
    return {
        "uuid": uid("observation", ts(ev.as_of), *key),
        "title": _group_title(g, g.worst.verdict.value if len(g.verdicts) == 1 else "not remediated"),
        "description": _group_description(g),
        "props": _group_props(g),
        "methods": ["TEST"],
        "types": ["finding"],
        "subjects": [{"subject-uuid": _host_uuid(h), "type": "inventory-item", "title": h}
                     for h in g.sample_hosts()],
        "relevant-evidence": _group_evidence(g),
        "collected": ts(ev.as_of),
    }


@dataclass
class _CheckGroup:
    """Host checks of one policy, check and verdict: every host counted, a sample listed."""

    checks: list[HostCheck]

    @property
    def worst(self) -> HostCheck:
        return self.checks[0]

    def sample(self, n: int) -> list[HostCheck]:
        return self.checks[:max(n, 1)]


def _check_groups(ev: Evaluation) -> list[_CheckGroup]:
    groups = group_checks(c for c in ev.checks if c.bucket != Bucket.PASS)
    return [_CheckGroup(sorted(cs, key=lambda c: c.host)) for _, cs in sorted(groups.items())]


def _check_observation(ev: Evaluation, g: _CheckGroup, sample: int) -> dict[str, Any]:
    c, n = g.worst, len(g.checks)
    listed = g.sample(sample)
    if n == 1:
        title = f"{c.verdict.value}: host check {c.check} on {c.host}"
        description = f"Policy {c.policy}: host {c.host}: {c.detail}."
    else:
        title = f"{c.verdict.value}: host check {c.check} on {n} hosts"
        description = (f"Policy {c.policy}: host check {c.check} is {c.verdict.value} on {n} hosts"
                       f" ({len(listed)} listed, by host id; every check is in evidence.json): "
                       + "; ".join(f"{x.host}: {x.detail}" for x in listed) + ".")
    return {
        "uuid": uid("observation", ts(ev.as_of), "check", c.policy, c.check, c.verdict.value),
        "title": title,
        "description": description,
        "props": _props(policy=c.policy, host=c.host if n == 1 else None, check=c.check,
                        verdict=c.verdict.value, bucket=c.bucket.value, hosts=n),
        "methods": ["TEST"],
        "types": ["finding"],
        "subjects": [{"subject-uuid": _host_uuid(x.host), "type": "inventory-item", "title": x.host}
                     for x in listed],
        "relevant-evidence": [{"href": EVIDENCE_HREF, "description": (
            f"evidence.json host check {c.policy}/{c.host}#{c.check}" if n == 1
            else f"evidence.json host checks {c.policy}/*#{c.check} with verdict {c.verdict.value}")}],
        "collected": ts(ev.as_of),
    }


def _exception_status(x: ExceptionReport) -> str:
    if x.status in (ExceptionStatus.VALID, ExceptionStatus.EXPIRING_SOON):
        return "deviation-approved"
    if x.status == ExceptionStatus.NOT_YET_VALID:
        return "deviation-requested"
    return "open"


def _exception_risk(x: ExceptionReport) -> dict[str, Any]:
    ticket = f" Ticket {x.ticket}." if x.ticket else ""
    risk: dict[str, Any] = {
        "uuid": uid("exception", x.id),
        "title": f"Exception {x.id} ({x.status.value})",
        "description": f"{x.justification} Approved by {x.approved_by} on {day(x.approved_at)}, "
                       f"expires {ts(x.expires)}.{ticket}",
        "statement": f"Findings covered by exception {x.id} stay unpatched until {ts(x.expires)}; "
                     f"{x.items_covered} item(s) covered.",
        "props": _props(exception=x.id, exception_set=x.exception_set, exception_status=x.status.value,
                        approved_by=x.approved_by, approved_at=ts(x.approved_at), ticket=x.ticket,
                        policies=", ".join(x.policies), orphaned=str(x.orphaned).lower()),
        "status": _exception_status(x),
        "deadline": ts(x.expires),
    }
    if x.compensating_controls:
        risk["mitigating-factors"] = [
            {"uuid": uid("exception", x.id, "mitigation", m), "description": m}
            for m in x.compensating_controls
        ]
    return risk


def _control_finding(c: ControlReport, observations: list[str]) -> dict[str, Any]:
    cid = control_id(c.framework, c.framework_version, c.control)
    finding: dict[str, Any] = {
        "uuid": uid("control", c.policy, cid),
        "title": f"{control_label(c)}: {control_state(c)}",
        "description": f"Policy {c.policy} evidences {control_label(c)}"
                       + (f" ({c.title})" if c.title else "") + f": {control_state(c)}.",
        "props": _props(policy=c.policy, framework=c.framework, framework_version=c.framework_version,
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
    return (i.policy, i.vuln, i.verdict.value, i.exception or "", *i.controls)


def assessment_results(ctx: RenderContext) -> dict[str, Any]:
    """The assessment-results document as plain data: see the module docstring."""
    ev = ctx.evaluation
    sample = ctx.options.group_sample
    targets = _targets(ev)
    exceptions = {x.id: x for x in ev.exceptions}
    observations: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    by_control: dict[tuple[str, str], list[str]] = {}
    hosts: dict[str, str | None] = {}
    for g in group_items(ev.items, _finding_key, sample):
        i = g.worst
        key = ("group", *g.key)
        obs = _group_observation(ev, g, key)
        observations.append(obs)
        _name_hosts(hosts, g)
        for c in i.controls:
            by_control.setdefault((i.policy, c), []).append(obs["uuid"])
        first = next((targets[(i.policy, c)] for c in i.controls if (i.policy, c) in targets), None)
        finding: dict[str, Any] = {
            "uuid": uid("finding", ts(ev.as_of), *key),
            "title": f"{obs['title']} ({i.policy})",
            "description": obs["description"],
            "props": _props(verdict=i.verdict.value, bucket=i.bucket.value, items=g.items,
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
        findings.append(finding)
    for cg in _check_groups(ev):
        chk = cg.worst
        obs = _check_observation(ev, cg, sample)
        observations.append(obs)
        for x in cg.sample(sample):
            hosts.setdefault(x.host, None)
        for c in chk.controls:
            by_control.setdefault((chk.policy, c), []).append(obs["uuid"])
        first = next((targets[(chk.policy, c)] for c in chk.controls if (chk.policy, c) in targets), None)
        findings.append({
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
    plan = _plan_resource(ctx)
    control_findings = [_control_finding(c, by_control.get((c.policy, c.control), [])) for c in ev.controls]
    selected = sorted(set(targets.values()))
    result: dict[str, Any] = {
        "uuid": uid("result", *_doc_key(ctx)),
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
    if hosts:
        result["local-definitions"] = {"inventory-items": _inventory(hosts)}
    if observations:
        result["observations"] = observations
    if ev.exceptions:
        result["risks"] = [_exception_risk(x) for x in ev.exceptions]
    if control_findings or findings:
        result["findings"] = control_findings + findings
    return {
        "assessment-results": {
            "uuid": uid("assessment-results", *_doc_key(ctx)),
            "metadata": _metadata(ctx, f"Patch compliance assessment results as of {ts(ev.as_of)}"),
            "import-ap": {
                "href": f"#{plan['uuid']}",
                "remarks": "patchpolicy has no separate assessment plan: the policy files, "
                           "listed with their digests in back-matter, are the plan.",
            },
            "results": [result],
            "back-matter": {"resources": [plan]},
        }
    }


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
        "description": _group_description(g),
        "statement": f"{i.vuln} ({i.severity}{', known exploited' if i.kev else ''}) in "
                     f"{i.package or 'a package'} on {where} stays exploitable until patched.",
        "props": _group_props(g),
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


def _check_risk(ev: Evaluation, g: _CheckGroup, observation: str) -> dict[str, Any]:
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
        "props": _props(policy=c.policy, check=c.check, verdict=c.verdict.value, hosts=n),
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


def poam(ctx: RenderContext) -> dict[str, Any]:
    """The plan-of-action-and-milestones document as plain data: one POA&M item per
    (policy, vulnerability, exception) that is not remediated, with its affected hosts."""
    ev = ctx.evaluation
    exceptions = {x.id: x for x in ev.exceptions}
    observations, risks, items = [], [], []
    used_exceptions: set[str] = set()
    hosts: dict[str, str | None] = {}
    for g in group_items(ev.items, _poam_key, ctx.options.group_sample):
        i = g.worst
        obs = _group_observation(ev, g, ("poam", *g.key))
        observations.append(obs)
        _name_hosts(hosts, g)
        related: list[dict[str, str]] = []
        if i.verdict == Verdict.EXCEPTED and i.exception in exceptions:
            used_exceptions.add(i.exception or "")
            related.append({"risk-uuid": uid("exception", i.exception or "")})
        else:
            risk = _group_risk(g, obs["uuid"], ev.as_of)
            risks.append(risk)
            related.append({"risk-uuid": risk["uuid"]})
        items.append({
            "uuid": uid("poam-item", *g.key),
            "title": f"{obs['title']} ({i.policy})",
            "description": obs["description"],
            "props": _group_props(g) + _props(owner=i.owner if g.items == 1 else None),
            "related-observations": [{"observation-uuid": obs["uuid"]}],
            "related-risks": related,
        })
    for cg in _check_groups(ev):
        obs = _check_observation(ev, cg, ctx.options.group_sample)
        observations.append(obs)
        for x in cg.sample(ctx.options.group_sample):
            hosts.setdefault(x.host, None)
        risk = _check_risk(ev, cg, obs["uuid"])
        risks.append(risk)
        c = cg.worst
        items.append({
            "uuid": uid("poam-item", "check", c.policy, c.check, c.verdict.value),
            "title": f"{obs['title']} ({c.policy})",
            "description": obs["description"],
            "props": _props(policy=c.policy, check=c.check, verdict=c.verdict.value,
                            hosts=len(cg.checks), deadline=risk["deadline"]),
            "related-observations": [{"observation-uuid": obs["uuid"]}],
            "related-risks": [{"risk-uuid": risk["uuid"]}],
        })
    risks += [_exception_risk(x) for x in ev.exceptions if x.id in used_exceptions]
    doc: dict[str, Any] = {
        "uuid": uid("poam", *_doc_key(ctx)),
        "metadata": _metadata(ctx, f"Patch plan of action and milestones as of {ts(ev.as_of)}"),
    }
    if ctx.options.oscal_ssp:
        doc["import-ssp"] = {"href": ctx.options.oscal_ssp}
    if ctx.options.oscal_system_id:
        doc["system-id"] = {"identifier-type": "https://fedramp.gov", "id": ctx.options.oscal_system_id}
    if hosts:
        doc["local-definitions"] = {"inventory-items": _inventory(hosts)}
    if observations:
        doc["observations"] = observations
    if risks:
        doc["risks"] = risks
    if not items:
        # OSCAL requires at least one POA&M item; say plainly that nothing is open.
        items.append({
            "uuid": uid("poam-item", "none-open", ts(ev.as_of)),
            "title": "No open findings",
            "description": f"No finding is open, overdue, excepted or unjudged as of {ts(ev.as_of)}.",
        })
    doc["poam-items"] = items
    return {"plan-of-action-and-milestones": doc}


class OscalAssessmentResults(Renderer):
    """``oscal/assessment-results.json``."""

    filename = "oscal/assessment-results.json"

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json(assessment_results(ctx))


class OscalPoam(Renderer):
    """``oscal/poam.json``."""

    filename = "oscal/poam.json"

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json(poam(ctx))
