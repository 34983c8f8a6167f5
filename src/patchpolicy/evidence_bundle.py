"""Make the files of an evidence bundle (the directory ``evaluate -o`` writes): evaluate,
plan, and render every file plus ``SHA256SUMS``, nothing written.

``build_bundle`` is the one way a bundle's bytes are made: ``evaluate`` writes what it
returns (``render.bundle.write_bundle``) and ``verify --reproduce`` compares against it,
so the two cannot drift.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from patchpolicy.evaluator import Evaluation
from patchpolicy.model.gate import Gate
from patchpolicy.outdir import FileBody
from patchpolicy.render.bundle import render_while_planning
from patchpolicy.render.interface import RenderOptions
from patchpolicy.snapshot import SnapshotSource

if TYPE_CHECKING:
    from patchpolicy.api import Jobs, Snapshots

__all__ = ["PLAN_HORIZON", "Watch", "build_bundle"]

#: Entered around an evaluation with its opened snapshot (the CLI's progress bar).
Watch = Callable[[SnapshotSource], AbstractContextManager[None]]

#: Remediation tasks in a bundle cover windows starting before as-of + this.
PLAN_HORIZON = timedelta(days=90)


def build_bundle(
    policy_paths: Sequence[str | Path],
    snapshot_path: Snapshots,
    *,
    as_of: datetime | None = None,
    gate: Gate | None = None,
    options: RenderOptions | None = None,
    watch: Watch | None = None,
    jobs: Jobs = 1,
    dask: str | None = None,
) -> tuple[Evaluation, dict[str, FileBody]]:
    """Evaluate, plan, and render every bundle file plus ``SHA256SUMS`` (nothing written).

    ``snapshot_path``: one file, or several JSON Lines files or directories of shards read
    as one snapshot (``api.Snapshots``).

    ``jobs``: processes for a JSON Lines snapshot (``"auto"``: every core for a large one,
    as the CLI asks; 1 unless asked); the bytes are the same whatever it is. ``dask``: judge on this Dask scheduler instead.
    ``watch`` is entered around the evaluation with the opened snapshot (the command
    line's progress bar)."""
    from patchpolicy.api import evaluate_files
    from patchpolicy.planner import stream_plan
    from patchpolicy.render import bundle_renderers
    from patchpolicy.render.interface import RenderContext
    from patchpolicy.snapshot import open_snapshots

    # The planner's first pass runs while the hosts are judged (in every process), so
    # the fleet is read once and never held: see planner/.
    snapshot = open_snapshots(
        [snapshot_path] if isinstance(snapshot_path, str | Path) else snapshot_path)
    with watch(snapshot) if watch is not None else contextlib.nullcontext():
        run = evaluate_files(policy_paths, snapshot, as_of=as_of, jobs=jobs, dask=dask,
                             plan_horizon=PLAN_HORIZON)
    ev, inputs = run.evaluation, run.inputs
    remediation = ev.remediation
    assert remediation is not None
    result = (gate or Gate()).judge(ev)
    ctx = RenderContext(ev, inputs, None, result, options or RenderOptions())
    # The files that do not read the plan render in a forked process while this one plans.
    # More rendering processes hold several renderers' memory at once (1.65 GB at 10^6
    # findings with two, against 0.74 GB with one): only when a number was asked for.
    files, _ = render_while_planning(
        ctx, bundle_renderers(),
        lambda: stream_plan(ev.bundle, remediation, as_of=ev.as_of, horizon=PLAN_HORIZON),
        jobs=jobs if isinstance(jobs, int) else 1)
    return ev, files
