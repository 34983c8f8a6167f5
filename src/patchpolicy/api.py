"""The public API: load a bundle, evaluate a snapshot file, write an evidence bundle.

``patchpolicy`` re-exports these with the types they take and return (docs/api.md); the
rest of the package is internal and may change between minor versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from patchpolicy.clock import check_as_of
from patchpolicy.errors import DuplicateHostError, InputError, SnapshotError
from patchpolicy.evaluator import evaluate
from patchpolicy.loader import load_bundle
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.evaluation import EvaluationRun
from patchpolicy.model.gate import Gate, GateResult
from patchpolicy.model.results import InputFile, RunInputs, SnapshotInput
from patchpolicy.snapshot import (
    ShardedSource,
    SnapshotSource,
    duplicate_host_message,
    open_snapshots,
)

if TYPE_CHECKING:
    from patchpolicy.planner.hosts import HostPlanning
    from patchpolicy.render.interface import RenderOptions

__all__ = ["EvaluationRun", "Jobs", "Snapshots", "evaluate_files", "run_inputs", "write_evidence"]

Jobs = int | Literal["auto"]
"""Processes for a JSON Lines snapshot in a regular file: a number (1, the library's
default, never forks), or ``"auto"``: every core for a large one (the CLI's default,
:func:`patchpolicy.parallel.default_jobs`)."""


def run_inputs(bundle: Bundle, snapshot: SnapshotSource) -> RunInputs:
    """What an evaluation of ``snapshot`` against ``bundle`` read, with the digests."""
    from patchpolicy.version import __version__

    h = snapshot.header
    return RunInputs(
        policies=tuple(InputFile(f.path, f.sha256, f.size) for f in bundle.files),
        snapshot=SnapshotInput(
            path=str(snapshot.path),
            sha256=snapshot.sha256,
            size=snapshot.size,
            taken_at=h.taken_at,
            source_tool=h.source.tool if h.source else None,
            source_version=h.source.version if h.source else None,
            shards=tuple(InputFile(s.name, s.sha256, s.size) for s in snapshot.shards)
            if isinstance(snapshot, ShardedSource) else (),
        ),
        tool_version=__version__,
    )


def _as_of(as_of: datetime | None, snapshot: SnapshotSource) -> datetime:
    """The evaluation's as-of: the one given, else the snapshot's taken_at, checked."""
    when = as_of if as_of is not None else snapshot.header.taken_at
    try:
        check_as_of(when)
    except ValueError as e:
        if as_of is not None:
            raise InputError(f"as-of: {e}") from None
        first = snapshot.parts[0].name if isinstance(snapshot, ShardedSource) else snapshot.path
        raise SnapshotError(f"{first}: taken_at (the default as-of): {e}") from None
    return when


Snapshots = str | Path | Sequence[str | Path]
"""A snapshot as ``-s`` names it: one file (or ``-``), or the JSON Lines shards of several
files or directories, read as one snapshot (``patchpolicy.snapshot.open_snapshots``)."""


def _opened(snapshot: Snapshots | SnapshotSource) -> SnapshotSource:
    if isinstance(snapshot, SnapshotSource):
        return snapshot
    return open_snapshots([snapshot] if isinstance(snapshot, str | Path) else snapshot)


def evaluate_files(
    policy_paths: Sequence[str | Path],
    snapshot_path: Snapshots | SnapshotSource,
    *,
    as_of: datetime | None = None,
    keep_items: bool = True,
    keep_worst: int = 20,
    jobs: Jobs = 1,
    dask: str | None = None,
    plan_horizon: timedelta | None = None,
) -> EvaluationRun:
    """Load, evaluate at ``as_of`` (default: the snapshot's taken_at), and describe inputs.

    ``jobs``: processes for a JSON Lines snapshot in a regular file (see :data:`Jobs`:
    one unless asked, so a library call never forks by itself); the result is the same,
    byte for byte, either way.
    ``snapshot_path``: a file, or several JSON Lines files or directories of them read as
    one snapshot (:data:`Snapshots`); or a source already opened
    (``open_snapshot(..., retain_hosts=True)``) so that a caller that needs the hosts
    again (the planner) reuses the records evaluated. ``dask``: a
    Dask scheduler (``local`` or an address) to judge a JSON Lines snapshot's host ranges
    on (see dask_cluster); the result is the same, byte for byte. ``plan_horizon``: also
    run the planner's first pass while judging (``Evaluation.remediation``, for
    ``planner.stream_plan``), so that planning needs no second read of the fleet.
    """
    from patchpolicy.planner.hosts import HostPlanning

    bundle = load_bundle(policy_paths)
    snapshot = _opened(snapshot_path)
    when = _as_of(as_of, snapshot)
    planning = (
        HostPlanning(bundle, when.astimezone(UTC), plan_horizon) if plan_horizon is not None else None
    )
    try:
        return _evaluate(bundle, snapshot, when, keep_items=keep_items, keep_worst=keep_worst,
                         jobs=jobs, dask=dask, planning=planning)
    except DuplicateHostError as e:
        # The evaluator knows the id, the snapshot where it is: name both places.
        raise SnapshotError(duplicate_host_message(snapshot) or f"{snapshot.places}: {e}") from e


def _evaluate(
    bundle: Bundle, snapshot: SnapshotSource, when: datetime, *, keep_items: bool,
    keep_worst: int, jobs: Jobs, dask: str | None, planning: HostPlanning | None,
) -> EvaluationRun:
    from patchpolicy.parallel import default_jobs, evaluate_parallel

    if dask is not None:
        from patchpolicy.dask_cluster import evaluate_on_dask

        distributed = evaluate_on_dask(bundle, snapshot, scheduler=dask, as_of=when,
                                       keep_worst=keep_worst, keep_items=keep_items,
                                       planning=planning)
        return EvaluationRun(distributed, run_inputs(bundle, snapshot))
    processes = default_jobs(snapshot) if jobs == "auto" else jobs
    if processes > 1 and snapshot.parts:
        parallel = evaluate_parallel(bundle, snapshot, as_of=when, jobs=processes,
                                     keep_worst=keep_worst, keep_items=keep_items,
                                     planning=planning)
        return EvaluationRun(parallel, run_inputs(bundle, snapshot))
    result = evaluate(
        bundle,
        snapshot.hosts(),
        as_of=when,
        taken_at=snapshot.header.taken_at,
        keep_items=keep_items,
        keep_worst=keep_worst,
        planning=planning,
    )
    return EvaluationRun(result, run_inputs(bundle, snapshot))


def write_evidence(
    out_dir: str | Path,
    policy_paths: Sequence[str | Path],
    snapshot_path: Snapshots,
    *,
    as_of: datetime | None = None,
    gate: Gate | None = None,
    options: RenderOptions | None = None,
    force: bool = False,
    jobs: Jobs = 1,
) -> GateResult:
    """What ``patchpolicy evaluate -o OUT_DIR`` does, unsigned: evaluate, plan, render every
    file of the evidence bundle and swap it into ``out_dir`` atomically; return the gate's
    verdict (``exit_code`` is the CLI's). ``out_dir`` is refused (``OutputError``) when it
    is not empty and patchpolicy did not write it, unless ``force``. ``jobs`` as for
    :func:`evaluate_files` (one process unless asked); the files are the same either way."""
    from patchpolicy.evidence_bundle import build_bundle
    from patchpolicy.outdir import check_output_dir
    from patchpolicy.render.bundle import write_bundle

    out = Path(out_dir)
    snapshots = [snapshot_path] if isinstance(snapshot_path, str | Path) else list(snapshot_path)
    check_output_dir(out, inputs=[Path(p) for p in [*policy_paths, *snapshots]], force=force)
    gate = gate or Gate()
    ev, files = build_bundle(policy_paths, snapshot_path, as_of=as_of, gate=gate, options=options,
                             jobs=jobs)
    write_bundle(out, files)
    return gate.judge(ev)
