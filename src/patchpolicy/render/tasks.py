"""``tasks.json``, ``tasks.csv`` and ``tasks.ics``: the remediation plan made from the same
evaluation.

The bytes are the planner's own (``patchpolicy plan`` writes the same files, the calendar
with ``--ics``); these renderers only put them into the evidence bundle. They need
``RenderContext.plan``.
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


class TasksIcs(Renderer):
    """``tasks.ics``: the scheduled tasks as calendar events (``plan --ics`` writes the same)."""

    filename = "tasks.ics"

    def render(self, ctx: RenderContext) -> bytes:
        from patchpolicy.render.ics import TASKS_CALENDAR, plan_events, render_ics

        plan = _plan(ctx, self.filename)
        return render_ics(plan_events(plan), stamp=plan.as_of, name=TASKS_CALENDAR)
