"""JUnit: a suite per policy, a case per host, failures listing items and host checks."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from patchpolicy.render.interface import RenderContext
from patchpolicy.render.junit import JunitXml


def test_suites_cases_and_failures(ctx: RenderContext) -> None:
    root = ET.fromstring(JunitXml().render(ctx))
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert list(suites) == ["baseline", "pci-dss"]
    base = suites["baseline"]
    cases = {c.get("name", ""): c for c in base.findall("testcase")}
    failure = cases["pos-db-01 CVE-2026-20777/linux-image-amd64"].find("failure")
    assert failure is not None and "overdue: CVE-2026-20777/linux-image-amd64 (critical)" in (failure.text or "")
    assert cases["pos-db-01 #reboot"].find("failure") is not None
    assert cases["ci-runner-07 #scan_freshness"].find("failure") is not None  # never scanned
    waived = cases["pos-gw-01 CVE-2024-6387/openssh-server"]
    assert waived.find("failure") is None
    out = waived.find("system-out")
    assert out is not None and "excepted: CVE-2024-6387/openssh-server" in (out.text or "")
    assert base.get("failures") == str(sum(1 for c in cases.values() if c.find("failure") is not None))
    assert root.get("tests") == str(sum(len(s.findall("testcase")) for s in suites.values()))
    # The dashboard shows what check shows: failures are the gate's failing count.
    assert root.get("failures") == str(ctx.result.failing)


def test_failures_follow_fail_on(ctx: RenderContext) -> None:
    for fail_on in ((), ("due_soon",), ("remediated_late",), ("expired_exception",),
                    ("due_soon", "remediated_late", "expired_exception", "invalid_exception")):
        gate = ctx.evaluation.gate(fail_on)
        tightened = RenderContext(ctx.evaluation, ctx.inputs, gate=gate)
        root = ET.fromstring(JunitXml().render(tightened))
        assert root.get("failures") == str(gate.failing), fail_on
