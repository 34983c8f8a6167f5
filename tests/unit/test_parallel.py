"""Sharded evaluation gives exactly what one process gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from patchpolicy.errors import SnapshotError
from patchpolicy.evaluator import evaluate
from patchpolicy.loader import load_bundle
from patchpolicy.parallel import evaluate_parallel, split_ranges
from patchpolicy.render.text import check_summary
from patchpolicy.snapshot import open_snapshot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fleet") / "fleet.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_fleet.py"),
         "--findings", "3000", "--hosts", "120", "-o", str(out)],
        check=True, capture_output=True,
    )
    return out


def test_split_ranges_cover_the_file_on_line_boundaries(fleet: Path) -> None:
    data = fleet.read_bytes()
    header_end = data.index(b"\n") + 1
    ranges = split_ranges(fleet, header_end, 3)
    assert ranges[0][0] == header_end and ranges[-1][1] == len(data)
    for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
        assert end == start and data[start - 1 : start] == b"\n"


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_equals_sequential(fleet: Path, jobs: int) -> None:
    bundle = load_bundle([ROOT / "examples" / "policies"])
    snap = open_snapshot(fleet)
    as_of = snap.header.taken_at
    one = evaluate(bundle, snap.hosts(), as_of=as_of, taken_at=as_of, keep_items=False)
    many = evaluate_parallel(bundle, snap, as_of=as_of, jobs=jobs)
    assert check_summary(one, one.gate(), 20) == check_summary(many, many.gate(), 20)
    assert one.tally.by_policy == many.tally.by_policy
    assert one.tally.control_counts == many.tally.control_counts
    assert one.controls == many.controls
    assert one.exceptions == many.exceptions
    assert one.checks == many.checks
    assert one.worst == many.worst


def test_parallel_reports_bad_lines_with_their_number(fleet: Path, tmp_path: Path) -> None:
    lines = fleet.read_bytes().splitlines(keepends=True)
    host = json.loads(lines[100])
    host["findings"] = [{"id": "x", "vuln": "v", "severity": "SEVERE"}]
    lines[100] = json.dumps(host).encode() + b"\n"
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    bundle = load_bundle([ROOT / "examples" / "policies"])
    snap = open_snapshot(bad)
    with pytest.raises(SnapshotError, match=r"bad\.jsonl:101:253: \$\.findings\[0\]\.severity"):
        evaluate_parallel(bundle, snap, as_of=snap.header.taken_at, jobs=2)


def test_parallel_detects_duplicate_hosts_across_shards(fleet: Path, tmp_path: Path) -> None:
    lines = fleet.read_bytes().splitlines(keepends=True)
    dup = tmp_path / "dup.jsonl"
    dup.write_bytes(b"".join([*lines, lines[1]]))
    bundle = load_bundle([ROOT / "examples" / "policies"])
    snap = open_snapshot(dup)
    with pytest.raises(SnapshotError, match="duplicate host id 'host-000000'"):
        evaluate_parallel(bundle, snap, as_of=snap.header.taken_at, jobs=2)


def test_check_jobs_option_reaches_the_sharded_evaluator(
    fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import patchpolicy.parallel as parallel
    from patchpolicy.cli import main

    calls: list[int] = []
    real = parallel.evaluate_parallel

    def spy(*args: object, jobs: int, **kwargs: object) -> object:
        calls.append(jobs)
        return real(*args, jobs=jobs, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "evaluate_parallel", spy)
    policies = str(ROOT / "examples" / "policies")
    one = CliRunner().invoke(main, ["check", "-p", policies, "-s", str(fleet), "-j", "1"])
    two = CliRunner().invoke(main, ["check", "-p", policies, "-s", str(fleet), "-j", "2"])
    assert calls == [2]
    assert one.exit_code == two.exit_code and one.stdout == two.stdout


def _items_bytes(ev: object) -> bytes:
    return b"".join(ev.items.chunks())  # type: ignore[attr-defined]


@pytest.mark.parametrize("jobs", [2, 3])
def test_parallel_keeps_every_item_in_the_order_of_one_process(fleet: Path, jobs: int) -> None:
    bundle = load_bundle([ROOT / "examples" / "policies"])
    snap = open_snapshot(fleet)
    as_of = snap.header.taken_at
    one = evaluate(bundle, snap.hosts(), as_of=as_of, taken_at=as_of)
    # A tiny memory budget: every worker spills many runs into the parent's directory.
    many = evaluate_parallel(bundle, snap, as_of=as_of, jobs=jobs, keep_items=True,
                             memory_items=200)
    assert many.items.spilled and len(many.items) == len(one.items) > 1000
    assert _items_bytes(many) == _items_bytes(one)
    assert many.items.sha256 == one.items.sha256
    assert one.worst == many.worst and one.checks == many.checks
    assert one.tally.by_verdict == many.tally.by_verdict


def test_parallel_items_leave_no_runs_behind_on_a_bad_line(
    fleet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = fleet.read_bytes().splitlines(keepends=True)
    lines[-5] = b'{"id": "broken"\n'
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"".join(lines))
    spill = tmp_path / "tmp"
    spill.mkdir()
    monkeypatch.setenv("TMPDIR", str(spill))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    bundle = load_bundle([ROOT / "examples" / "policies"])
    snap = open_snapshot(bad)
    with pytest.raises(SnapshotError, match=rf"bad\.jsonl:{len(lines) - 4}:"):
        evaluate_parallel(bundle, snap, as_of=snap.header.taken_at, jobs=2, keep_items=True,
                          memory_items=100)
    assert list(spill.iterdir()) == []


def test_default_jobs_use_every_core_for_large_files_only(
    fleet: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchpolicy.parallel as parallel

    snap = open_snapshot(fleet)
    assert parallel.default_jobs(snap) == 1  # 1 MB: forking costs more than it gives
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 1)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    assert parallel.default_jobs(snap) == 2


@pytest.mark.parametrize("keep_items", [False, True])
def test_a_snapshot_with_no_host_needs_no_worker(
    fleet: Path, tmp_path: Path, keep_items: bool
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(fleet.read_bytes().split(b"\n", 1)[0] + b"\n")
    bundle = load_bundle([ROOT / "examples" / "policies"])
    snap = open_snapshot(empty)
    as_of = snap.header.taken_at
    one = evaluate(bundle, open_snapshot(empty).hosts(), as_of=as_of, taken_at=as_of,
                   keep_items=keep_items)
    many = evaluate_parallel(bundle, snap, as_of=as_of, jobs=2, keep_items=keep_items)
    assert many.tally.hosts_read == 0 and len(many.items) == 0
    assert check_summary(one, one.gate(), 20) == check_summary(many, many.gate(), 20)
    assert snap.sha256 == open_snapshot(empty).sha256
