"""The renderers' two closed sets: ``BundleOutput`` (every file of an evidence bundle) and
``CheckFormat`` (what ``check --format`` prints on stdout). A leaf of the render package
(no renderer imported), so a renderer can name them; ``registry`` builds the renderer of
each member."""

from __future__ import annotations

from enum import StrEnum

from patchpolicy.render.bundle import SUMS_FILE

__all__ = ["BundleOutput", "CheckFormat", "required_files"]


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


def required_files() -> list[str]:
    """Every file a complete bundle holds (``evidence.json`` lists them as ``files``):
    the rendered outputs and ``SHA256SUMS``, sorted."""
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
