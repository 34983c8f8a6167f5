"""Every JSON and XML output against its official schema (OASIS SARIF 2.1.0, NIST OSCAL
1.1.3 AR and POA&M, Jenkins xUnit junit-10.xsd), plus checks that the validators bite."""

from __future__ import annotations

import json
from pathlib import Path

from render_helpers import json_errors, xml_errors

from patchpolicy.render.interface import RenderContext
from patchpolicy.render.junit import JunitXml
from patchpolicy.render.oscal import OscalAssessmentResults, OscalPoam, assessment_results, poam
from patchpolicy.render.sarif import SarifLog, sarif_log

AR = "oscal_assessment-results_schema_v1.1.3.json"
POAM = "oscal_poam_schema_v1.1.3.json"


def test_sarif_is_valid(ctx: RenderContext, schemas: Path) -> None:
    doc = json.loads(SarifLog().render(ctx))
    assert json_errors(schemas / "sarif-schema-2.1.0.json", doc) == []


def test_oscal_assessment_results_are_valid(ctx: RenderContext, schemas: Path) -> None:
    doc = json.loads(OscalAssessmentResults().render(ctx))
    assert json_errors(schemas / AR, doc) == []


def test_oscal_poam_is_valid(ctx: RenderContext, schemas: Path) -> None:
    doc = json.loads(OscalPoam().render(ctx))
    assert json_errors(schemas / POAM, doc) == []


def test_junit_is_valid(ctx: RenderContext, schemas: Path) -> None:
    assert xml_errors(schemas / "junit-10.xsd", JunitXml().render(ctx)) == []


def test_validators_reject_broken_documents(ctx: RenderContext, schemas: Path) -> None:
    """The regex-aware pattern check is live: a token starting with a digit (a raw PCI
    control id) and a non-v4/v5 UUID are errors; so is a SARIF run without a tool."""
    ar = assessment_results(ctx)
    result = ar["assessment-results"]["results"][0]
    result["reviewed-controls"]["control-selections"][0]["include-controls"][0]["control-id"] = "6.3.3"
    result["uuid"] = "not-a-uuid"
    errors = json_errors(schemas / AR, ar)
    assert any("'6.3.3' does not match" in e for e in errors), errors
    assert any("'not-a-uuid' does not match" in e for e in errors), errors
    p = poam(ctx)
    del p["plan-of-action-and-milestones"]["poam-items"]
    assert json_errors(schemas / POAM, p)
    log = sarif_log(ctx)
    del log["runs"][0]["tool"]
    assert json_errors(schemas / "sarif-schema-2.1.0.json", log)
    assert xml_errors(schemas / "junit-10.xsd", b"<testsuites><testsuite/></testsuites>")


def test_every_policy_control_id_is_an_oscal_token(ctx: RenderContext, schemas: Path) -> None:
    ar = assessment_results(ctx)["assessment-results"]
    selected = ar["results"][0]["reviewed-controls"]["control-selections"][0]["include-controls"]
    assert {c["control-id"] for c in selected} == {
        "ISO-27001-2022_A.8.8", "ISO-27001-2022_A.8.32", "PCI-DSS-4.0.1_6.3.3", "PCI-DSS-4.0.1_11.3.1",
    }
