"""Evaluate a JSON Lines snapshot on a Dask cluster: host ranges judged on the workers,
merged on the client into exactly what one process gives.

The snapshot (one JSON Lines file, or its shards) is cut into byte ranges at line ends
(hosts never straddle two ranges, nor a range two files). What
is shipped to the workers is the policy bundle as its files' bytes (broadcast once; each
worker thread loads and compiles it once), and per range its path and offsets: a worker
that can read the snapshot at the same path (a shared filesystem, or a LocalCluster)
reads its range itself; one that cannot, or that sees a file of another size, says so,
and the client sends that range's bytes instead. The client hashes the whole file while
the workers judge, and each worker hashes what it decoded: equal digests prove the
evidence names the bytes judged.

Workers hand back what the forked workers of :mod:`patchpolicy.parallel` do (counts, host
checks, worst items) and, when items are kept, their sorted item runs as bytes; the
client writes the runs into its item log's directory as they arrive, absorbs the partial
states in file order, and merges the runs on (policy, host, finding), a total order: the
bytes are the same as one process's, whatever the number of workers or ranges.

Dask is an optional extra (``pip install 'patchpolicy[dask]'``).
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from patchpolicy.errors import InputError, SnapshotError
from patchpolicy.evaluator import Evaluation, Evaluator
from patchpolicy.itemlog import DEFAULT_MEMORY_ITEMS, ItemLog
from patchpolicy.model.bundle import Bundle
from patchpolicy.parallel import (
    Partial,
    Range,
    check_partials,
    file_lines,
    hash_parts,
    judge_lines,
    plan_ranges,
)
from patchpolicy.planner.hosts import HostPlanning
from patchpolicy.snapshot import SnapshotSource

__all__ = ["INSTALL_HINT", "DaskUnavailable", "PolicyFiles", "evaluate_on_dask"]

INSTALL_HINT = "--dask needs the optional extra: pip install 'patchpolicy[dask]'"

#: Bytes of snapshot per task: small enough that one worker's result (its item runs
#: included) stays a few hundred MB, large enough that scheduling costs little.
RANGE_BYTES = 64 * 2**20


class DaskUnavailable(InputError):
    """``--dask`` without dask installed, or a scheduler that cannot be reached."""


@dataclass(frozen=True)
class PolicyFiles:
    """The policy bundle as shipped to workers: each file's path (as loaded) and bytes."""

    files: tuple[tuple[str, bytes], ...]
    digest: str

    @classmethod
    def of(cls, bundle: Bundle) -> PolicyFiles:
        files = []
        h = hashlib.sha256()
        for f in bundle.files:
            data = Path(f.path).read_bytes()
            if hashlib.sha256(data).hexdigest() != f.sha256:
                raise InputError(f"{f.path}: changed since it was loaded")
            files.append((f.path, data))
            h.update(f.sha256.encode() + b" " + f.path.encode() + b"\n")
        return cls(tuple(files), h.hexdigest())

    def load(self) -> Bundle:
        """The compiled bundle, from copies of the files laid out in a temporary directory."""
        from patchpolicy.loader import load_bundle

        root = Path(tempfile.mkdtemp(prefix="patchpolicy-policies-"))
        try:
            paths = []
            for name, data in self.files:
                dest = root / "files" / name.lstrip("/").replace("..", "__")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(data)
                paths.append(dest)
            return load_bundle(paths)
        finally:
            shutil.rmtree(root, ignore_errors=True)


_LOADED = threading.local()


def _bundle_of(policies: PolicyFiles) -> Bundle:
    """One compiled bundle per worker thread and bundle digest (compiled programs and
    memos are not shared between threads)."""
    cache: dict[str, Bundle] = getattr(_LOADED, "bundles", None) or {}
    _LOADED.bundles = cache
    if policies.digest not in cache:
        cache.clear()
        cache[policies.digest] = policies.load()
    return cache[policies.digest]


@dataclass(frozen=True)
class RangeTask:
    """One host range of the snapshot, and how to judge it."""

    path: str
    size: int
    begin: int
    end: int
    as_of: datetime
    keep_worst: int
    keep_items: bool
    memory_items: int
    plan: tuple[datetime, timedelta, int] | None = None
    """(as-of, horizon, memory bytes) of the planner's first pass, when planning."""


@dataclass
class RangeResult:
    """A worker's answer: its partial state and item runs, or why it could not read."""

    partial: Partial | None = None
    runs: list[bytes] | None = None
    plan_runs: list[bytes] | None = None
    unreadable: str | None = None


def _data_lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    yield from enumerate(data.splitlines(keepends=True), 1)


def _size_seen(path: str) -> int | str:
    """The size of ``path`` as this worker sees it, or why it cannot."""
    try:
        return os.stat(path).st_size
    except OSError as e:
        return f"{path}: {e.strerror or e}"


def judge_range(policies: PolicyFiles, task: RangeTask, data: bytes | None = None) -> RangeResult:
    """Run on a worker: judge one range (read from ``task.path``, or ``data`` if given)."""
    if data is None:
        size = _size_seen(task.path)
        if isinstance(size, str):
            return RangeResult(unreadable=size)
        if size != task.size:
            return RangeResult(unreadable=f"{task.path}: {size} bytes here, {task.size} on the client")
        lines = file_lines(Path(task.path), task.begin, task.end)
    else:
        lines = _data_lines(data)
    bundle = _bundle_of(policies)
    keep_runs = task.keep_items or task.plan is not None
    run_dir = Path(tempfile.mkdtemp(prefix="patchpolicy-dask-items-")) if keep_runs else None
    try:
        log = ItemLog(memory_items=task.memory_items, spill_dir=run_dir) \
            if run_dir and task.keep_items else None
        planning = None
        if task.plan is not None:
            plan_as_of, horizon, plan_bytes = task.plan
            planning = HostPlanning(bundle, plan_as_of, horizon, spill_dir=run_dir,
                                    memory_bytes=plan_bytes)
        ev = Evaluator(bundle, task.as_of, keep_items=log is not None,
                       keep_worst=task.keep_worst, item_log=log, planning=planning)
        enabled = gc.isenabled()
        gc.disable()
        try:
            partial = judge_lines(ev, lines, task.begin)
        finally:
            if enabled:
                gc.enable()
        runs = [p.read_bytes() for p in partial.state.item_runs]
        plan_runs = [p.read_bytes() for p in partial.state.plan_runs]
        partial.state.item_runs = []
        partial.state.plan_runs = []
        return RangeResult(partial=partial, runs=runs, plan_runs=plan_runs)
    finally:
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)


def _distributed() -> Any:
    """The ``distributed`` module (untyped: used through Any), or DaskUnavailable."""
    import importlib

    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise DaskUnavailable(INSTALL_HINT) from None


def _client(scheduler: str) -> tuple[Any, Any]:
    """(client, cluster to close or None) for ``local`` or a scheduler address."""
    dd = _distributed()
    Client, LocalCluster = dd.Client, dd.LocalCluster
    if scheduler == "local":
        cluster = LocalCluster(n_workers=os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="30s"), None
    except (OSError, TimeoutError, ValueError) as e:
        raise DaskUnavailable(f"--dask {scheduler}: cannot reach the scheduler: {e}") from None


def evaluate_on_dask(
    bundle: Bundle,
    snapshot: SnapshotSource,
    *,
    scheduler: str | Any,
    as_of: datetime,
    keep_worst: int = 20,
    keep_items: bool = False,
    memory_items: int = DEFAULT_MEMORY_ITEMS,
    range_bytes: int = RANGE_BYTES,
    planning: HostPlanning | None = None,
) -> Evaluation:
    """Like ``evaluate`` on a JSON Lines snapshot (one file, or its shards), on the Dask
    cluster at ``scheduler`` (``local``, an address such as ``tcp://host:8786``, or a
    ``distributed.Client``)."""
    if not snapshot.parts:
        raise InputError(f"{snapshot.name}: --dask needs a JSON Lines snapshot in a regular file")
    own = isinstance(scheduler, str)
    client: Any
    cluster: Any
    if isinstance(scheduler, str):
        client, cluster = _client(scheduler)
    else:
        client, cluster = scheduler, None
    log = ItemLog(memory_items=memory_items) if keep_items else None
    try:
        return _run(client, bundle, snapshot, log, as_of=as_of, keep_worst=keep_worst,
                    memory_items=memory_items, range_bytes=range_bytes, planning=planning)
    except BaseException:
        if log is not None:
            log.discard()
        if planning is not None:
            planning.discard()
        raise
    finally:
        if own:
            client.close()
        if cluster is not None:
            cluster.close()


def _run(
    client: Any, bundle: Bundle, snapshot: SnapshotSource, log: ItemLog | None, *,
    as_of: datetime, keep_worst: int, memory_items: int, range_bytes: int,
    planning: HostPlanning | None = None,
) -> Evaluation:
    tasks, ranges = _tasks(client, snapshot, log is not None, as_of=as_of, keep_worst=keep_worst,
                          memory_items=memory_items, range_bytes=range_bytes, planning=planning)
    policies = client.scatter(PolicyFiles.of(bundle), broadcast=True)
    futures = {client.submit(judge_range, policies, t, pure=False): i for i, t in enumerate(tasks)}
    partials: list[Partial | None] = [None] * len(tasks)
    digests = hash_parts(snapshot.parts, ranges)
    pending = _distributed().as_completed(list(futures))
    for fut in pending:
        i = futures[fut]
        result: RangeResult = fut.result()
        if result.unreadable is not None:
            # The worker cannot see the file: send it this range's bytes.
            with Path(tasks[i].path).open("rb") as f:
                f.seek(tasks[i].begin)
                data = f.read(tasks[i].end - tasks[i].begin)
            retry = client.submit(judge_range, policies, tasks[i], data, pure=False)
            futures[retry] = i
            pending.add(retry)
            continue
        assert result.partial is not None
        if log is not None:
            result.partial.state.item_runs = _write_runs(log.run_directory(), result.runs or [])
        if planning is not None:
            result.partial.state.plan_runs = _write_runs(planning.run_directory(),
                                                         result.plan_runs or [])
        result.partial.part = ranges[i].part
        partials[i] = result.partial
        fut.release()
    done = [p for p in partials if p is not None]
    if len(done) != len(tasks):
        raise SnapshotError(f"{snapshot.places}: a range was not judged")
    check_partials(snapshot, done, digests)
    ev = Evaluator(bundle, as_of, keep_items=log is not None, keep_worst=keep_worst,
                   item_log=log, planning=planning)
    for part in done:
        ev.absorb(part.state)
    return ev.finish(snapshot.header.taken_at)


def _tasks(
    client: Any, snapshot: SnapshotSource, keep_items: bool, *, as_of: datetime,
    keep_worst: int, memory_items: int, range_bytes: int, planning: HostPlanning | None,
) -> tuple[list[RangeTask], list[Range]]:
    """One task per host range of the snapshot's files (at least one per worker, about
    ``range_bytes`` each), and the ranges."""
    files = snapshot.parts
    paths, sizes = [], []
    for part in files:
        assert part.file is not None
        paths.append(str(part.file.resolve()))
        sizes.append(part.file.stat().st_size)
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    host_bytes = sum(size - part.header_end for size, part in zip(sizes, files, strict=True))
    ranges = plan_ranges(files, max(workers, -(-host_bytes // max(1, range_bytes))))
    per_task_items = max(1, memory_items // workers)
    plan = (
        (planning.calendar.as_of, planning.horizon, max(1, planning.rows.memory_bytes // workers))
        if planning is not None else None
    )
    tasks = [RangeTask(paths[r.part], sizes[r.part], r.begin, r.end, as_of, keep_worst,
                       keep_items, per_task_items, plan) for r in ranges]
    return tasks, ranges


def _write_runs(directory: Path, runs: list[bytes]) -> list[Path]:
    out = []
    for data in runs:
        fd, name = tempfile.mkstemp(prefix="run-dask-", suffix=".run", dir=directory)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        out.append(Path(name))
    return out
