"""The observations of both OSCAL documents: one per group of items that do not pass
(titled, described and counted for every item it stands for, the worst in full) and one
per group of host checks that do not pass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import VERDICT_ORDER, Bucket, HostCheck, Item, Verdict
from patchpolicy.render._common import count, days_text, ts
from patchpolicy.render.grouping import ItemGroup, group_checks
from patchpolicy.render.oscal.common import EVIDENCE_HREF, ITEMS_HREF, host_uuid, props, uid

__all__ = [
    "CheckGroup",
    "check_groups",
    "check_observation",
    "group_description",
    "group_observation",
    "group_props",
]


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


def group_description(g: ItemGroup) -> str:
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


def group_props(g: ItemGroup) -> list[dict[str, str]]:
    w = g.worst
    one = g.items == 1
    return props(policy=w.policy, host=w.host if one else None, finding=w.finding if one else None,
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


def group_observation(ev: Evaluation, g: ItemGroup, key: tuple[str, ...]) -> dict[str, Any]:
    return {
        "uuid": uid("observation", ts(ev.as_of), *key),
        "title": _group_title(g, g.worst.verdict.value if len(g.verdicts) == 1 else "not remediated"),
        "description": group_description(g),
        "props": group_props(g),
        "methods": ["TEST"],
        "types": ["finding"],
        "subjects": [{"subject-uuid": host_uuid(h), "type": "inventory-item", "title": h}
                     for h in g.sample_hosts()],
        "relevant-evidence": _group_evidence(g),
        "collected": ts(ev.as_of),
    }


@dataclass
class CheckGroup:
    """Host checks of one policy, check and verdict: every host counted, a sample listed."""

    checks: list[HostCheck]

    @property
    def worst(self) -> HostCheck:
        return self.checks[0]

    def sample(self, n: int) -> list[HostCheck]:
        return self.checks[:max(n, 1)]


def check_groups(ev: Evaluation) -> list[CheckGroup]:
    groups = group_checks(c for c in ev.checks if c.bucket != Bucket.PASS)
    return [CheckGroup(sorted(cs, key=lambda c: c.host)) for _, cs in sorted(groups.items())]


def check_observation(ev: Evaluation, g: CheckGroup, sample: int) -> dict[str, Any]:
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
        "props": props(policy=c.policy, host=c.host if n == 1 else None, check=c.check,
                        verdict=c.verdict.value, bucket=c.bucket.value, hosts=n),
        "methods": ["TEST"],
        "types": ["finding"],
        "subjects": [{"subject-uuid": host_uuid(x.host), "type": "inventory-item", "title": x.host}
                     for x in listed],
        "relevant-evidence": [{"href": EVIDENCE_HREF, "description": (
            f"evidence.json host check {c.policy}/{c.host}#{c.check}" if n == 1
            else f"evidence.json host checks {c.policy}/*#{c.check} with verdict {c.verdict.value}")}],
        "collected": ts(ev.as_of),
    }
