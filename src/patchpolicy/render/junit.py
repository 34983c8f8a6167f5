"""``junit.xml``: one testsuite per policy, one testcase per host, for CI dashboards.

Contract: a host's testcase fails when any of its items or host checks fails the gate;
the ``<failure>`` body lists every failing item and check, one per line. Warnings and
waived items go to ``<system-out>``, so nothing is hidden. Hosts are those with an item
or a host check under the policy. Valid against the Jenkins xUnit ``junit-10.xsd``;
no timestamps or durations (the same evaluation gives the same bytes).
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from patchpolicy.evaluator import Evaluation, worst_key
from patchpolicy.model.results import Bucket, HostCheck, Item
from patchpolicy.render._common import day, days_text, hosts_of
from patchpolicy.render.interface import RenderContext, Renderer

# XML 1.0 cannot carry most C0 controls even as character references: drop them.
_XML_BAD = {c: None for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}


def _clean(text: str) -> str:
    return text.translate(_XML_BAD)


def _item_line(i: Item) -> str:
    tail = [f"deadline {day(i.deadline)}"] if i.deadline else []
    if days_text(i) != "-":
        tail.append(days_text(i))
    if i.binding_rule:
        tail.append(f"rule {i.binding_rule}")
    if i.exception:
        tail.append(f"exception {i.exception}")
    if i.message:
        tail.append(i.message)
    kev = ", KEV" if i.kev else ""
    return f"{i.verdict.value}: {i.finding} ({i.severity}{kev})" + (f" - {'; '.join(tail)}" if tail else "")


def _check_line(c: HostCheck) -> str:
    return f"{c.verdict.value}: host check {c.check} - {c.detail}"


def junit_tree(ev: Evaluation) -> ET.Element:
    """The ``<testsuites>`` element."""
    root = ET.Element("testsuites", {"name": "patchpolicy"})
    total_tests = total_failures = 0
    for p in ev.policies:
        items: dict[str, list[Item]] = {}
        for i in ev.items:
            if i.policy == p.name:
                items.setdefault(i.host, []).append(i)
        checks: dict[str, list[HostCheck]] = {}
        for c in ev.checks:
            if c.policy == p.name:
                checks.setdefault(c.host, []).append(c)
        hosts = hosts_of(ev, p.name)
        suite = ET.SubElement(root, "testsuite", {
            "name": p.name, "tests": str(len(hosts)), "failures": "0", "errors": "0",
            "skipped": "0", "package": "patchpolicy", "version": p.version, "file": _clean(p.file),
        })
        props = ET.SubElement(suite, "properties")
        for name, value in (("policy.version", p.version), ("policy.file", p.file),
                            ("in_effect", str(p.in_effect).lower())):
            ET.SubElement(props, "property", {"name": name, "value": _clean(value)})
        failures = 0
        for host in hosts:
            host_items = sorted(items.get(host, []), key=worst_key)
            host_checks = checks.get(host, [])
            case = ET.SubElement(suite, "testcase", {"name": _clean(host), "classname": _clean(p.name)})
            failed = [_item_line(i) for i in host_items if i.bucket == Bucket.FAIL]
            failed += [_check_line(c) for c in host_checks if c.bucket == Bucket.FAIL]
            if failed:
                failures += 1
                n = len(failed)
                failure = ET.SubElement(case, "failure", {
                    "type": "policy-violation",
                    "message": f"{n} failing item{'s' if n != 1 else ''} or host check{'s' if n != 1 else ''}",
                })
                failure.text = _clean("\n".join(failed))
            other = [_item_line(i) for i in host_items if i.bucket in (Bucket.WARN, Bucket.WAIVED)]
            other += [_check_line(c) for c in host_checks if c.bucket == Bucket.WARN]
            if other:
                ET.SubElement(case, "system-out").text = _clean("\n".join(other))
        suite.set("failures", str(failures))
        total_tests += len(hosts)
        total_failures += failures
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    return root


class JunitXml(Renderer):
    """``junit.xml``: see the module docstring."""

    filename = "junit.xml"

    def render(self, ctx: RenderContext) -> bytes:
        tree = junit_tree(ctx.evaluation)
        ET.indent(tree)
        body: bytes = ET.tostring(tree, encoding="utf-8", xml_declaration=True)
        return body + b"\n"
