"""Evaluate a JSON Lines snapshot in several processes, one byte range of hosts each.

Worth it for large streamed fleets (``check``, and ``evaluate`` / ``verify`` that keep
every item): each worker decodes and judges its own lines, then returns its counts, host
checks and worst items, which merge into exactly what one process would have produced
(counts add up, lists are sorted at ``finish``, failing references keep file order).
When items are kept, each worker's item log spills its sorted runs into the parent's
run directory and hands over their paths; the parent's log merges them on (policy, host,
finding), a total order, so ``items.jsonl`` has the same bytes whatever the number of
workers. Workers are forked after the bundle is loaded, so compiled expressions are
shared, not rebuilt.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from patchpolicy.errors import SnapshotError
from patchpolicy.evaluator import Evaluation, Evaluator, PartialState
from patchpolicy.itemlog import DEFAULT_MEMORY_ITEMS, ItemLog
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.fleet import HostRecord
from patchpolicy.planner.hosts import HostPlanning
from patchpolicy.snapshot import MAX_RECORD_BYTES, SnapshotSource, line_error, may_repeat_host


def split_ranges(path: Path, start: int, parts: int) -> list[tuple[int, int]]:
    """Cut ``path`` from byte ``start`` into about ``parts`` ranges ending at newlines."""
    size = path.stat().st_size
    bounds = [start]
    with path.open("rb") as f:
        for i in range(1, parts):
            target = start + (size - start) * i // parts
            if target <= bounds[-1]:
                continue
            f.seek(target)
            f.readline()
            pos = f.tell()
            if bounds[-1] < pos < size:
                bounds.append(pos)
    bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


@dataclass(frozen=True)
class Range:
    """Host lines of one file of the snapshot: bytes [begin, end) of ``parts[part]``."""

    part: int
    begin: int
    end: int


def plan_ranges(parts: Sequence[SnapshotSource], pieces: int) -> list[Range]:
    """Cut the snapshot's files (one, or its shards) into about ``pieces`` host ranges at
    line ends, in file order. A range never spans two files: each shard with hosts gets
    at least one, the rest go in proportion to its bytes of hosts."""
    spans = []
    for part in parts:
        assert part.file is not None
        spans.append(max(0, part.file.stat().st_size - part.header_end))
    total = sum(spans) or 1
    out: list[Range] = []
    for i, (part, span) in enumerate(zip(parts, spans, strict=True)):
        if span == 0:
            continue
        assert part.file is not None
        n = max(1, round(pieces * span / total))
        out.extend(Range(i, a, b) for a, b in split_ranges(part.file, part.header_end, n))
    return out


def file_lines(path: Path, begin: int, end: int) -> Iterator[tuple[int, bytes]]:
    """The lines of ``path`` that start in [begin, end), numbered from 1 in the range."""
    with path.open("rb") as f:
        f.seek(begin)
        pos = begin
        n = 0
        while pos < end:
            line = f.readline(MAX_RECORD_BYTES + 1)
            if not line:
                break
            pos += len(line)
            n += 1
            yield n, line


#: Below this size one process is faster than starting workers.
MIN_PARALLEL_BYTES = 32 * 2**20

# Set in the parent before forking; the workers read it (fork shares it copy-on-write).
_JOB: dict[str, Any] = {}


@dataclass
class Partial:
    """What one worker hands back: its evaluator's state, or where it stopped."""

    state: PartialState
    error: str | None = None
    error_line: tuple[int, int] | None = None
    """(byte offset of the worker's range, line number inside it) of a decode error."""
    sha256: str = ""
    """Digest of the bytes of the range this worker read."""
    part: int = 0
    """The file of the snapshot (``SnapshotSource.parts``) the range is in."""


def _work(byte_range: Range) -> Partial:
    bundle: Bundle = _JOB["bundle"]
    path: Path = _JOB["paths"][byte_range.part]
    spill_dir: Path | None = _JOB["spill_dir"]
    log = None
    if spill_dir is not None:
        log = ItemLog(memory_items=_JOB["memory_items"], spill_dir=spill_dir)
    planning = None
    if _JOB["plan"] is not None:
        plan_as_of, horizon, plan_dir, plan_bytes = _JOB["plan"]
        planning = HostPlanning(bundle, plan_as_of, horizon, spill_dir=plan_dir,
                                memory_bytes=plan_bytes)
    ev = Evaluator(bundle, _JOB["as_of"], keep_items=log is not None,
                   keep_worst=_JOB["keep_worst"], item_log=log, planning=planning)
    gc.disable()  # a short-lived worker: see snapshot.no_gc for why this is safe
    partial = judge_lines(ev, file_lines(path, byte_range.begin, byte_range.end),
                          byte_range.begin, _JOB.get("progress"))
    partial.part = byte_range.part
    return partial


_PROGRESS_EVERY = 256
"""Lines a worker judges between two updates of the shared progress counters."""


def judge_lines(ev: Evaluator, lines: Iterable[tuple[int, bytes]], begin: int,
                progress: Any = None) -> Partial:
    """Feed the host lines of one byte range (numbered from 1 inside it) to ``ev``; stop
    at the first bad line. The range starts at byte ``begin`` of the snapshot.
    ``progress``, a shared array of (bytes, hosts, findings), is added to as lines are
    judged (the parent's progress bar reads it)."""
    decode = msgspec.json.Decoder(HostRecord).decode
    error = None
    error_line = None
    h = hashlib.sha256()
    done = [0, 0, 0]

    def flush() -> None:
        if progress is not None and done[0]:
            with progress.get_lock():
                for k in range(3):
                    progress[k] += done[k]
            done[:] = [0, 0, 0]

    try:
        for n, line in lines:
            h.update(line)
            done[0] += len(line)
            if n % _PROGRESS_EVERY == 0:
                flush()
            if not line.strip():
                continue
            try:
                host = decode(line)
                if len(line) > MAX_RECORD_BYTES or may_repeat_host(line):
                    raise msgspec.DecodeError("see the parent's message")
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                error, error_line = str(e), (begin, n)
                break
            ev.add_host(host)
            done[1] += 1
            done[2] += len(host.findings)
    except SnapshotError as e:
        error = str(e)
    flush()
    return Partial(ev.export_partial(), error, error_line, h.hexdigest())


def default_jobs(snapshot: SnapshotSource) -> int:
    """Processes to use when the user did not say: every core for a large JSON Lines
    fleet in a regular file, else one.

    Measured on the 2-core reference machine with the 10^6-finding benchmark fleet
    (benchmarks/bench_check.py --jobs N): one process ~4.4 s, two ~2.9 s. Below
    ``MIN_PARALLEL_BYTES`` forking and merging cost more than they give back.
    """
    if not snapshot.parts or snapshot.size < MIN_PARALLEL_BYTES:
        return 1
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def evaluate_parallel(
    bundle: Bundle,
    snapshot: SnapshotSource,
    *,
    as_of: datetime,
    jobs: int,
    keep_worst: int = 20,
    keep_items: bool = False,
    memory_items: int = DEFAULT_MEMORY_ITEMS,
    planning: HostPlanning | None = None,
) -> Evaluation:
    """Like ``evaluate`` on a JSON Lines snapshot (one file, or its shards), in ``jobs``
    forked processes.

    ``keep_items``: every item is kept (in ``Evaluation.items``, bounded memory: the
    workers share ``memory_items`` between them, and spill sorted runs to disk).
    ``planning``: the planner's first pass, run in each worker (their sorted runs go to
    its directory) and merged here.
    """
    if not snapshot.parts:
        raise ValueError("parallel evaluation needs a JSON Lines snapshot in regular files")
    ranges = plan_ranges(snapshot.parts, jobs)
    log = ItemLog(memory_items=memory_items) if keep_items else None
    try:
        # The memory budgets are shared by the ranges judged at once (one per worker; with
        # more shards than workers, the others wait, their finished runs on disk).
        return _run(bundle, snapshot, ranges, log, as_of=as_of, keep_worst=keep_worst,
                    memory_items=max(1, memory_items // max(1, min(jobs, len(ranges)))),
                    planning=planning, jobs=jobs)
    except BaseException:
        if log is not None:
            log.discard()  # the workers' runs too: they live in its directory
        if planning is not None:
            planning.discard()
        raise


def _run(
    bundle: Bundle, snapshot: SnapshotSource, ranges: list[Range],
    log: ItemLog | None, *, as_of: datetime, keep_worst: int, memory_items: int,
    planning: HostPlanning | None = None, jobs: int = 1,
) -> Evaluation:
    parts = snapshot.parts
    _JOB.update(bundle=bundle, paths=[p.file for p in parts], as_of=as_of, keep_worst=keep_worst,
                spill_dir=log.run_directory() if log is not None else None,
                memory_items=memory_items,
                plan=(planning.calendar.as_of, planning.horizon, planning.run_directory(),
                      max(1, planning.rows.memory_bytes // max(1, min(jobs, len(ranges)))))
                if planning is not None else None)
    # Move what exists now out of the GC's reach, so forked workers do not touch (and
    # copy) the parent's pages just to scan them.
    gc.freeze()
    try:
        if not ranges:  # a header and no host: nothing to fork for
            digests = hash_parts(parts, ranges)
            partials: list[Partial] = []
        else:
            digests, partials = _fork(parts, ranges, jobs, snapshot.on_progress)
    finally:
        gc.unfreeze()
        _JOB.clear()
    ev = Evaluator(bundle, as_of, keep_items=log is not None, keep_worst=keep_worst,
                   item_log=log, planning=planning)
    check_partials(snapshot, partials, digests)
    for part in partials:
        ev.absorb(part.state)
    return ev.finish(snapshot.header.taken_at)


def check_partials(snapshot: SnapshotSource, partials: Sequence[Partial],
                   digests: Digests) -> None:
    """The first bad line any worker met, in file order, else the proof that the ranges
    judged are the bytes hashed; then the digests are the snapshot's (and its shards')."""
    for part in partials:
        if part.error is not None:
            raise SnapshotError(error_message(snapshot, part))
    if [p.sha256 for p in partials] != digests.ranges:
        raise SnapshotError(f"{snapshot.places}: changed while it was being read")
    for file, (sha256, size) in zip(snapshot.parts, digests.parts, strict=True):
        file.set_digest(sha256, size)
    snapshot.set_digest(digests.sha256, digests.size)


def _fork(
    parts: Sequence[SnapshotSource], ranges: list[Range], jobs: int,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> tuple[Digests, list[Partial]]:
    ctx = multiprocessing.get_context("fork")
    shared = ctx.Array("q", 3) if on_progress is not None else None
    _JOB["progress"] = shared
    headers = sum(p.header_end for p in parts)
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(ranges))), mp_context=ctx) as pool:
        futures = [pool.submit(_work, r) for r in ranges]
        # While the workers decode, hash the same ranges; each worker hashes what it
        # decoded, so equal digests prove the evidence's digest is of the bytes judged.
        digests = hash_parts(parts, ranges)
        while on_progress is not None and shared is not None:
            _, pending = wait(futures, timeout=0.2)
            with shared.get_lock():
                on_progress(headers + shared[0], shared[1], shared[2])
            if not pending:
                break
        return digests, [f.result() for f in futures]


@dataclass
class Digests:
    """What the parent hashed: the whole snapshot (its files one after another), each
    file's (digest, size), and each range's digest in range order."""

    sha256: str
    size: int
    parts: list[tuple[str, int]]
    ranges: list[str]


def hash_parts(parts: Sequence[SnapshotSource], ranges: Sequence[Range]) -> Digests:
    """Hash every file of the snapshot and every range of ``ranges`` in one read."""
    whole = hashlib.sha256()
    per_file: list[tuple[str, int]] = []
    per_range: list[str] = []
    for i, part in enumerate(parts):
        assert part.file is not None
        mine = [(r.begin, r.end) for r in ranges if r.part == i]
        digest, size, digests = hash_ranges(part.file, part.header_end, mine, whole)
        per_file.append((digest, size))
        per_range.extend(digests)
    return Digests(whole.hexdigest(), sum(s for _, s in per_file), per_file, per_range)


def hash_ranges(
    path: Path, header_end: int, ranges: list[tuple[int, int]], also: Any = None,
) -> tuple[str, int, list[str]]:
    """(digest, size) of ``path`` and the digest of each range; ``also``, a hash object,
    is fed the file's bytes too (the digest of a sharded snapshot's files in order)."""
    whole = hashlib.sha256()
    feeds = [whole] if also is None else [whole, also]
    parts = []
    with path.open("rb") as f:
        head = f.read(header_end)
        for h in feeds:
            h.update(head)
        size = len(head)
        for begin, end in ranges:
            f.seek(begin)
            part = hashlib.sha256()
            left = end - begin
            while left > 0 and (chunk := f.read(min(left, 1 << 20))):
                for h in feeds:
                    h.update(chunk)
                part.update(chunk)
                left -= len(chunk)
                size += len(chunk)
            parts.append(part.hexdigest())
        while chunk := f.read(1 << 20):  # bytes appended after the split: a change
            for h in feeds:
                h.update(chunk)
            size += len(chunk)
            parts.append("appended")
    return whole.hexdigest(), size, parts


def error_message(snapshot: SnapshotSource, part: Partial) -> str:
    if part.error_line is None:
        return part.error or "worker failed"
    # Decode the bad line again in this process for the full message (line, column, path).
    begin, n = part.error_line
    file = snapshot.parts[part.part]
    assert file.file is not None
    with file.file.open("rb") as f:
        before = f.read(begin).count(b"\n")
        line = b""
        for _ in range(n):
            line = f.readline()
    return line_error(file.name, line, before + n) or part.error or "worker failed"
