"""``tasks.json``, ``tasks.csv`` and ``tasks.ics``: the remediation plan made from the same
evaluation.

``tasks_json`` and ``tasks_csv`` make the bytes ``patchpolicy plan`` writes (the calendar
with ``--ics``); the renderers put the same bytes into the evidence bundle. They need
``RenderContext.plan``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import msgspec

from patchpolicy.errors import OutputError
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.plan import Plan
from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.sanitize import csv_cell

__all__ = ["CSV_COLUMNS", "TasksCsv", "TasksIcs", "TasksJson", "tasks_csv", "tasks_json"]

_ENCODER = msgspec.json.Encoder()

CSV_COLUMNS = (
    "id", "summary", "host", "owner", "ring", "priority", "highest_severity", "deadline",
    "window", "window_policy", "timezone", "start", "end", "start_local", "end_local",
    "at_risk", "soak_delayed", "soak_until", "unscheduled", "reason", "freezes_allowed",
    "patches", "findings", "vulns", "policies", "controls",
)


def tasks_json(p: Plan) -> bytes:
    """``tasks.json``: the plan document, indented, keys in schema order, newline-terminated."""
    return msgspec.json.format(_ENCODER.encode(p), indent=2) + b"\n"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_timestamp(value)
    # Spreadsheet formula injection (a cell starting with = + - @ TAB CR is quoted as text)
    # and control characters shown as visible escapes: render/sanitize.py.
    return csv_cell(str(value))


def tasks_csv(p: Plan) -> bytes:
    """``tasks.csv``: one row per task; lists joined with ``;``; LF line ends; UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in p.tasks:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    t.id, t.summary, t.host, t.owner, t.ring, t.priority.value,
                    t.highest_severity, t.deadline, t.window,
                    t.window_policy, t.timezone, t.start, t.end, t.start_local, t.end_local,
                    t.at_risk, t.soak_delayed, t.soak_until, t.unscheduled,
                    t.reason.value if t.reason else None,
                    ";".join(t.freezes_allowed), ";".join(t.patches),
                    ";".join(f.id for f in t.findings),
                    ";".join(sorted({f.vuln for f in t.findings})),
                    ";".join(t.policies), ";".join(t.controls),
                )
            ]
        )
    return out.getvalue().encode()



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
