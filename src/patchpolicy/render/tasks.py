"""``tasks.json``, ``tasks.csv`` and ``tasks.ics``: the remediation plan made from the same
evaluation.

``tasks_json`` and ``tasks_csv`` make the bytes ``patchpolicy plan`` writes (the calendar
with ``--ics``); the renderers put the same bytes into the evidence bundle. They need
``RenderContext.plan``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime

import msgspec

from patchpolicy.errors import OutputError
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.plan import Plan, StreamedPlan
from patchpolicy.outdir import Streamed
from patchpolicy.render.interface import RenderContext, StreamingRenderer
from patchpolicy.render.sanitize import csv_cell

__all__ = [
    "CSV_COLUMNS", "TasksCsv", "TasksIcs", "TasksJson", "as_stream", "tasks_csv", "tasks_csv_chunks",
    "tasks_json", "tasks_json_chunks",
]

_ENCODER = msgspec.json.Encoder()

CSV_COLUMNS = (
    "id", "summary", "host", "owner", "ring", "priority", "highest_severity", "deadline",
    "window", "window_policy", "timezone", "start", "end", "start_local", "end_local",
    "at_risk", "soak_delayed", "soak_until", "unscheduled", "reason", "freezes_allowed",
    "patches", "findings", "vulns", "policies", "controls",
)


def as_stream(p: Plan | StreamedPlan) -> StreamedPlan:
    """Either kind of plan as a header and its tasks."""
    return p if isinstance(p, StreamedPlan) else StreamedPlan.of(p)


def tasks_json(p: Plan | StreamedPlan) -> bytes:
    """``tasks.json``: the plan document, indented, keys in schema order, newline-terminated."""
    return b"".join(tasks_json_chunks(p))


_TASKS_HOLE = b'"tasks": []'
_TASK_BATCH = 1000


def tasks_json_chunks(p: Plan | StreamedPlan) -> Iterator[bytes]:
    """The bytes of ``tasks_json`` in chunks, one batch of tasks at a time, so that a plan
    of 10^6 findings is never one buffer (and its indented copy) in memory.

    Exactly ``msgspec.json.format(encode(p), indent=2)``: the document is formatted with
    no tasks, and each task, formatted alone, is indented to its depth in the list."""
    stream = as_stream(p)
    head = msgspec.json.format(_ENCODER.encode(stream.header), indent=2)
    at = head.index(_TASKS_HOLE)
    batch: list[bytes] = []
    first = True
    for task in stream.tasks:
        text = msgspec.json.format(_ENCODER.encode(task), indent=2)
        if first:
            batch.append(head[:at] + b'"tasks": [\n    ' + text.replace(b"\n", b"\n    "))
            first = False
        else:
            batch.append(b",\n    " + text.replace(b"\n", b"\n    "))
        if len(batch) >= _TASK_BATCH:
            yield b"".join(batch)
            batch = []
    if first:
        yield head + b"\n"
        return
    yield b"".join(batch) + b"\n  ]" + head[at + len(_TASKS_HOLE):] + b"\n"


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


def tasks_csv(p: Plan | StreamedPlan) -> bytes:
    """``tasks.csv``: one row per task; lists joined with ``;``; LF line ends; UTF-8."""
    return b"".join(tasks_csv_chunks(p))


def tasks_csv_chunks(p: Plan | StreamedPlan) -> Iterator[bytes]:
    """The bytes of ``tasks_csv``, one batch of rows at a time."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for n, t in enumerate(as_stream(p).tasks, 1):
        if n % _TASK_BATCH == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
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
    yield out.getvalue().encode()



def _plan(ctx: RenderContext, filename: str) -> StreamedPlan:
    if ctx.plan is None:
        raise OutputError(f"{filename}: no remediation plan to render (RenderContext.plan is None)")
    return as_stream(ctx.plan)


class TasksJson(StreamingRenderer):
    """``tasks.json``: the plan document, streamed (one batch of tasks at a time)."""

    filename = "tasks.json"
    needs_plan = True

    def stream(self, ctx: RenderContext) -> Streamed:
        plan = _plan(ctx, self.filename)
        return Streamed(lambda: tasks_json_chunks(plan), spool=True)


class TasksCsv(StreamingRenderer):
    """``tasks.csv``: one row per task, streamed."""

    filename = "tasks.csv"
    needs_plan = True

    def stream(self, ctx: RenderContext) -> Streamed:
        plan = _plan(ctx, self.filename)
        return Streamed(lambda: tasks_csv_chunks(plan), spool=True)


class TasksIcs(StreamingRenderer):
    """``tasks.ics``: the scheduled tasks as calendar events (``plan --ics`` writes the same),
    streamed: only the events of one start are held at a time."""

    filename = "tasks.ics"
    needs_plan = True

    def stream(self, ctx: RenderContext) -> Streamed:
        from patchpolicy.render.ics import TASKS_CALENDAR, ics_chunks, plan_events_sorted

        plan = _plan(ctx, self.filename)
        return Streamed(lambda: ics_chunks(plan_events_sorted(plan), stamp=plan.header.as_of,
                                           name=TASKS_CALENDAR), spool=True)
