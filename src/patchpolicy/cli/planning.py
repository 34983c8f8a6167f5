"""Commands for the people who patch: plan (remediation tasks) and windows."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from patchpolicy.cli.common import (
    DURATION,
    SCAN_TIME,
    as_of_option,
    fail,
    handle_errors,
    main,
    policies_option,
    snapshot_option,
)
from patchpolicy.cli.output import info, is_quiet, warn

STDOUT = Path("-")


@main.command()
@policies_option
@snapshot_option
@as_of_option
@click.option("--horizon", type=DURATION, default="90d", show_default=True,
              help="Plan into windows starting before as-of + horizon.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for tasks.json and tasks.csv (each written atomically).")
@click.option("--ics", "ics_file", type=click.Path(path_type=Path), default=None,
              help="Also write the scheduled tasks as an iCalendar file; - for standard "
                   "output (the summary then goes to standard error).")
@handle_errors
def plan(
    policies: tuple[Path, ...], snapshot: Path, as_of: datetime | None, horizon: Any,
    out_dir: Path, ics_file: Path | None,
) -> None:
    """Plan remediation: one task per host and window, with deadlines and at-risk flags.

    Writes tasks.json and tasks.csv (stable task ids for ticket de-duplication) and
    prints a summary. Exits 0, or 2 on bad input.

    \b
    Examples:
      patchpolicy plan -p policies -s fleet.json -o plan
      patchpolicy plan -p policies -s fleet.json -o plan --horizon 30d --ics tasks.ics
      patchpolicy plan -p policies -s fleet.json -o plan --ics - > tasks.ics
    """
    from patchpolicy.api import evaluate_files
    from patchpolicy.planner import plan_summary, stream_plan, write_plan
    from patchpolicy.progress import snapshot_progress
    from patchpolicy.snapshot import open_snapshot

    snap = open_snapshot(snapshot)
    with snapshot_progress(snap, "planning", quiet=is_quiet()):
        # Items are not kept: the planner's first pass sees each host's as it is judged.
        ev = evaluate_files(policies, snap, as_of=as_of, jobs="auto", keep_items=False,
                            plan_horizon=horizon).evaluation
    assert ev.remediation is not None
    result = stream_plan(ev.bundle, ev.remediation, as_of=ev.as_of, horizon=horizon)
    written = write_plan(result, out_dir)
    to_stdout = ics_file == STDOUT
    if ics_file is not None:
        from patchpolicy.render.ics import TASKS_CALENDAR, plan_events, render_ics

        _write_or_print(ics_file, render_ics(plan_events(result), stamp=ev.as_of,
                                             name=TASKS_CALENDAR))
        if not to_stdout:
            written.append(ics_file)
    info(plan_summary(result), err=to_stdout)
    info("wrote " + ", ".join(str(w) for w in written), err=to_stdout)


def _write_or_print(path: Path, body: bytes) -> None:
    """A file written atomically, or ``-``: the bytes on standard output."""
    if path == STDOUT:
        out = sys.stdout.buffer
        out.write(body)
        out.flush()
        return
    from patchpolicy.snapshot import atomic_write

    atomic_write(path, [body])


@main.command()
@policies_option
@click.option("--host", default=None, help="Only windows selecting this host (needs --snapshot).")
@click.option("-s", "--snapshot", type=click.Path(path_type=Path), default=None,
              help="Fleet snapshot: the host's record, and the default --from (taken_at).")
@click.option("--from", "start", type=SCAN_TIME, default=None,
              help="List occurrences at or after this instant: RFC 3339, a date, or 'now' "
                   "(the wall clock; default: the snapshot's taken_at).")
@click.option("--count", default=5, show_default=True, type=click.IntRange(min=1),
              help="Occurrences per window.")
@click.option("--ics", "ics_file", type=click.Path(path_type=Path), default=None,
              help="Also write the occurrences as an iCalendar file; - for standard output "
                   "(instead of the listing).")
@handle_errors
def windows(
    policies: tuple[Path, ...], host: str | None, snapshot: Path | None, start: datetime | None,
    count: int, ics_file: Path | None,
) -> None:
    """List the next maintenance-window occurrences, in UTC and local time, with freezes.

    \b
    Examples:
      patchpolicy windows -p policies --from now
      patchpolicy windows -p policies --from 2026-12-01 --count 10
      patchpolicy windows -p policies -s fleet.json --host web-01
      patchpolicy windows -p policies --from now --ics - > windows.ics
    """
    from patchpolicy.loader import load_bundle
    from patchpolicy.snapshot import open_snapshot
    from patchpolicy.upcoming import format_upcoming, upcoming_windows

    if host is not None and snapshot is None:
        fail("error: --host needs --snapshot (the host's record selects its windows)")
    bundle = load_bundle(policies)
    record = None
    if snapshot is not None:
        snap = open_snapshot(snapshot)
        start = start if start is not None else snap.header.taken_at
        if host is not None:
            record = next((h for h in snap.hosts() if h.id == host), None)
            if record is None:
                fail(f"error: {snapshot}: no host with id {host!r}")
    if start is None:
        fail("error: give --from or --snapshot (or --from now for the wall clock, which "
             "patchpolicy reads only when told to)")
    assert start is not None
    upcoming, problems = upcoming_windows(bundle, start, count, record)
    for problem in problems:
        warn(f"warning: {problem}")
    if ics_file != STDOUT:
        click.echo(format_upcoming(upcoming) or "no window occurrences\n", nl=False)
    if ics_file is not None:
        from patchpolicy.render.ics import render_ics, window_events

        _write_or_print(ics_file, render_ics(window_events(upcoming), stamp=start,
                                             name="maintenance windows"))
        if ics_file != STDOUT:
            info(f"wrote {ics_file}")
