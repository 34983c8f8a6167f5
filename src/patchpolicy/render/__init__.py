"""Renderers: one module per output behind one interface (``Renderer``).

Two closed sets, each with an exhaustive factory: ``BundleOutput`` (every file of an
evidence bundle) and ``CheckFormat`` (what ``check --format`` prints to stdout).
"""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

from patchpolicy.render.evidence import EvidenceJson, EvidenceStdout
from patchpolicy.render.html import HtmlReport
from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.items import ItemsJsonl
from patchpolicy.render.junit import JunitXml
from patchpolicy.render.markdown import MarkdownReport, MarkdownSummary
from patchpolicy.render.oscal import OscalAssessmentResults, OscalPoam
from patchpolicy.render.sarif import SarifLog
from patchpolicy.render.summary import TextSummary
from patchpolicy.render.tasks import TasksCsv, TasksIcs, TasksJson


class BundleOutput(StrEnum):
    """Every file ``evaluate`` writes into an evidence bundle (SHA256SUMS aside)."""

    EVIDENCE_JSON = "evidence.json"
    ITEMS_JSONL = "items.jsonl"
    REPORT_MD = "report.md"
    REPORT_HTML = "report.html"
    SARIF = "results.sarif"
    JUNIT = "junit.xml"
    OSCAL_ASSESSMENT_RESULTS = "oscal/assessment-results.json"
    OSCAL_POAM = "oscal/poam.json"
    TASKS_JSON = "tasks.json"
    TASKS_CSV = "tasks.csv"
    TASKS_ICS = "tasks.ics"


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


def required_files() -> list[str]:
    """Every file a complete bundle holds (``evidence.json`` lists them as ``files``):
    the rendered outputs and ``SHA256SUMS``, sorted."""
    from patchpolicy.render.bundle import SUMS_FILE

    return sorted([o.value for o in BundleOutput] + [SUMS_FILE])


class CheckFormat(StrEnum):
    """What ``check --format`` prints on stdout."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"
    JUNIT = "junit"
    MARKDOWN = "markdown"

    @property
    def needs_items(self) -> bool:
        """False where the summary (tallies and the worst items) is enough: cheaper."""
        return self not in (CheckFormat.TEXT, CheckFormat.MARKDOWN)


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


__all__ = [
    "BundleOutput",
    "CheckFormat",
    "RenderContext",
    "Renderer",
    "bundle_renderers",
    "check_renderer",
    "renderer_for",
]
