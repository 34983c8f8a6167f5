"""``tasks.json`` and ``tasks.csv``: the remediation plan made from the same evaluation.

The bytes are the planner's own (``patchpolicy plan`` writes the same files); these
renderers only put them into the evidence bundle. They need ``RenderContext.plan``.
"""

from __future__ import annotations

from patchpolicy.errors import OutputError
from patchpolicy.planner import Plan, tasks_csv, tasks_json
from patchpolicy.render.interface import RenderContext, Renderer


def _plan(ctx: RenderContext, filename: str) -> Plan:
    if ctx.plan is None:
        raise OutputError(f"{filename}: no remediation plan to render (RenderContext.plan is None)")
    return ctx.plan


class TasksJson(Renderer):
    """``tasks.json``: the plan document."""

    filename = "tasks.json"

    def render(self, ctx: RenderContext) -> bytes:
        return tasks_json(_plan(ctx, self.filename))


class TasksCsv(Renderer):
    """``tasks.csv``: one row per task."""

    filename = "tasks.csv"

    def render(self, ctx: RenderContext) -> bytes:
        return tasks_csv(_plan(ctx, self.filename))
