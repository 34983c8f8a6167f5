"""Remediation plan: evaluation results + windows, freezes and rings -> tasks per host and window.

Pure apart from ``write_plan``: the same bundle, results, hosts, as-of and horizon give the
same plan and the same bytes. The rules (also in docs/windows.md):

* What is planned: every item whose verdict is ``overdue``, ``due_soon`` or ``open`` and
  that has a deadline. ``excepted``, ``not_affected``, ``error``, ``untracked`` and
  remediated items are not. A finding judged by several policies is planned once, under
  its earliest deadline among the items that need it.
* Windows, freezes and rings come from every policy of the bundle: a window is a property
  of the hosts it selects, not of one policy's findings.
* Each finding goes into the first occurrence, among all windows selecting its host,
  that starts at or after as-of and before as-of + horizon, that no binding freeze
  blocks, and that the ring soak allows. A freeze binds when it overlaps the occurrence
  at all and selects the host; it blocks a finding its ``allow`` does not admit. So
  findings a freeze admits (e.g. KEV) may go into a frozen window while the others wait:
  tasks are split by occurrence. One task per (host, occurrence).
* Rings: a host belongs to the first ring (policies in bundle order, rings in listed
  order) whose selector matches; a host in no ring is not held back. A patch (the
  finding's ``vuln`` and ``fixed_version``) goes to a host of ring k only into an
  occurrence starting at or after the latest END of the windows planned for the same
  patch in the nearest earlier ring of the same policy that has any, plus that ring's
  ``soak``. Earlier-ring hosts the plan could not schedule impose no wait.
* ``at_risk``: the window ends after the task's earliest deadline. An unscheduled task is
  at risk when no window selects the host at all or its deadline falls inside the
  horizon. ``soak_delayed``: without the soak wait the finding would have met its
  deadline and with it it does not (or it became unscheduled).
* Priority: ``P1`` at risk, overdue or KEV; ``P2`` critical or deadline within 7 days;
  ``P3`` high or deadline within 30 days; ``P4`` otherwise.
* Task ids: the first 16 hex digits of sha256 over the names and versions of the policies
  that need the task's findings, the host and the sorted finding ids. A re-run with the
  same policies keeps the ids even if the task moves to another window.

CEL failures never pass silently (fail closed): a window selector that fails does not
select the host, a freeze selector that fails binds, an ``allow`` that fails does not
admit; each failure is listed in ``Plan.problems``. A freeze's ``allow`` is asked about
every finding of a host the freeze binds whose windows it overlaps.

The work is two passes (so that planning 10^6 findings never holds the fleet): while hosts
are judged, ``hosts.HostPlanning`` keeps one small row per host with something to plan
(its ring, windows, binding freezes, and needs); then ``assign.Assigner`` reads the rows
in ring order and makes the tasks. ``plan`` does both in memory for a library caller;
``stream_plan`` makes the tasks of an evaluation's ``Remediation`` (the first pass run by
the evaluator, in every process) and keeps them sorted on disk.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from patchpolicy.errors import EvaluationError
from patchpolicy.model.common import format_duration, format_timestamp
from patchpolicy.model.fleet import API_VERSION, FindingRecord, HostRecord
from patchpolicy.model.plan import (
    HostNeeds,
    Plan,
    PlanCounts,
    PolicyRef,
    Priority,
    Remediation,
    StreamedPlan,
    Task,
)
from patchpolicy.model.results import Item
from patchpolicy.planner.assign import Assigner
from patchpolicy.planner.calendar import Calendar
from patchpolicy.planner.hosts import PLANNED_VERDICTS, HostPlanning, is_planned
from patchpolicy.snapshot import atomic_write
from patchpolicy.spill import DEFAULT_MEMORY_BYTES, SortedRows, SortedSpill

if TYPE_CHECKING:
    from patchpolicy.evaluator import Evaluation
    from patchpolicy.model.bundle import Bundle

__all__ = ["PLANNED_VERDICTS", "HostPlanning", "plan", "plan_summary", "stream_plan", "write_plan"]

_ROW = msgspec.json.Decoder(HostNeeds).decode
_TASK_ENCODE = msgspec.json.Encoder().encode
_TASK_DECODE = msgspec.json.Decoder(Task).decode
_FAR = 2**62
"""Sorts an unscheduled task's missing start after every real one."""


def _check(as_of: datetime, horizon: timedelta) -> datetime:
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware datetime")
    if horizon <= timedelta(0):
        raise ValueError(f"horizon must be positive, got {horizon}")
    return as_of.astimezone(UTC)


def _judged(results: Evaluation | Iterable[Item], hosts: dict[str, HostRecord]
            ) -> dict[str, list[tuple[Item, FindingRecord]]]:
    """The planned items of each host with the records they judged."""
    from patchpolicy.model.evaluation import Evaluation

    items: Iterable[Item] = results.items if isinstance(results, Evaluation) else results
    findings: dict[str, dict[str, FindingRecord]] = {}
    out: dict[str, list[tuple[Item, FindingRecord]]] = {}
    for item in items:
        if not is_planned(item):
            continue
        host = hosts.get(item.host)
        if host is None:
            raise EvaluationError(f'host "{item.host}" in the results is not in the snapshot')
        by_id = findings.get(host.id)
        if by_id is None:
            # A duplicated finding id is one error item in the results: never planned, so
            # which record setdefault keeps does not matter.
            by_id = findings[host.id] = {}
            for f in host.findings:
                by_id.setdefault(f.id, f)
        record = by_id.get(item.finding)
        if record is None:
            raise EvaluationError(
                f'finding "{item.finding}" of host "{item.host}" in the results is not in the snapshot'
            )
        out.setdefault(host.id, []).append((item, record))
    return out


def plan(
    bundle: Bundle,
    results: Evaluation | Iterable[Item],
    hosts: Iterable[HostRecord],
    *,
    as_of: datetime,
    horizon: timedelta,
) -> Plan:
    """Plan every item that needs remediation into the hosts' windows (module docstring),
    in memory.

    ``results`` is an evaluation kept with its items (``keep_items=True``) or its items;
    ``hosts`` the snapshot's hosts (their records feed window, freeze and ring
    selectors). Raises ``EvaluationError`` when the results name a host or finding the
    snapshot does not have, ``WindowError`` for a recurrence that cannot be expanded.
    """
    as_of = _check(as_of, horizon)
    host_map = {h.id: h for h in hosts}
    first = HostPlanning(bundle, as_of, horizon)
    for hid, judged in _judged(results, host_map).items():
        first.add_host(host_map[hid], judged)
    streamed = stream_plan(bundle, first.finish(), as_of=as_of, horizon=horizon, calendar=first.calendar)
    return msgspec.structs.replace(streamed.header, tasks=tuple(streamed.tasks))


class _Tasks:
    """The tasks of a streamed plan, in document order, decoded as they are read."""

    def __init__(self, rows: SortedRows) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Task]:
        return (_TASK_DECODE(r) for r in self.rows)


class _Counts:
    def __init__(self) -> None:
        self.tasks = self.findings = self.at_risk = self.soak_delayed = self.unscheduled = 0
        self.hosts: set[str] = set()
        self.by_priority = {p.value: 0 for p in Priority}
        self.by_reason: dict[str, int] = {}

    def add(self, t: Task) -> None:
        self.tasks += 1
        self.hosts.add(t.host)
        self.findings += len(t.findings)
        self.at_risk += t.at_risk
        self.soak_delayed += t.soak_delayed
        self.unscheduled += t.unscheduled
        self.by_priority[t.priority.value] += 1
        if t.reason is not None:
            self.by_reason[t.reason.value] = self.by_reason.get(t.reason.value, 0) + 1

    def result(self) -> PlanCounts:
        return PlanCounts(
            tasks=self.tasks, hosts=len(self.hosts), findings=self.findings,
            at_risk=self.at_risk, soak_delayed=self.soak_delayed, unscheduled=self.unscheduled,
            by_priority=self.by_priority, by_reason=dict(sorted(self.by_reason.items())),
        )


def _order(t: Task) -> tuple[int, int, str, str, str]:
    """The order of ``Plan.tasks``: scheduled first, by start, host, window, id."""
    start = _FAR if t.start is None else int(t.start.timestamp() * 1_000_000)
    return (int(t.unscheduled), start, t.host, t.window or "", t.id)


def stream_plan(
    bundle: Bundle,
    remediation: Remediation,
    *,
    as_of: datetime,
    horizon: timedelta,
    calendar: Calendar | None = None,
    spill_dir: Path | None = None,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> StreamedPlan:
    """The plan of an evaluation from its first pass (``Evaluation.remediation``): tasks
    made host by host in ring order and kept sorted on disk when they do not fit in
    memory. Its ``tasks.json`` equals ``plan``'s for the same inputs, byte for byte."""
    as_of = _check(as_of, horizon)
    if remediation.horizon_end != as_of + horizon:
        raise ValueError("the evaluation's first planning pass was made for another as-of or horizon")
    assigner = Assigner(calendar or Calendar(bundle, as_of, horizon))
    counts = _Counts()
    tasks = SortedSpill(spill_dir=spill_dir, prefix="tasks", memory_bytes=memory_bytes)
    for row in remediation.hosts:
        for task in assigner.host_tasks(_ROW(row)):
            counts.add(task)
            tasks.add(_order(task), _TASK_ENCODE(task))
    versions = {p.name: PolicyRef(p.name, p.version) for p in bundle.policies}
    header = Plan(
        apiVersion=API_VERSION,
        kind="RemediationPlan",
        as_of=as_of,
        horizon=format_duration(horizon),
        horizon_end=as_of + horizon,
        policies=tuple(sorted(versions.values(), key=lambda p: p.name)),
        counts=counts.result(),
        tasks=(),
        problems=tuple(sorted(remediation.problems)),
    )
    return StreamedPlan(header, _Tasks(tasks.finish()))


# ---------------------------------------------------------------- outputs

def write_plan(p: Plan | StreamedPlan, directory: str | Path) -> list[Path]:
    """Write ``tasks.json`` and ``tasks.csv`` into ``directory`` atomically; return them."""
    from patchpolicy.render.tasks import tasks_csv_chunks, tasks_json_chunks

    d = Path(directory)
    written = []
    for name, data in (("tasks.json", tasks_json_chunks(p)), ("tasks.csv", tasks_csv_chunks(p))):
        path = d / name
        atomic_write(path, data)
        written.append(path)
    return written


def plan_summary(plan_: Plan | StreamedPlan, limit: int = 10) -> str:
    """A terminal summary: counts, then the most urgent tasks (at most ``limit``)."""
    from patchpolicy.render.sanitize import text as _t
    from patchpolicy.render.tasks import as_stream

    stream = as_stream(plan_)
    p = stream.header
    c = p.counts
    lines = [
        f"plan at {format_timestamp(p.as_of)}, horizon {p.horizon}: "
        f"{c.tasks} task{'s' if c.tasks != 1 else ''} for {c.hosts} host"
        f"{'s' if c.hosts != 1 else ''}, {c.findings} finding{'s' if c.findings != 1 else ''}",
        "  priority: " + ", ".join(f"{k} {v}" for k, v in c.by_priority.items()),
        f"  at risk: {c.at_risk}, soak-delayed: {c.soak_delayed}, unscheduled: {c.unscheduled}"
        + (
            " (" + ", ".join(f"{k} {v}" for k, v in c.by_reason.items()) + ")"
            if c.by_reason
            else ""
        ),
    ]
    urgent = heapq.nsmallest(
        limit, stream.tasks, key=lambda t: (t.priority.value, t.deadline, t.host, t.id)
    )
    if urgent:
        lines.append("  most urgent:")
    for t in urgent:
        when = (
            f"{_t(t.window)} {format_timestamp(t.start)}" if t.start is not None
            else f"unscheduled ({t.reason.value if t.reason else '?'})"
        )
        flags = "".join(
            f" {flag}" for flag, on in (("at-risk", t.at_risk), ("soak-delayed", t.soak_delayed)) if on
        )
        lines.append(
            f"    {t.priority.value} {_t(t.host)}: {len(t.findings)} finding"
            f"{'s' if len(t.findings) != 1 else ''}, deadline {format_timestamp(t.deadline)}, "
            f"{when}{flags} [{t.id}]"
        )
    if p.problems:
        lines.append(f"  problems: {len(p.problems)} (see tasks.json)")
    return "\n".join(lines)
