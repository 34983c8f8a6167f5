"""What both OSCAL documents share: deterministic UUIDs, tokens and control ids, the
``props`` of this tool's namespace, the metadata (parties and roles), the inventory of
the hosts named, and an exception as a risk."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from patchpolicy.model.results import ExceptionReport, ExceptionStatus
from patchpolicy.render._common import day, ts
from patchpolicy.render.grouping import ItemGroup
from patchpolicy.render.interface import RenderContext

__all__ = [
    "EVIDENCE_HREF",
    "ITEMS_HREF",
    "NAMESPACE",
    "OSCAL_VERSION",
    "PROP_NS",
    "control_id",
    "doc_key",
    "exception_risk",
    "host_uuid",
    "inventory",
    "metadata",
    "name_hosts",
    "props",
    "token",
    "uid",
]

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


def props(**values: object) -> list[dict[str, str]]:
    return [p for name, v in values.items() if (p := _prop(name.replace("_", "-"), v)) is not None]


def doc_key(ctx: RenderContext) -> list[str]:
    inputs = ctx.inputs
    return [ts(ctx.evaluation.as_of), inputs.snapshot.sha256, *sorted(f.sha256 for f in inputs.policies)]


def metadata(ctx: RenderContext, title: str) -> dict[str, Any]:
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
        "props": props(
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


def host_uuid(host: str) -> str:
    return uid("host", host)


def inventory(hosts: dict[str, str | None]) -> list[dict[str, Any]]:
    """Inventory items of the hosts named (host -> owner, when known)."""
    out = []
    for host in sorted(hosts):
        item: dict[str, Any] = {"uuid": host_uuid(host), "description": f"Host {host}."}
        host_props = props(host_id=host, owner=hosts[host])
        if host_props:
            item["props"] = host_props
        out.append(item)
    return out


def name_hosts(hosts: dict[str, str | None], g: ItemGroup) -> None:
    for i in g.sample.values():
        if hosts.get(i.host) is None:
            hosts[i.host] = i.owner


def _exception_status(x: ExceptionReport) -> str:
    if x.status in (ExceptionStatus.VALID, ExceptionStatus.EXPIRING_SOON):
        return "deviation-approved"
    if x.status == ExceptionStatus.NOT_YET_VALID:
        return "deviation-requested"
    return "open"


def exception_risk(x: ExceptionReport) -> dict[str, Any]:
    ticket = f" Ticket {x.ticket}." if x.ticket else ""
    risk: dict[str, Any] = {
        "uuid": uid("exception", x.id),
        "title": f"Exception {x.id} ({x.status.value})",
        "description": f"{x.justification} Approved by {x.approved_by} on {day(x.approved_at)}, "
                       f"expires {ts(x.expires)}.{ticket}",
        "statement": f"Findings covered by exception {x.id} stay unpatched until {ts(x.expires)}; "
                     f"{x.items_covered} item(s) covered.",
        "props": props(exception=x.id, exception_set=x.exception_set, exception_status=x.status.value,
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
