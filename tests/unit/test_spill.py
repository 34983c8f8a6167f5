"""SortedSpill: rows in any order, in bounded memory, read back in key order."""

from __future__ import annotations

import random
from pathlib import Path

from patchpolicy.spill import SortedSpill


def _rows(n: int, seed: int) -> list[tuple[tuple[int, str], bytes]]:
    rng = random.Random(seed)
    keys = rng.sample(range(10 * n), n)
    return [((k % 7, f"h{k:06d}"), f"row {k}".encode()) for k in keys]


def test_in_memory_rows_come_back_sorted() -> None:
    rows = _rows(50, 1)
    spill = SortedSpill()
    for key, data in rows:
        spill.add(key, data)
    out = spill.finish()
    assert not out.spilled and len(out) == 50
    assert list(out) == [d for _, d in sorted(rows)]


def test_spilled_runs_merge_into_the_same_order_and_read_twice(tmp_path: Path) -> None:
    rows = _rows(2000, 2)
    spill = SortedSpill(memory_bytes=500, spill_dir=tmp_path)
    for key, data in rows:
        spill.add(key, data)
    out = spill.finish()
    assert out.spilled and len(out) == 2000
    expected = [d for _, d in sorted(rows)]
    assert list(out) == expected
    assert list(out) == expected  # a second pass reads the file again
    assert [p.name for p in tmp_path.iterdir()] == [out.path.name]  # type: ignore[union-attr]


def test_runs_exported_by_workers_are_absorbed() -> None:
    rows = _rows(900, 3)
    parent = SortedSpill(memory_bytes=10_000)
    workers = [SortedSpill(memory_bytes=300, spill_dir=parent.run_directory()) for _ in range(3)]
    for i, (key, data) in enumerate(rows):
        workers[i % 3].add(key, data)
    for w in workers:
        runs, count = w.export_runs()
        assert runs  # small memory: every worker wrote runs
        parent.absorb_runs(runs, count)
    out = parent.finish()
    assert len(out) == 900 and list(out) == [d for _, d in sorted(rows)]


def test_discard_removes_runs_and_the_directory_it_made() -> None:
    spill = SortedSpill(memory_bytes=10)
    for key, data in _rows(20, 4):
        spill.add(key, data)
    directory = spill.run_directory()
    assert any(directory.iterdir())
    spill.discard()
    assert not directory.exists() and spill.count == 0
