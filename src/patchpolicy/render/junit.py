"""``junit.xml``: one testsuite per policy, for CI dashboards; its failures are the gate's.

Contract (docs/ci.md): one testcase per item that is not passing and per host check, named
``HOST FINDING`` / ``HOST #CHECK``; one testcase per policy standing for its passing items
(``N passing items``, never a failure); one failing testcase per gate failure that is not
an item (an exception whose match failed, a policy that judged nothing). At fleet scale
the items of one vulnerability with one verdict on ``junit_group_threshold`` hosts or
more are one testcase, ``N hosts VULN``, whose text counts every item and lists the
``group_sample`` worst; a host check with one verdict on that many hosts likewise
(``N hosts #CHECK``). A testcase fails exactly when its entries fail the run's gate
(``--fail-on`` included); each suite's ``failing`` property is the number of failing
items and host checks its failures stand for, so without grouping the ``failures`` count
equals what ``check`` reports as failing, and with it the ``failing`` properties do.
Warnings and waived items are testcases with their text in ``<system-out>``. Valid
against the Jenkins xUnit ``junit-10.xsd``; no timestamps or durations (the same
evaluation gives the same bytes).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from patchpolicy.model.evaluation import Evaluation, worst_key
from patchpolicy.model.gate import FailOn, GateResult, exception_reason
from patchpolicy.model.results import BUCKET_OF, Bucket, ExceptionReport, HostCheck, Item, Verdict
from patchpolicy.render import sanitize
from patchpolicy.render._common import VALUE, day, days_text
from patchpolicy.render.grouping import Groups, ItemGroup, group_checks, group_items
from patchpolicy.render.interface import RenderContext, Renderer, RenderOptions
from patchpolicy.render.views import View

DEFAULTS = RenderOptions()

# XML 1.0 cannot carry most C0 controls even as character references: dropped; DEL, C1
# and bidi controls shown as visible escapes (render/sanitize.py).
_clean = sanitize.xml
# Ids, names and values inside a line are one line each: every control shown as an escape.
_t = sanitize.text


def _item_line(i: Item) -> str:
    tail = [f"deadline {day(i.deadline)}"] if i.deadline else []
    if days_text(i) != "-":
        tail.append(days_text(i))
    if i.binding_rule:
        tail.append(f"rule {_t(i.binding_rule)}")
    if i.exception:
        tail.append(f"exception {_t(i.exception)}")
    if i.message:
        tail.append(_t(i.message))
    kev = ", KEV" if i.kev else ""
    return f"{i.verdict.value}: {_t(i.finding)} ({_t(i.severity)}{kev})" + (f" - {'; '.join(tail)}" if tail else "")


def _check_line(c: HostCheck) -> str:
    return f"{c.verdict.value}: host check {_t(c.check)} - {_t(c.detail)}"


def _group_line(g: ItemGroup, sample: int) -> str:
    """A grouped testcase's text: the counts, then the worst items one per line."""
    w = g.worst
    listed = g.sample.values()[:max(sample, 1)]
    head = (f"{w.verdict.value}: {_t(w.vuln)} ({_t(w.severity)}{', KEV' if w.kev else ''}) on "
            f"{g.hosts} hosts, {g.items} items")
    if g.earliest_deadline is not None:
        head += f" - earliest deadline {day(g.earliest_deadline)}"
    more = f"\n... and {g.items - len(listed)} more items: every item is in items.jsonl" \
        if g.items > len(listed) else ""
    return head + "\n" + "\n".join(f"{_t(i.host)}: {_item_line(i)}" for i in listed) + more


def _check_group_line(checks: list[HostCheck], sample: int) -> str:
    c = checks[0]
    listed = checks[:max(sample, 1)]
    more = f"\n... and {len(checks) - len(listed)} more hosts: every check is in evidence.json" \
        if len(checks) > len(listed) else ""
    return (f"{c.verdict.value}: host check {_t(c.check)} on {len(checks)} hosts\n"
            + "\n".join(f"{_t(x.host)}: {_t(x.detail)}" for x in listed) + more)


def _item_key(i: Item) -> tuple[str, ...] | None:
    return None if i.bucket == Bucket.PASS else (i.policy, i.vuln, VALUE[i.verdict])


def _keep(sample: int, threshold: int) -> int:
    """Items kept per group: enough to list a group under the threshold whole."""
    return max(sample, threshold, 1)


def _item_entries(ev: Evaluation, threshold: int, sample: int) -> dict[str, list[tuple[Any, ...]]]:
    """Per policy, its testcases to be, worst first: ("item", item) or ("group", group).

    Items that do not pass are grouped by (policy, vulnerability, verdict); a group on
    ``threshold`` hosts or more (or with more items than are kept) is one testcase."""
    keep = _keep(sample, threshold)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for g in group_items(ev, _item_key, keep):
        entries = out.setdefault(g.worst.policy, [])
        if (threshold > 0 and g.hosts >= threshold) or g.items > keep:
            entries.append((worst_key(g.worst), "group", g))
        else:
            entries.extend((worst_key(i), "item", i) for i in g.sample.values())
    for entries in out.values():
        entries.sort(key=lambda e: e[0])
    return out


def junit_tree(ev: Evaluation, gate: GateResult, options: RenderOptions = DEFAULTS) -> ET.Element:
    """The ``<testsuites>`` element."""
    root = ET.Element("testsuites", {"name": "patchpolicy"})
    total_tests = total_failures = 0
    threshold, sample = options.junit_group_threshold, options.group_sample
    entries = _item_entries(ev, threshold, sample)
    passing = {p: sum(int(n) for v, n in c.items() if BUCKET_OF[Verdict(v)] == Bucket.PASS)
               for p, c in ev.tally.by_policy.items()}
    checks = group_checks(ev.checks)
    for p in ev.policies:
        suite = ET.SubElement(root, "testsuite", {
            "name": p.name, "tests": "0", "failures": "0", "errors": "0",
            "skipped": "0", "package": "patchpolicy", "version": p.version, "file": _clean(p.file),
        })
        props = ET.SubElement(suite, "properties")
        for name, value in (("policy.version", p.version), ("policy.file", p.file),
                            ("in_effect", str(p.in_effect).lower())):
            ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
        case = _Cases(suite, p.name)
        if p.name in gate.empty_scope:
            case("scope", f"policy {p.name} judged nothing: its scope matched none of the "
                 f"{ev.tally.hosts_read} hosts", not gate.allow_empty_scope, "empty-scope")
        _check_cases(case, ev, p.name, checks, gate, options)
        _item_cases(case, entries.get(p.name, []), gate, sample)
        if passing.get(p.name):
            n = passing[p.name]
            case(f"{n} passing item{'s' if n != 1 else ''}", "", False)
        suite.set("tests", str(case.tests))
        suite.set("failures", str(case.failures))
        ET.SubElement(props, "property", {"name": "failing", "value": str(case.failing)})
        total_tests += case.tests
        total_failures += case.failures
    failed = _exceptions_suite(root, ev, gate)
    total_tests += failed
    total_failures += failed
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    return root


def _check_cases(case: _Cases, ev: Evaluation, policy: str,
                 checks: dict[tuple[str, str, str], list[HostCheck]], gate: GateResult,
                 options: RenderOptions) -> None:
    """The policy's host checks: one testcase each, or one per group on many hosts."""
    threshold, sample = options.junit_group_threshold, options.group_sample
    for c in [c for c in ev.checks if c.policy == policy]:
        group = checks[(c.policy, c.check, c.verdict.value)]
        if threshold > 0 and len(group) >= threshold:
            if c is group[0]:  # one testcase where the group's first host was
                case(f"{len(group)} hosts #{c.check}", _check_group_line(group, sample),
                     gate.fails(c.policy, c.verdict, c.bucket), items=len(group))
        else:
            case(f"{c.host} #{c.check}", _check_line(c), gate.fails(c.policy, c.verdict, c.bucket))


def _item_cases(case: _Cases, entries: list[tuple[Any, ...]], gate: GateResult,
                sample: int) -> None:
    """The policy's items that do not pass, worst first: one testcase per item or group."""
    for _, kind, entry in entries:
        if kind == "group":
            w = entry.worst
            case(f"{entry.hosts} hosts {w.vuln}", _group_line(entry, sample),
                 gate.fails(w.policy, w.verdict, w.bucket), items=entry.items)
        else:
            case(f"{entry.host} {entry.finding}", _item_line(entry),
                 gate.fails(entry.policy, entry.verdict, entry.bucket))


def _exceptions_suite(root: ET.Element, ev: Evaluation, gate: GateResult) -> int:
    """A suite of the exceptions that fail the gate, if any; the number of its testcases."""
    failing_exceptions = [(e, _exception_failure(e, gate)) for e in ev.exceptions]
    failed = [(e, why) for e, why in failing_exceptions if why]
    if failed:
        suite = ET.SubElement(root, "testsuite", {
            "name": "exceptions", "tests": str(len(failed)), "failures": str(len(failed)),
            "errors": "0", "skipped": "0", "package": "patchpolicy",
        })
        for e, why in failed:
            el = ET.SubElement(suite, "testcase", {"name": _t(e.id), "classname": "exceptions"})
            ET.SubElement(el, "failure", {"type": f"exception-{e.status.value}",
                                          "message": _clean(why)}).text = _clean(why)
    return len(failed)


class _Cases:
    """Adds testcases to one suite and counts them, and the failing entries they stand for."""

    def __init__(self, suite: ET.Element, classname: str) -> None:
        self.suite, self.classname = suite, classname
        self.tests = self.failures = self.failing = 0

    def __call__(self, name: str, text: str, failed: bool, kind: str = "policy-violation",
                 items: int = 1) -> None:
        self.tests += 1
        el = ET.SubElement(self.suite, "testcase", {"name": _t(name), "classname": _t(self.classname)})
        if failed:
            self.failures += 1
            self.failing += items
            ET.SubElement(el, "failure", {"type": kind, "message": _clean(text.split("\n")[0])}).text = _clean(text)
        elif text:
            ET.SubElement(el, "system-out").text = _clean(text)


def _exception_failure(e: ExceptionReport, gate: GateResult) -> str:
    """Why an exception fails the gate, or "": the reason is the gate's own."""
    reason = exception_reason(e, gate.fail_on)
    if reason is None:
        return ""
    if reason == "exception_error":
        return f"exception {_t(e.id)}: {_t(e.error)}"
    if reason == FailOn.EXPIRED_EXCEPTION:
        return f"exception {_t(e.id)} expired {e.expires.isoformat()}"
    names = ", ".join(e.over_lifetime_for) or ", ".join(e.policies)
    return f"exception {_t(e.id)} lasts longer than policy {_t(names)} allows (max_lifetime)"


class JunitXml(Renderer):
    """``junit.xml``: see the module docstring."""

    filename = "junit.xml"

    def views(self, options: RenderOptions) -> list[View[Any]]:
        return [Groups(_item_key, _keep(options.group_sample, options.junit_group_threshold))]

    def render(self, ctx: RenderContext) -> bytes:
        tree = junit_tree(ctx.evaluation, ctx.result, ctx.options)
        ET.indent(tree)
        body: bytes = ET.tostring(tree, encoding="utf-8", xml_declaration=True)
        return body + b"\n"
