"""JUnit: a suite per policy, a case per item or host check that does not pass, one case
for a vulnerability or check on many hosts, failures listing items and host checks."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from render_helpers import SCHEMAS, fleet_context, fleet_finding, fleet_host, xml_errors

from patchpolicy.render.interface import RenderContext, RenderOptions
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


def test_one_vulnerability_on_many_hosts_is_one_testcase_that_counts_them(tmp_path: Path) -> None:
    hosts = [fleet_host(n, [fleet_finding("CVE-2025-0001"), fleet_finding(f"CVE-2025-{1000 + n}")])
             for n in range(12)]
    ctx = fleet_context(tmp_path, hosts, RenderOptions(junit_group_threshold=10, group_sample=3))
    data = JunitXml().render(ctx)
    assert xml_errors(SCHEMAS / "junit-10.xsd", data) == []
    root = ET.fromstring(data)
    (suite,) = [s for s in root.findall("testsuite") if s.get("name") == "baseline"]
    cases = {c.get("name", ""): c for c in suite.findall("testcase")}
    group = cases["12 hosts CVE-2025-0001"].find("failure")
    assert group is not None
    text = group.text or ""
    assert text.startswith("overdue: CVE-2025-0001 (critical) on 12 hosts, 12 items")
    assert "... and 9 more items: every item is in items.jsonl" in text
    assert [ln.split(":")[0] for ln in text.splitlines()[1:4]] == ["host-00000", "host-00001", "host-00002"]
    # the vulnerabilities on one host each stay one testcase per host
    assert "host-00003 CVE-2025-1003/libfoo" in cases
    assert not any(n.startswith("host-") and "CVE-2025-0001" in n for n in cases)
    # twelve fresh scans: one passing testcase for the check on all twelve hosts
    assert cases["12 hosts #scan_freshness"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["failing"] == str(ctx.result.failing) == "24"
    assert suite.get("failures") == "13"  # the group and the 12 single items

    ungrouped = JunitXml().render(fleet_context(tmp_path, hosts, RenderOptions(junit_group_threshold=0)))
    names = [c.get("name") for c in ET.fromstring(ungrouped).iter("testcase")]
    assert sum(1 for n in names if n and n.endswith("CVE-2025-0001/libfoo")) == 12
