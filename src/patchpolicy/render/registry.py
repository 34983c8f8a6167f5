"""The renderer registry: one exhaustive factory per closed set of ``outputs``
(``renderer_for`` a bundle file, ``check_renderer`` for ``check --format``). Nothing a
renderer imports leads back here."""

from __future__ import annotations

from typing import assert_never

from patchpolicy.render.evidence import EvidenceJson, EvidenceStdout
from patchpolicy.render.html import HtmlReport
from patchpolicy.render.interface import Renderer
from patchpolicy.render.items import ItemsJsonl
from patchpolicy.render.junit import JunitXml
from patchpolicy.render.markdown import MarkdownReport, MarkdownSummary
from patchpolicy.render.oscal import OscalAssessmentResults, OscalPoam
from patchpolicy.render.outputs import BundleOutput, CheckFormat
from patchpolicy.render.sarif import SarifLog
from patchpolicy.render.summary import TextSummary
from patchpolicy.render.tasks import TasksCsv, TasksIcs, TasksJson

__all__ = ["bundle_renderers", "check_renderer", "renderer_for"]


def renderer_for(output: BundleOutput) -> Renderer:
    """The renderer of one bundle file; its ``filename`` is the member's value."""
    match output:
        case BundleOutput.EVIDENCE_JSON:
            return EvidenceJson()
        case BundleOutput.ITEMS_JSONL:
            return ItemsJsonl()
        case BundleOutput.REPORT_MD:
            return MarkdownReport()
        case BundleOutput.REPORT_HTML:
            return HtmlReport()
        case BundleOutput.SARIF:
            return SarifLog()
        case BundleOutput.JUNIT:
            return JunitXml()
        case BundleOutput.OSCAL_ASSESSMENT_RESULTS:
            return OscalAssessmentResults()
        case BundleOutput.OSCAL_POAM:
            return OscalPoam()
        case BundleOutput.TASKS_JSON:
            return TasksJson()
        case BundleOutput.TASKS_CSV:
            return TasksCsv()
        case BundleOutput.TASKS_ICS:
            return TasksIcs()
        case _:
            assert_never(output)


def bundle_renderers() -> list[Renderer]:
    return [renderer_for(o) for o in BundleOutput]


def check_renderer(fmt: CheckFormat, *, limit: int = 10) -> Renderer:
    """The renderer ``check --format fmt`` writes to stdout."""
    match fmt:
        case CheckFormat.TEXT:
            return TextSummary(limit)
        case CheckFormat.JSON:
            return EvidenceStdout()
        case CheckFormat.SARIF:
            return SarifLog()
        case CheckFormat.JUNIT:
            return JunitXml()
        case CheckFormat.MARKDOWN:
            return MarkdownSummary(limit)
        case _:
            assert_never(fmt)
