"""Rows sorted on disk: an external merge sort for what does not fit in memory.

A ``SortedSpill`` takes rows (a sort key and the row's bytes) in any order. It holds up to
``memory_bytes`` of them; past that it sorts what it holds and writes it to disk as a run.
``finish`` merges the runs into one file and gives back ``SortedRows``, which reads the
rows in key order as often as needed. Keys must be total (no two rows with equal keys),
so the order, and every byte made from it, does not depend on how the rows were split
between runs, processes or machines.

The planner uses it twice: the hosts that need remediation, in the order tasks are
assigned (``planner.hosts``), and the tasks, in the order of ``tasks.json``
(``planner.stream``). Items have their own log (``itemlog``): their runs are the bytes of
``items.jsonl``.

A run is a sequence of frames: a 4-byte big-endian length, then the msgpack encoding of
``[key, data]``.
"""

from __future__ import annotations

import heapq
import os
import shutil
import struct
import tempfile
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["DEFAULT_MEMORY_BYTES", "RunFiles", "SortedRows", "SortedSpill"]

DEFAULT_MEMORY_BYTES = 32 << 20
"""Bytes of rows a ``SortedSpill`` holds before it writes a sorted run (~2-3x that in
Python objects)."""

_LEN = struct.Struct(">I")
_CHUNK = 1 << 20
_ENCODE = msgspec.msgpack.Encoder().encode
_DECODE = msgspec.msgpack.Decoder(tuple[tuple[Any, ...], bytes]).decode


def _frames(path: Path) -> Iterator[tuple[tuple[Any, ...], bytes]]:
    with path.open("rb", buffering=_CHUNK) as fh:
        while head := fh.read(4):
            (n,) = _LEN.unpack(head)
            yield _DECODE(fh.read(n))


def _first(frame: tuple[tuple[Any, ...], bytes]) -> tuple[Any, ...]:
    return frame[0]


class RunFiles(ABC):
    """Sorted runs on disk and the directory they live in: what a log that spills keeps
    (``SortedSpill`` here, ``itemlog.ItemLog`` for items). Subclasses hold rows in memory,
    write them as a run in ``_spill`` and drop them in ``_drop_held``."""

    def __init__(self, *, spill_dir: Path | None, prefix: str) -> None:
        self.count = 0
        self._runs: list[Path] = []
        self._dir = spill_dir
        self._own_dir = False
        self._prefix = prefix

    @abstractmethod
    def _spill(self) -> None:
        """Write the rows held as one more sorted run (nothing when none are held)."""

    @abstractmethod
    def _drop_held(self) -> None:
        """Forget the rows held in memory."""

    def run_directory(self) -> Path:
        """Where the runs live (created now if needed): worker processes write their runs
        here so that ``absorb_runs`` can take them over."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix=f"patchpolicy-{self._prefix}-"))
            self._own_dir = True
        return self._dir

    def _new_run(self, suffix: str) -> tuple[int, Path]:
        """A new run file (open descriptor, path), already counted among the runs."""
        fd, name = tempfile.mkstemp(prefix=f"{self._prefix}-{os.getpid()}-", suffix=suffix,
                                    dir=self.run_directory())
        self._runs.append(Path(name))
        return fd, Path(name)

    def export_runs(self) -> tuple[list[Path], int]:
        """Write everything held and hand over the runs (a worker's part)."""
        self._spill()
        runs, self._runs = self._runs, []
        return runs, self.count

    def absorb_runs(self, runs: Iterable[Path], count: int) -> None:
        """Take over runs another log exported (they must live in this one's directory
        or be removed by their owner)."""
        self._runs.extend(runs)
        self.count += count

    def _remove_runs(self) -> None:
        for path in self._runs:
            path.unlink(missing_ok=True)
        self._runs = []

    def _remove_own_dir(self) -> None:
        if self._own_dir and self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
            self._own_dir = False

    def discard(self) -> None:
        """Drop everything (a run that failed): held rows, runs, and the directory when
        this log made it."""
        self._drop_held()
        self._remove_runs()
        self.count = 0
        self._remove_own_dir()


class SortedSpill(RunFiles):
    """Collects rows in any order, in bounded memory; ``finish`` gives them sorted."""

    def __init__(self, *, memory_bytes: int = DEFAULT_MEMORY_BYTES, spill_dir: Path | None = None,
                 prefix: str = "rows") -> None:
        super().__init__(spill_dir=spill_dir, prefix=prefix)
        self.memory_bytes = max(1, memory_bytes)
        self._rows: list[tuple[tuple[Any, ...], bytes]] = []
        self._held = 0

    def add(self, key: tuple[Any, ...], data: bytes) -> None:
        self._rows.append((key, data))
        self._held += len(data) + 64
        self.count += 1
        if self._held >= self.memory_bytes:
            self._spill()

    def _drop_held(self) -> None:
        self._rows = []
        self._held = 0

    def _spill(self) -> None:
        if not self._rows:
            return
        self._rows.sort(key=_first)
        fd, _ = self._new_run(".run")
        with os.fdopen(fd, "wb", buffering=_CHUNK) as fh:
            for row in self._rows:
                frame = _ENCODE(row)
                fh.write(_LEN.pack(len(frame)))
                fh.write(frame)
        self._drop_held()

    def finish(self) -> SortedRows:
        """The rows in key order: in memory when nothing was spilled, else one merged file."""
        if not self._runs:
            self._rows.sort(key=_first)
            rows = SortedRows(rows=[data for _, data in self._rows], count=self.count)
            self._drop_held()
            self._remove_own_dir()
            return rows
        self._spill()
        directory = self.run_directory()
        fd, name = tempfile.mkstemp(prefix=f"{self._prefix}-", suffix=".sorted", dir=directory)
        try:
            with os.fdopen(fd, "wb", buffering=_CHUNK) as out:
                for _, data in heapq.merge(*(_frames(p) for p in self._runs), key=_first):
                    out.write(_LEN.pack(len(data)))
                    out.write(data)
        finally:
            self._remove_runs()
        return SortedRows(path=Path(name), count=self.count,
                          owned_dir=directory if self._own_dir else None)


class SortedRows:
    """The rows of a finished ``SortedSpill`` in key order, in memory or in a file of
    length-prefixed rows; iterate it as often as needed."""

    def __init__(self, *, rows: list[bytes] | None = None, path: Path | None = None,
                 count: int | None = None, owned_dir: Path | None = None) -> None:
        self._rows = rows
        self.path = path
        self._count = count if count is not None else len(rows or ())
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, owned_dir, True) if owned_dir is not None else None
        )

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[bytes]:
        if self._rows is not None:
            return iter(self._rows)
        return self._read()

    def _read(self) -> Iterator[bytes]:
        assert self.path is not None
        with self.path.open("rb", buffering=_CHUNK) as fh:
            while head := fh.read(4):
                (n,) = _LEN.unpack(head)
                yield fh.read(n)

    @property
    def spilled(self) -> bool:
        """True when the rows live in a file, not in memory."""
        return self._rows is None
