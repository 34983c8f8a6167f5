"""``results.sarif``: SARIF 2.1.0 for code-scanning dashboards.

Contract:

* one reporting rule per policy rule (id ``policy/rule``), one per host check
  (``policy#scan_freshness``, ``policy#reboot``, ``policy#scope``) and one for items that
  could not be judged (``policy#error``); each rule's help cites the controls it evidences;
* a result per item and host check that does not pass: level from the gate bucket
  (fail = ``error``, warn = ``warning``); waived items are ``error`` results carrying a
  suppression of kind ``external`` with the exception's justification, which dashboards
  show as dismissed; passing entries are left out;
* locations point at the policy file and line of the binding rule, or of the policy
  document for host checks and errors; the host is a logical location;
* ``partialFingerprints`` hash (policy, host, finding or check), so a dashboard tracks an
  item across runs whatever its message or deadline.
"""

from __future__ import annotations

from pathlib import PurePath, PurePosixPath
from typing import Any

from patchpolicy.errors import Location
from patchpolicy.evaluator import Evaluation
from patchpolicy.model.bundle import CompiledPolicy
from patchpolicy.model.gate import GateResult
from patchpolicy.model.results import Bucket, ExceptionReport, HostCheck, Item, Verdict
from patchpolicy.render._common import day, days_text, stable_hash, ts
from patchpolicy.render.evidence import encode_json
from patchpolicy.render.interface import RenderContext, Renderer

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT = "patchpolicy/v1"
LEVEL = {Bucket.FAIL: "error", Bucket.WARN: "warning", Bucket.WAIVED: "error", Bucket.PASS: "none"}
HOST_CHECKS = {
    "scan_freshness": "The host was scanned recently enough (hygiene.max_scan_age).",
    "reboot": "An installed fix does not wait for a reboot too long (hygiene.max_reboot_pending).",
    "scope": "The policy's scope expression can be evaluated for the host.",
}


def artifact_uri(path: str) -> dict[str, str]:
    """A SARIF artifactLocation: relative paths stay relative to the source root."""
    p = PurePath(path)
    if p.is_absolute():
        return {"uri": p.as_uri()}
    return {"uri": PurePosixPath(*p.parts).as_posix(), "uriBaseId": "%SRCROOT%"}


def _region(where: Location) -> dict[str, int]:
    region = {}
    if where.line > 0:
        region["startLine"] = where.line
        if where.col > 0:
            region["startColumn"] = where.col
    return region


def _location(where: Location, host: str) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": artifact_uri(where.file)}
    region = _region(where)
    if region:
        physical["region"] = region
    return {
        "physicalLocation": physical,
        "logicalLocations": [{"name": host, "kind": "resource", "fullyQualifiedName": f"host/{host}"}],
    }


def _controls_md(cp: CompiledPolicy, ids: list[str]) -> tuple[str, str, list[str]]:
    """(text, markdown, tags) citing the controls ``ids`` of a policy."""
    known = {c.id: c for c in cp.policy.metadata.controls}
    text, md, tags = [], [], []
    for cid in ids:
        c = known.get(cid)
        label = f"{c.framework} {c.version} {c.id}" if c else cid
        title = f": {c.title}" if c and c.title else ""
        text.append(f"{label}{title}")
        md.append(f"- **{label}**{title}")
        tags.append(label)
    return "; ".join(text), "\n".join(md), tags


def _rule(
    cp: CompiledPolicy, rule_id: str, short: str, head: str, desc: str, kind: str,
    controls: list[str], markdown_tail: str = "",
) -> dict[str, Any]:
    """One reportingDescriptor: help cites the controls the rule evidences."""
    text, md, tags = _controls_md(cp, controls)
    return {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": short},
        "fullDescription": {"text": f"{head}: {desc}"},
        "help": {
            "text": f"{desc} Controls: {text or 'none'}.",
            "markdown": f"{desc}\n\nEvidences:\n\n{md or '- no control'}{markdown_tail}",
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": [kind, *tags], "policy": cp.name, "policyVersion": cp.version},
    }


def _rules(ev: Evaluation) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for cp in ev.bundle.policies:
        policy = cp.policy
        head = f"policy {cp.name} {cp.version}" + (f" ({policy.metadata.title})" if policy.metadata.title else "")
        for r in cp.rules:
            rule = r.rule
            clock = ", ".join(rule.clock or policy.spec.clock)
            cap = "; capped by the CISA KEV due date" if rule.cap_by_kev_due_date else ""
            desc = f"Findings matching `{rule.when}` are remediated within {ts_age(rule.within)} of {clock}{cap}."
            short = rule.title or f"{cp.name} rule {rule.id}: remediate within {ts_age(rule.within)}"
            rules.append(_rule(cp, f"{cp.name}/{rule.id}", short, head, desc, "patch-sla",
                               list(rule.controls), f"\n\nDefined in `{cp.where.file}`."))
        hygiene = policy.spec.hygiene
        hygiene_controls = list(hygiene.controls) if hygiene else []
        for check, desc in HOST_CHECKS.items():
            rules.append(_rule(cp, f"{cp.name}#{check}", f"{cp.name} host check {check}", head,
                               desc, "host-hygiene", hygiene_controls))
        desc = ("A finding could not be judged: an expression failed or no clock source was set. "
                "This fails closed.")
        rules.append(_rule(cp, f"{cp.name}#error", f"{cp.name}: finding cannot be evaluated", head,
                           desc, "evaluation-error", [c.id for c in policy.metadata.controls]))
    return rules


def ts_age(td: Any) -> str:
    from patchpolicy.model.common import format_duration

    return format_duration(td)


def _item_message(i: Item) -> str:
    parts = [f"{i.verdict.value}: {i.finding} ({i.severity}{', KEV' if i.kev else ''}) on host {i.host}"]
    if i.deadline is not None:
        parts.append(f"deadline {day(i.deadline)} ({days_text(i)})" if days_text(i) != "-" else f"deadline {day(i.deadline)}")
    if i.binding_rule:
        parts.append(f"rule {i.binding_rule}")
    if i.fixed_version:
        parts.append(f"fixed in {i.fixed_version}")
    if i.message:
        parts.append(i.message)
    if i.before_effective:
        parts.append("policy not yet in effect")
    return "; ".join(parts) + "."


def _level(gate: GateResult, policy: str, verdict: Any, bucket: Bucket) -> str:
    """The SARIF level agrees with the gate: whatever fails the run is an error."""
    return "error" if gate.fails(policy, verdict, bucket) else LEVEL[bucket]


def _item_result(ev: Evaluation, i: Item, rule_index: dict[str, int],
                 exceptions: dict[str, ExceptionReport], gate: GateResult) -> dict[str, Any]:
    cp = ev.bundle.policy(i.policy)
    if i.verdict == Verdict.ERROR or i.binding_rule is None:
        rule_id, where = f"{i.policy}#error", cp.where
    else:
        rule_id = f"{i.policy}/{i.binding_rule}"
        where = next((r.where for r in cp.rules if r.rule.id == i.binding_rule), cp.where)
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": rule_index[rule_id],
        "level": _level(gate, i.policy, i.verdict, i.bucket),
        "kind": "fail",
        "message": {"text": _item_message(i)},
        "locations": [_location(where, i.host)],
        "partialFingerprints": {FINGERPRINT: stable_hash("item", i.policy, i.host, i.finding)},
        "properties": {
            "policy": i.policy, "host": i.host, "finding": i.finding, "vuln": i.vuln,
            "package": i.package, "severity": i.severity, "verdict": i.verdict.value,
            "bucket": i.bucket.value, "deadline": ts(i.deadline) if i.deadline else None,
            "daysLeft": i.days_left, "kev": i.kev, "controls": list(i.controls), "owner": i.owner,
        },
    }
    if i.bucket == Bucket.WAIVED and i.exception is not None:
        exc = exceptions.get(i.exception)
        suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
        if exc is not None:
            suppression["justification"] = exc.justification
            suppression["properties"] = {
                "exception": exc.id, "expires": ts(exc.expires), "approvedBy": exc.approved_by,
                "ticket": exc.ticket, "compensatingControls": list(exc.compensating_controls),
            }
        result["suppressions"] = [suppression]
    return result


def _check_result(ev: Evaluation, c: HostCheck, rule_index: dict[str, int],
                  gate: GateResult) -> dict[str, Any]:
    cp = ev.bundle.policy(c.policy)
    rule_id = f"{c.policy}#{c.check}" if f"{c.policy}#{c.check}" in rule_index else f"{c.policy}#error"
    note = "; policy not yet in effect" if c.before_effective else ""
    return {
        "ruleId": rule_id,
        "ruleIndex": rule_index[rule_id],
        "level": _level(gate, c.policy, c.verdict, c.bucket),
        "kind": "fail",
        "message": {"text": f"{c.verdict.value}: host {c.host}: {c.detail}{note}."},
        "locations": [_location(cp.where, c.host)],
        "partialFingerprints": {FINGERPRINT: stable_hash("check", c.policy, c.host, c.check)},
        "properties": {"policy": c.policy, "host": c.host, "check": c.check,
                       "verdict": c.verdict.value, "bucket": c.bucket.value,
                       "controls": list(c.controls)},
    }


def sarif_log(ctx: RenderContext) -> dict[str, Any]:
    """The SARIF log as plain data."""
    ev, inputs = ctx.evaluation, ctx.inputs
    rules = _rules(ev)
    rule_index = {r["id"]: n for n, r in enumerate(rules)}
    exceptions = {x.id: x for x in ev.exceptions}
    gate = ctx.result
    results = [_item_result(ev, i, rule_index, exceptions, gate) for i in ev.items if i.bucket != Bucket.PASS]
    results += [_check_result(ev, c, rule_index, gate) for c in ev.checks if c.bucket != Bucket.PASS]
    artifacts = [
        {"location": artifact_uri(f.path), "length": f.size, "hashes": {"sha-256": f.sha256},
         "roles": ["policy"]}
        for f in inputs.policies
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "patchpolicy",
                "version": inputs.tool_version,
                "semanticVersion": inputs.tool_version,
                "rules": rules,
            }},
            "automationDetails": {"id": f"patchpolicy/{ts(ev.as_of)}"},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory patchpolicy ran in."}}},
            "artifacts": artifacts,
            "invocations": [{"executionSuccessful": True}],
            "results": results,
            "properties": {
                "asOf": ts(ev.as_of),
                "snapshot": {"path": inputs.snapshot.path, "sha256": inputs.snapshot.sha256},
                "policies": [{"name": p.name, "version": p.version} for p in ev.policies],
                "failing": ctx.result.failing,
            },
        }],
    }


class SarifLog(Renderer):
    """``results.sarif``: see the module docstring for the mapping."""

    filename = "results.sarif"

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json(sarif_log(ctx))
