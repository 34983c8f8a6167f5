"""``junit.xml``: one testsuite per policy, for CI dashboards; its failures are the gate's.

Contract (docs/ci.md): one testcase per item that is not passing and per host check, named
``HOST FINDING`` / ``HOST #CHECK``; one testcase per policy standing for its passing items
(``N passing items``, never a failure); one failing testcase per gate failure that is not
an item (an exception whose match failed, a policy that judged nothing). A testcase fails
exactly when its entry fails the run's gate (``--fail-on`` included), so the ``failures``
count equals what ``check`` reports as failing. Warnings and waived items are testcases
with their text in ``<system-out>``. Valid against the Jenkins xUnit ``junit-10.xsd``; no
timestamps or durations (the same evaluation gives the same bytes).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from patchpolicy.evaluator import Evaluation, worst_key
from patchpolicy.model.gate import FailOn, GateResult, exception_reason
from patchpolicy.model.results import Bucket, ExceptionReport, HostCheck, Item
from patchpolicy.render import sanitize
from patchpolicy.render._common import day, days_text
from patchpolicy.render.interface import RenderContext, Renderer

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


def junit_tree(ev: Evaluation, gate: GateResult) -> ET.Element:
    """The ``<testsuites>`` element."""
    root = ET.Element("testsuites", {"name": "patchpolicy"})
    total_tests = total_failures = 0
    items: dict[str, list[Item]] = {}
    passing: dict[str, int] = {}
    for i in ev.items:
        if i.bucket == Bucket.PASS:
            passing[i.policy] = passing.get(i.policy, 0) + 1
        else:
            items.setdefault(i.policy, []).append(i)
    checks: dict[str, list[HostCheck]] = {}
    for c in ev.checks:
        checks.setdefault(c.policy, []).append(c)
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
        for c in checks.get(p.name, []):
            case(f"{c.host} #{c.check}", _check_line(c), gate.fails(c.policy, c.verdict, c.bucket))
        for i in sorted(items.get(p.name, []), key=worst_key):
            case(f"{i.host} {i.finding}", _item_line(i), gate.fails(i.policy, i.verdict, i.bucket))
        if passing.get(p.name):
            n = passing[p.name]
            case(f"{n} passing item{'s' if n != 1 else ''}", "", False)
        suite.set("tests", str(case.tests))
        suite.set("failures", str(case.failures))
        total_tests += case.tests
        total_failures += case.failures
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
        total_tests += len(failed)
        total_failures += len(failed)
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    return root


class _Cases:
    """Adds testcases to one suite and counts them."""

    def __init__(self, suite: ET.Element, classname: str) -> None:
        self.suite, self.classname = suite, classname
        self.tests = self.failures = 0

    def __call__(self, name: str, text: str, failed: bool, kind: str = "policy-violation") -> None:
        self.tests += 1
        el = ET.SubElement(self.suite, "testcase", {"name": _t(name), "classname": _t(self.classname)})
        if failed:
            self.failures += 1
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

    def render(self, ctx: RenderContext) -> bytes:
        tree = junit_tree(ctx.evaluation, ctx.result)
        ET.indent(tree)
        body: bytes = ET.tostring(tree, encoding="utf-8", xml_declaration=True)
        return body + b"\n"
