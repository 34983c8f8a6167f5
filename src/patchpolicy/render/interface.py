"""The renderer extension point: one module per output, all behind ``Renderer``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.gate import GateResult
from patchpolicy.model.results import RunInputs
from patchpolicy.outdir import Streamed

if TYPE_CHECKING:
    from patchpolicy.model.plan import Plan, StreamedPlan
    from patchpolicy.render.views import View


@dataclass(frozen=True)
class RenderOptions:
    """Knobs of individual renderers; the defaults fit their consumers."""

    sarif_max_results: int = 25_000
    """At most this many SARIF results (GitHub code scanning's limit per run); the worst kept."""
    sarif_group_threshold: int = 10
    """One SARIF result per (rule, vulnerability) hitting at least this many hosts; 0: never."""
    junit_group_threshold: int = 10
    """One JUnit testcase per (policy, vulnerability, verdict) on at least this many hosts
    (and per host check failing on that many); 0: never."""
    group_sample: int = 20
    """Items listed (worst first) per grouped entry of OSCAL, POA&M and JUnit; the counts
    always cover every item of the group."""
    report_rows: int = 100
    """Rows per item table of report.html and report.md (worst first); the rest are
    counted and left to items.jsonl and tasks.csv."""
    run_by: str | None = None
    """Who or what ran the evaluation (a CI pipeline URL): stated in the reports and OSCAL."""
    policy_commit: str | None = None
    """The policy repository's git commit (``+dirty`` with uncommitted changes)."""
    oscal_ssp: str | None = None
    """The POA&M's ``import-ssp`` href: the system security plan it belongs to."""
    oscal_system_id: str | None = None
    """The POA&M's ``system-id`` (FedRAMP: the FedRAMP application number)."""


@dataclass(frozen=True)
class RenderContext:
    """Everything a renderer may read: the evaluation and what it was computed from.

    ``plan`` is the remediation plan made from the same evaluation; renderers of tasks
    need it and raise ``OutputError`` without it, every other renderer ignores it.
    """

    evaluation: Evaluation
    inputs: RunInputs
    plan: Plan | StreamedPlan | None = None
    gate: GateResult | None = None
    """The run's gate result; None means the default gate (no --fail-on)."""
    options: RenderOptions = RenderOptions()

    @property
    def result(self) -> GateResult:
        """The gate result every renderer states: the run's, computed once."""
        return self.gate if self.gate is not None else self.evaluation.gate()


class Renderer(ABC):
    """Turns one evaluation into one output file (bytes, deterministic)."""

    #: Path of the output inside the evidence bundle, e.g. ``evidence.json``.
    filename: str
    #: Whether ``render`` reads ``RenderContext.plan`` (the tasks files): a bundle renders
    #: the others while the plan is being made.
    needs_plan: bool = False

    @abstractmethod
    def render(self, ctx: RenderContext) -> bytes:
        """The file's bytes: the same context always gives the same bytes."""

    def views(self, options: RenderOptions) -> list[View[Any]]:
        """What ``render`` reads of the items (:mod:`patchpolicy.render.views`): a bundle
        computes every renderer's views in one shared pass before rendering. None here."""
        return []


class StreamingRenderer(Renderer):
    """A renderer of a file too large to hold (``items.jsonl``): ``stream`` gives its
    bytes as chunks; ``render`` joins them, for callers that want bytes."""

    @abstractmethod
    def stream(self, ctx: RenderContext) -> Streamed:
        """The file as a stream; every pass gives the same bytes."""

    def render(self, ctx: RenderContext) -> bytes:
        return b"".join(self.stream(ctx).chunks())
