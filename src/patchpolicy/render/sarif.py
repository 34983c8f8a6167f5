"""``results.sarif``: SARIF 2.1.0 for code-scanning dashboards.

Contract:

* one reporting rule per policy rule (id ``policy/rule``), one per host check
  (``policy#scan_freshness``, ``policy#reboot``, ``policy#scope``) and one for items that
  could not be judged (``policy#error``); each rule's help cites the controls it evidences;
* a result per item and host check that does not pass: level from the gate bucket
  (fail = ``error``, warn = ``warning``, and ``error`` for whatever fails the gate); waived
  items are ``note`` results carrying a suppression of kind ``external``, status
  ``accepted``, with the exception's justification, which dashboards show as dismissed and
  do not count as errors; passing entries are left out;
* locations point at the policy file and line of the binding rule, or of the policy
  document for host checks and errors; the host is a logical location;
* ``partialFingerprints`` hash (policy, host, finding or check), so a dashboard tracks an
  item across runs whatever its message or deadline; the same hash is given as
  ``primaryLocationLineHash`` so that GitHub, whose own hash would only see the policy
  line, keeps one alert per host;
* grouping: where one rule and one vulnerability (or one host check) fail or warn on at
  least ``sarif_group_threshold`` hosts, one result stands for them all, with the host
  count and a sample of hosts (properties ``hostCount``, ``itemCount``, ``hosts``);
  suppressed (waived) items are never grouped;
* cap: at most ``sarif_max_results`` results and a gzipped log under 10 MB (GitHub code
  scanning's limits); the worst are kept (``worst_key`` order, suppressed results last),
  and the run's properties and a ``toolExecutionNotifications`` note say how many were
  left out and where every item is (items.jsonl of the bundle, ``check --format json``).
"""

from __future__ import annotations

import functools
import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath
from typing import Any

from patchpolicy.errors import Location
from patchpolicy.model.evaluation import Evaluation, PolicySource, worst_key
from patchpolicy.model.gate import GateResult
from patchpolicy.model.results import (
    Bucket,
    CheckVerdict,
    ExceptionReport,
    HostCheck,
    Item,
    Verdict,
)
from patchpolicy.render._common import VALUE, day, days_text, stable_hash, ts
from patchpolicy.render.evidence import encode_json
from patchpolicy.render.interface import RenderContext, Renderer, RenderOptions
from patchpolicy.render.sarif_hosts import HostCounts, level
from patchpolicy.render.views import View, view

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT = "patchpolicy/v1"
GITHUB_FINGERPRINT = "primaryLocationLineHash"
INFORMATION_URI = "https://github.com/patchpolicy/patchpolicy"
HOST_SAMPLE = 20
"""Hosts named in a grouped result."""
MAX_GZIP_BYTES = 10 * 1000 * 1000
"""GitHub code scanning's limit on an uploaded (gzipped) SARIF file, with some margin."""
CAP_NOTE = "patchpolicy/sarif-cap"
HOST_CHECKS = {
    "scan_freshness": "The host was scanned recently enough (hygiene.max_scan_age).",
    "reboot": "An installed fix does not wait for a reboot too long (hygiene.max_reboot_pending).",
    "scope": "The policy's scope expression can be evaluated for the host.",
}


def artifact_uri(path: str) -> dict[str, str]:
    """A SARIF artifactLocation: relative paths stay relative to the source root."""
    return dict(_artifact_uri(path))


@functools.lru_cache(maxsize=256)
def _artifact_uri(path: str) -> tuple[tuple[str, str], ...]:
    # A policy file is named by every result of its rules: worked out once per path.
    p = PurePath(path)
    if p.is_absolute():
        return (("uri", p.as_uri()),)
    return (("uri", PurePosixPath(*p.parts).as_posix()), ("uriBaseId", "%SRCROOT%"))


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


def _controls_md(cp: PolicySource, ids: list[str]) -> tuple[str, str, list[str]]:
    """(text, markdown, tags) citing the controls ``ids`` of a policy."""
    known = {c.id: c for c in cp.document.metadata.controls}
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
    cp: PolicySource, rule_id: str, short: str, head: str, desc: str, kind: str,
    controls: list[str], markdown_tail: str = "",
) -> dict[str, Any]:
    """One reportingDescriptor: help cites the controls the rule evidences."""
    text, md, tags = _controls_md(cp, controls)
    return {
        "id": rule_id,
        "name": rule_name(rule_id),
        "shortDescription": {"text": short},
        "fullDescription": {"text": f"{head}: {desc}"},
        "help": {
            "text": f"{desc} Controls: {text or 'none'}.",
            "markdown": f"{desc}\n\nEvidences:\n\n{md or '- no control'}{markdown_tail}",
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": [kind, *tags], "policy": cp.name, "policyVersion": cp.version},
    }


def rule_name(rule_id: str) -> str:
    """A PascalCase name distinct from the id: ``pci-dss/kev`` -> ``PciDssKev``."""
    name = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", rule_id) if w)
    return name if name and name != rule_id else f"Rule{name}"


def _rules(ev: Evaluation) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for cp in ev.sources:
        policy = cp.document
        head = f"policy {cp.name} {cp.version}" + (f" ({policy.metadata.title})" if policy.metadata.title else "")
        for rule in policy.spec.rules:
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


def _fingerprints(digest: str) -> dict[str, str]:
    """Ours, and GitHub's (``hash:occurrence``), so hosts sharing a policy line stay apart."""
    return {FINGERPRINT: digest, GITHUB_FINGERPRINT: f"{digest}:1"}


def _item_result(ev: Evaluation, i: Item, rule_index: dict[str, int],
                 exceptions: dict[str, ExceptionReport], gate: GateResult) -> dict[str, Any]:
    cp = ev.source(i.policy)
    if i.verdict == Verdict.ERROR or i.binding_rule is None:
        rule_id, where = f"{i.policy}#error", cp.where
    else:
        rule_id = f"{i.policy}/{i.binding_rule}"
        where = cp.rule_where.get(i.binding_rule, cp.where)
    result: dict[str, Any] = {
        "ruleId": rule_id,
        "ruleIndex": rule_index[rule_id],
        "level": level(gate, i.policy, i.verdict, i.bucket),
        "kind": "fail",
        "message": {"text": _item_message(i)},
        "locations": [_location(where, i.host)],
        "partialFingerprints": _fingerprints(stable_hash("item", i.policy, i.host, i.finding)),
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
    cp = ev.source(c.policy)
    rule_id = f"{c.policy}#{c.check}" if f"{c.policy}#{c.check}" in rule_index else f"{c.policy}#error"
    note = "; policy not yet in effect" if c.before_effective else ""
    return {
        "ruleId": rule_id,
        "ruleIndex": rule_index[rule_id],
        "level": level(gate, c.policy, c.verdict, c.bucket),
        "kind": "fail",
        "message": {"text": f"{c.verdict.value}: host {c.host}: {c.detail}{note}."},
        "locations": [_location(cp.where, c.host)],
        "partialFingerprints": _fingerprints(stable_hash("check", c.policy, c.host, c.check)),
        "properties": {"policy": c.policy, "host": c.host, "check": c.check,
                       "verdict": c.verdict.value, "bucket": c.bucket.value,
                       "controls": list(c.controls)},
    }


@dataclass
class _Entry:
    """One result to be: its rank (worst first), its place in the output, what it stands
    for, and how to build it."""

    rank: tuple[Any, ...]
    position: int
    build: Callable[[], dict[str, Any]]
    items: int = 1
    grouped: bool = False


def _check_rank(c: HostCheck) -> tuple[Any, ...]:
    """Host checks ranked like items: an error first, then failing, then warning."""
    first = 0 if c.verdict == CheckVerdict.ERROR else 1 if c.bucket == Bucket.FAIL else 2
    return (0, first, 0, 1, 9, c.policy, c.host, c.check)


def _sample(hosts: list[str], total: int) -> tuple[list[str], str]:
    """The first ``HOST_SAMPLE`` hosts (sorted) and their text, with how many more."""
    sample = hosts[:HOST_SAMPLE]
    more = f" and {total - len(sample)} more" if total > len(sample) else ""
    return sample, ", ".join(sample) + more


@dataclass
class _ItemGroup:
    """The items of one grouped result, summarised as they stream past: the worst item,
    the first hosts (sorted: items come by policy, then host), the smallest package names,
    counts and the earliest deadline. Memory does not grow with the group."""

    position: int
    worst: Item
    rank: tuple[Any, ...]
    hosts: list[str] = field(default_factory=list)
    host_count: int = 0
    items: int = 0
    deadline: Any = None
    packages: set[str] = field(default_factory=set)
    last_host: str | None = None

    def add(self, i: Item, rank: tuple[Any, ...]) -> None:
        self.items += 1
        if rank < self.rank:
            self.worst, self.rank = i, rank
        if i.host != self.last_host:
            self.last_host = i.host
            self.host_count += 1
            if len(self.hosts) < HOST_SAMPLE:
                self.hosts.append(i.host)
        if i.deadline is not None and (self.deadline is None or i.deadline < self.deadline):
            self.deadline = i.deadline
        if i.package:
            self.packages.add(i.package)
            if len(self.packages) > 2 * HOST_SAMPLE:
                self.packages = set(sorted(self.packages)[:HOST_SAMPLE])


def _item_group_result(ev: Evaluation, g: _ItemGroup, rule_index: dict[str, int],
                       gate: GateResult) -> dict[str, Any]:
    """One result for one rule and one vulnerability on many hosts."""
    worst = g.worst
    one = _item_result(ev, worst, rule_index, {}, gate)
    sample, text = _sample(g.hosts, g.host_count)
    parts = [f"{worst.verdict.value}: {worst.vuln} ({worst.severity}{', KEV' if worst.kev else ''}) "
             f"on {g.host_count} hosts ({g.items} items): {text}"]
    if g.deadline is not None:
        parts.append(f"earliest deadline {day(g.deadline)}")
    if worst.binding_rule:
        parts.append(f"rule {worst.binding_rule}")
    one["message"] = {"text": "; ".join(parts) + "."}
    one["locations"][0].pop("logicalLocations")
    one["partialFingerprints"] = _fingerprints(
        stable_hash("group", worst.policy, one["ruleId"], worst.vuln, worst.bucket.value))
    one["properties"] = {
        "policy": worst.policy, "vuln": worst.vuln, "severity": worst.severity,
        "verdict": worst.verdict.value, "bucket": worst.bucket.value,
        "deadline": ts(g.deadline) if g.deadline is not None else None, "kev": worst.kev,
        "controls": list(worst.controls), "hostCount": g.host_count, "itemCount": g.items,
        "hosts": sample, "packages": sorted(g.packages)[:HOST_SAMPLE],
    }
    return one


def _check_group_result(ev: Evaluation, members: list[HostCheck], rule_index: dict[str, int],
                        gate: GateResult) -> dict[str, Any]:
    """One result for one host check failing or warning on many hosts."""
    members = sorted(members, key=_check_rank)
    worst = members[0]
    one = _check_result(ev, worst, rule_index, gate)
    hosts = sorted({c.host for c in members})
    sample, text = _sample(hosts, len(hosts))
    one["message"] = {"text": f"{worst.verdict.value}: {worst.check} on {len(hosts)} hosts: {text}."}
    one["locations"][0].pop("logicalLocations")
    one["partialFingerprints"] = _fingerprints(
        stable_hash("check-group", worst.policy, worst.check, worst.bucket.value))
    one["properties"] = {
        "policy": worst.policy, "check": worst.check, "verdict": worst.verdict.value,
        "bucket": worst.bucket.value, "controls": list(worst.controls),
        "hostCount": len(hosts), "itemCount": len(members), "hosts": sample,
    }
    return one


@dataclass
class _Entries:
    """The results kept under the cap, in output order, and what all of them stood for."""

    kept: list[_Entry]
    total: int
    total_items: int


@dataclass(frozen=True)
class _GroupKeys:
    """The grouping key of an item or host check; ``None`` for one that is never grouped."""

    gate: GateResult
    threshold: int

    def item(self, i: Item) -> tuple[str, ...] | None:
        if i.bucket == Bucket.WAIVED or self.threshold <= 0:
            return None  # suppressed results keep their own exception
        rule = f"{i.policy}#error" if i.verdict == Verdict.ERROR or i.binding_rule is None \
            else f"{i.policy}/{i.binding_rule}"
        return ("item", rule, i.vuln, VALUE[i.bucket], level(self.gate, i.policy, i.verdict, i.bucket))

    def check(self, c: HostCheck) -> tuple[str, ...] | None:
        if self.threshold <= 0:
            return None
        return ("check", c.policy, c.check, c.bucket.value,
                level(self.gate, c.policy, c.verdict, c.bucket))


@dataclass
class _Places:
    """Output positions handed out so far, results made and entries they stand for."""

    position: int = 0
    total: int = 0
    total_items: int = 0

    def take(self) -> int:
        """The next output position, counting one more result."""
        self.position += 1
        self.total += 1
        return self.position - 1


def _big_keys(ev: Evaluation, checks: list[HostCheck], keys: _GroupKeys) -> set[tuple[str, ...]]:
    """The keys on at least ``threshold`` hosts: a host counts for a key's level when one
    of its verdicts there has that level."""
    if keys.threshold <= 0:
        return set()
    host_count: dict[tuple[str, ...], int] = {}
    for (rule, vuln, bucket, policy, verdicts), n in view(ev, HostCounts()).items():
        for lvl in {level(keys.gate, policy, v, Bucket(bucket)) for v in verdicts}:
            key = ("item", rule, vuln, bucket, lvl)
            host_count[key] = host_count.get(key, 0) + n
    check_hosts: dict[tuple[str, ...], set[str]] = {}
    for c in checks:
        k = keys.check(c)
        if k is not None:
            check_hosts.setdefault(k, set()).add(c.host)
    return {k for k, n in host_count.items() if n >= keys.threshold} | \
        {k for k, h in check_hosts.items() if len(h) >= keys.threshold}


def _item_entries(ctx: RenderContext, rule_index: dict[str, int], cap: int, keys: _GroupKeys,
                  big: set[tuple[str, ...]], places: _Places) -> list[_Entry]:
    """Pass 2 over the items: single results compete for the cap as they come (memory
    stays near ``2 * cap``); the items of a big key are summarised in one group."""
    ev, gate = ctx.evaluation, keys.gate
    exceptions = {x.id: x for x in ev.exceptions}
    singles: list[tuple[tuple[Any, ...], int, Item]] = []
    groups: dict[tuple[str, ...], _ItemGroup] = {}

    def compact() -> None:
        singles.sort(key=lambda s: s[0])
        del singles[cap:]

    for i in ev.items:
        if i.bucket == Bucket.PASS:
            continue
        k = keys.item(i)
        rank = (1 if i.bucket == Bucket.WAIVED else 0, *worst_key(i))
        places.total_items += 1
        if k in big:
            assert k is not None
            g = groups.get(k)
            if g is None:
                g = groups[k] = _ItemGroup(places.take(), i, rank)
            g.add(i, rank)
            continue
        singles.append((rank, places.take(), i))
        if len(singles) >= 2 * cap:
            compact()
    compact()
    entries = [_Entry(rank, pos, lambda i=i: _item_result(ev, i, rule_index, exceptions, gate))  # type: ignore[misc]
               for rank, pos, i in singles]
    entries += [_Entry(g.rank, g.position, lambda g=g: _item_group_result(ev, g, rule_index, gate),  # type: ignore[misc]
                       items=g.items, grouped=True) for g in groups.values()]
    return entries


def _check_entries(ctx: RenderContext, rule_index: dict[str, int], checks: list[HostCheck],
                   keys: _GroupKeys, big: set[tuple[str, ...]], places: _Places) -> list[_Entry]:
    """The host checks that do not pass, those of a big key summarised in one group."""
    ev, gate = ctx.evaluation, keys.gate
    entries: list[_Entry] = []
    check_groups: dict[tuple[str, ...], tuple[_Entry, list[HostCheck]]] = {}
    for c in checks:
        k = keys.check(c)
        places.total_items += 1
        if k in big:
            assert k is not None
            found = check_groups.get(k)
            if found is None:
                members: list[HostCheck] = []
                entry = _Entry(_check_rank(c), places.take(),
                               lambda ms=members: _check_group_result(ev, ms, rule_index, gate),  # type: ignore[misc]
                               items=0, grouped=True)
                check_groups[k] = (entry, members)
                entries.append(entry)
            else:
                entry, members = found
            members.append(c)
            entry.items += 1
            entry.rank = min(entry.rank, _check_rank(c))
            continue
        entries.append(_Entry(_check_rank(c), places.take(),
                              lambda c=c: _check_result(ev, c, rule_index, gate)))  # type: ignore[misc]
    return entries


def _entries(ctx: RenderContext, rule_index: dict[str, int], cap: int) -> _Entries:
    """Every result to be, in output order (items then host checks, a group where its
    first member was), keeping the ``cap`` worst. Two passes over the items: the first
    counts hosts per (rule, vulnerability), the second keeps the worst ``cap`` single
    results and summarises each group, so memory follows the cap, not the fleet."""
    ev = ctx.evaluation
    keys = _GroupKeys(ctx.result, ctx.options.sarif_group_threshold)
    checks = [c for c in ev.checks if c.bucket != Bucket.PASS]
    big = _big_keys(ev, checks, keys)
    places = _Places()
    entries = _item_entries(ctx, rule_index, cap, keys, big, places)
    entries += _check_entries(ctx, rule_index, checks, keys, big, places)
    entries.sort(key=lambda e: e.rank)
    kept = sorted(entries[:cap], key=lambda e: e.position)
    return _Entries(kept, places.total, places.total_items)


def sarif_log(ctx: RenderContext, *, max_results: int | None = None) -> dict[str, Any]:
    """The SARIF log as plain data; ``max_results`` overrides the options' cap."""
    ev, inputs = ctx.evaluation, ctx.inputs
    rules = _rules(ev)
    rule_index = {r["id"]: n for n, r in enumerate(rules)}
    cap = ctx.options.sarif_max_results if max_results is None else max_results
    chosen = _entries(ctx, rule_index, cap)
    kept = chosen.kept
    results = [e.build() for e in kept]
    omitted = chosen.total - len(kept)
    omitted_items = chosen.total_items - sum(e.items for e in kept)
    invocation: dict[str, Any] = {"executionSuccessful": True}
    if omitted:
        invocation["toolExecutionNotifications"] = [{
            "descriptor": {"id": CAP_NOTE},
            "level": "note",
            "message": {"text": (
                f"{omitted} of {chosen.total} results left out (standing for {omitted_items} "
                f"items and host checks) to stay within GitHub code scanning's limits; the "
                f"{len(kept)} worst are kept. Every item is in items.jsonl of the evidence "
                f"bundle (patchpolicy evaluate -o DIR) and in patchpolicy check --format json; "
                f"--sarif-max-results changes the cap."
            )},
        }]
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
                "informationUri": INFORMATION_URI,
                "rules": rules,
            }},
            "automationDetails": {"id": f"patchpolicy/{ts(ev.as_of)}"},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The directory patchpolicy ran in."}}},
            "artifacts": artifacts,
            "invocations": [invocation],
            "results": results,
            "properties": {
                "asOf": ts(ev.as_of),
                "snapshot": {"path": inputs.snapshot.path, "sha256": inputs.snapshot.sha256},
                "policies": [{"name": p.name, "version": p.version} for p in ev.policies],
                "failing": ctx.result.failing,
                "groupThreshold": ctx.options.sarif_group_threshold,
                "maxResults": cap,
                "groupedResults": sum(1 for e in kept if e.grouped),
                "omittedResults": omitted,
                "omittedItems": omitted_items,
            },
        }],
    }


class SarifLog(Renderer):
    """``results.sarif``: see the module docstring for the mapping."""

    filename = "results.sarif"

    def views(self, options: RenderOptions) -> list[View[Any]]:
        return [HostCounts()] if options.sarif_group_threshold > 0 else []

    def render(self, ctx: RenderContext) -> bytes:
        """The log, with fewer results when its gzipped size would exceed ``MAX_GZIP_BYTES``."""
        cap = ctx.options.sarif_max_results
        while True:
            log = sarif_log(ctx, max_results=cap)
            data = encode_json(log)
            size = len(gzip.compress(data, compresslevel=6, mtime=0))
            n = len(log["runs"][0]["results"])
            if size <= MAX_GZIP_BYTES or n == 0:
                return data
            cap = min(n - 1, int(n * MAX_GZIP_BYTES / size * 0.9))
