"""NIST OSCAL 1.1.3: ``oscal/assessment-results.json`` and ``oscal/poam.json``.

Contract:

* Assessment results: one result for the evaluation; every failing, warning or waived
  item and every failing host check is an observation with a finding; every control a
  policy evidences is a finding too (satisfied or not, with the observations behind it);
  exceptions are risks (valid: ``deviation-approved``, not yet valid:
  ``deviation-requested``, expired or over-lifetime: ``open``) whose deadline is their
  expiry. Hosts are inventory items.
* POA&M: one item per finding that is not remediated (open, due soon, overdue, error,
  excepted), each with a risk whose deadline is the SLA deadline and a remediation with
  that deadline as a ``milestone`` task; excepted items point at the exception's risk.
* Deterministic: every UUID is a uuid5 of a stable key (what it identifies; the
  documents' own UUIDs add the input digests and as-of), every timestamp is as-of.
  POA&M items, risks and hosts keep their UUIDs across runs so tools can track them.
* OSCAL tokens cannot start with a digit (``6.3.3``): a control's ``control-id`` is
  ``<framework>-<version>_<id>`` with other characters replaced by ``-``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from patchpolicy.evaluator import Evaluation, worst_key
from patchpolicy.model.results import (
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
    day,
    days_text,
    ts,
)
from patchpolicy.render.evidence import encode_json
from patchpolicy.render.interface import RenderContext, Renderer

OSCAL_VERSION = "1.1.3"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:patchpolicy:oscal")
PROP_NS = "urn:patchpolicy:oscal"
EVIDENCE_HREF = "../evidence.json"
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
    ev = ctx.evaluation
    return {
        "title": title,
        "last-modified": ts(ev.as_of),
        "version": ts(ev.as_of),
        "oscal-version": OSCAL_VERSION,
        "props": _props(
            tool=f"patchpolicy {ctx.inputs.tool_version}",
            snapshot_sha256=ctx.inputs.snapshot.sha256,
            policies=", ".join(f"{p.name} {p.version}" for p in ev.policies),
        ),
    }


def _host_uuid(host: str) -> str:
    return uid("host", host)


def _inventory(ev: Evaluation, hosts: set[str]) -> list[dict[str, Any]]:
    owners: dict[str, str | None] = {}
    for i in ev.items:
        owners.setdefault(i.host, i.owner)
    out = []
    for host in sorted(hosts):
        item: dict[str, Any] = {"uuid": _host_uuid(host), "description": f"Host {host}."}
        props = _props(host_id=host, owner=owners.get(host))
        if props:
            item["props"] = props
        out.append(item)
    return out


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


def _observation(ev: Evaluation, i: Item) -> dict[str, Any]:
    return {
        "uuid": uid("observation", ts(ev.as_of), *_item_key(i)),
        "title": f"{i.verdict.value}: {i.finding} on {i.host}",
        "description": _item_description(i),
        "props": _props(policy=i.policy, host=i.host, finding=i.finding, vulnerability=i.vuln,
                        package=i.package, severity=i.severity, status=i.status,
                        verdict=i.verdict.value, bucket=i.bucket.value,
                        deadline=ts(i.deadline) if i.deadline else None,
                        binding_rule=i.binding_rule, fixed_version=i.fixed_version, patch=i.patch),
        "methods": ["TEST"],
        "types": ["finding"],
        "subjects": [{"subject-uuid": _host_uuid(i.host), "type": "inventory-item", "title": i.host}],
        "relevant-evidence": [{"href": EVIDENCE_HREF, "description": f"evidence.json item {i.policy}/{i.host}/{i.finding}"}],
        "collected": ts(ev.as_of),
    }


def _check_observation(ev: Evaluation, c: HostCheck) -> dict[str, Any]:
    return {
        "uuid": uid("observation", ts(ev.as_of), "check", c.policy, c.host, c.check),
        "title": f"{c.verdict.value}: host check {c.check} on {c.host}",
        "description": f"Policy {c.policy}: host {c.host}: {c.detail}.",
        "props": _props(policy=c.policy, host=c.host, check=c.check, verdict=c.verdict.value,
                        bucket=c.bucket.value),
        "methods": ["TEST"],
        "types": ["finding"],
        "subjects": [{"subject-uuid": _host_uuid(c.host), "type": "inventory-item", "title": c.host}],
        "relevant-evidence": [{"href": EVIDENCE_HREF, "description": f"evidence.json host check {c.policy}/{c.host}#{c.check}"}],
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


def assessment_results(ctx: RenderContext) -> dict[str, Any]:
    """The assessment-results document as plain data."""
    ev = ctx.evaluation
    targets = _targets(ev)
    exceptions = {x.id: x for x in ev.exceptions}
    observations: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    by_control: dict[tuple[str, str], list[str]] = {}
    hosts: set[str] = set()
    reported = sorted((i for i in ev.items if i.bucket != Bucket.PASS), key=worst_key)
    for i in reported:
        obs = _observation(ev, i)
        observations.append(obs)
        hosts.add(i.host)
        for c in i.controls:
            by_control.setdefault((i.policy, c), []).append(obs["uuid"])
        first = next((targets[(i.policy, c)] for c in i.controls if (i.policy, c) in targets), None)
        finding: dict[str, Any] = {
            "uuid": uid("finding", ts(ev.as_of), *_item_key(i)),
            "title": f"{i.verdict.value}: {i.finding} on {i.host} ({i.policy})",
            "description": _item_description(i),
            "props": _props(verdict=i.verdict.value, bucket=i.bucket.value,
                            controls=", ".join(i.controls)),
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
    for chk in ev.checks:
        if chk.bucket == Bucket.PASS:
            continue
        obs = _check_observation(ev, chk)
        observations.append(obs)
        hosts.add(chk.host)
        for c in chk.controls:
            by_control.setdefault((chk.policy, c), []).append(obs["uuid"])
        first = next((targets[(chk.policy, c)] for c in chk.controls if (chk.policy, c) in targets), None)
        findings.append({
            "uuid": uid("finding", ts(ev.as_of), "check", chk.policy, chk.host, chk.check),
            "title": f"{chk.verdict.value}: host check {chk.check} on {chk.host} ({chk.policy})",
            "description": f"Policy {chk.policy}: host {chk.host}: {chk.detail}.",
            "target": {
                "type": "objective-id",
                "target-id": first or token(f"policy-{chk.policy}"),
                "status": {"state": "not-satisfied" if chk.bucket == Bucket.FAIL else "satisfied",
                           "reason": "fail" if chk.bucket == Bucket.FAIL else "other"},
            },
            "related-observations": [{"observation-uuid": obs["uuid"]}],
        })
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
        result["local-definitions"] = {"inventory-items": _inventory(ev, hosts)}
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
                "href": EVIDENCE_HREF,
                "remarks": "patchpolicy has no separate assessment plan: the policies, their "
                           "versions and the input digests recorded in evidence.json are the plan.",
            },
            "results": [result],
        }
    }


def _item_risk(ev: Evaluation, i: Item, observation: str) -> dict[str, Any]:
    key = _item_key(i)
    risk: dict[str, Any] = {
        "uuid": uid("risk", *key),
        "title": f"{i.finding} on {i.host} not remediated ({i.policy})",
        "description": _item_description(i),
        "statement": f"{i.vuln} ({i.severity}{', known exploited' if i.kev else ''}) in "
                     f"{i.package or 'a package'} on host {i.host} stays exploitable until patched.",
        "props": _props(policy=i.policy, host=i.host, finding=i.finding, verdict=i.verdict.value,
                        severity=i.severity),
        "status": "investigating" if i.verdict == Verdict.ERROR else "open",
        "related-observations": [{"observation-uuid": observation}],
    }
    if i.deadline is not None:
        risk["deadline"] = ts(i.deadline)
        fix = f" to {i.fixed_version}" if i.fixed_version else ""
        risk["remediations"] = [{
            "uuid": uid("remediation", *key),
            "lifecycle": "planned",
            "title": f"Patch {i.package or i.finding}{fix} on {i.host}",
            "description": f"Install the fix{fix}" + (f" ({i.patch})" if i.patch else "")
                           + f" by the SLA deadline of rule {i.binding_rule or '-'}.",
            "tasks": [{
                "uuid": uid("milestone", *key),
                "type": "milestone",
                "title": f"SLA deadline for {i.finding} on {i.host}",
                "timing": {"on-date": {"date": ts(i.deadline)}},
            }],
        }]
    return risk


def poam(ctx: RenderContext) -> dict[str, Any]:
    """The plan-of-action-and-milestones document as plain data."""
    ev = ctx.evaluation
    exceptions = {x.id: x for x in ev.exceptions}
    open_items = sorted((i for i in ev.items if i.verdict in NOT_REMEDIATED), key=worst_key)
    observations, risks, items = [], [], []
    used_exceptions: set[str] = set()
    for i in open_items:
        obs = _observation(ev, i)
        observations.append(obs)
        related: list[dict[str, str]] = []
        if i.verdict == Verdict.EXCEPTED and i.exception in exceptions:
            used_exceptions.add(i.exception or "")
            related.append({"risk-uuid": uid("exception", i.exception or "")})
        else:
            risk = _item_risk(ev, i, obs["uuid"])
            risks.append(risk)
            related.append({"risk-uuid": risk["uuid"]})
        items.append({
            "uuid": uid("poam-item", *_item_key(i)),
            "title": f"{i.verdict.value}: {i.finding} on {i.host} ({i.policy})",
            "description": _item_description(i),
            "props": _props(policy=i.policy, host=i.host, finding=i.finding, verdict=i.verdict.value,
                            deadline=ts(i.deadline) if i.deadline else None, owner=i.owner),
            "related-observations": [{"observation-uuid": obs["uuid"]}],
            "related-risks": related,
        })
    risks += [_exception_risk(x) for x in ev.exceptions if x.id in used_exceptions]
    doc: dict[str, Any] = {
        "uuid": uid("poam", *_doc_key(ctx)),
        "metadata": _metadata(ctx, f"Patch plan of action and milestones as of {ts(ev.as_of)}"),
    }
    hosts = {i.host for i in open_items}
    if hosts:
        doc["local-definitions"] = {"inventory-items": _inventory(ev, hosts)}
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
