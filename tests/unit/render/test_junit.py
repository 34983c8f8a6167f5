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
    assert sorted(cases) == ["app-01", "build-01", "ci-runner-07", "pos-db-01", "pos-gw-01", "web-01", "web-02"]
    failure = cases["pos-db-01"].find("failure")
    assert failure is not None and failure.text is not None
    assert "overdue: CVE-2026-20777/linux-image-amd64 (critical)" in failure.text
    assert "reboot_overdue: host check reboot" in failure.text
    assert cases["ci-runner-07"].find("failure") is not None  # never scanned, no findings
    assert cases["pos-gw-01"].find("failure") is None
    out = cases["pos-gw-01"].find("system-out")
    assert out is not None and "excepted: CVE-2024-6387/openssh-server" in (out.text or "")
    assert base.get("failures") == str(sum(1 for c in cases.values() if c.find("failure") is not None))
    assert root.get("tests") == str(sum(len(s.findall("testcase")) for s in suites.values()))
