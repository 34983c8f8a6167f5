"""The shards of one snapshot: which files a directory holds, in which order, the digests of
one pass and the next, host ranges that never span two files, duplicate hosts placed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from patchpolicy.errors import SnapshotError
from patchpolicy.parallel import plan_ranges
from patchpolicy.snapshot import (
    ShardedSource,
    duplicate_host_message,
    open_snapshot,
    open_snapshots,
    shard_files,
)

HEADER = {"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",
          "taken_at": "2026-11-20T06:00:00Z", "source": {"tool": "t", "version": "1"}}


def host(i: int) -> dict[str, object]:
    return {"id": f"h{i}", "last_scan": "2026-11-19T00:00:00Z",
            "findings": [{"id": "f1", "vuln": f"CVE-2026-{i:04d}", "severity": "high",
                          "published_at": "2026-10-01T00:00:00Z"}]}


def shard(path: Path, hosts: list[int], header: dict[str, object] | None = None) -> Path:
    lines = [json.dumps(header or HEADER)] + [json.dumps(host(i)) for i in hosts]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_directory_is_its_jsonl_files_by_name_hidden_and_others_aside(tmp_path: Path) -> None:
    for name in ("part-2.jsonl", "part-10.jsonl", "a.ndjson", ".partial.jsonl"):
        shard(tmp_path / name, [1])
    (tmp_path / "README.md").write_text("the shards\n")
    (tmp_path / "old.jsonl").mkdir()  # a directory, whatever its name, is not a shard
    names = [p.name for p in shard_files([tmp_path])]
    assert names == ["a.ndjson", "part-10.jsonl", "part-2.jsonl"]  # byte order of names


def test_standard_input_cannot_be_a_shard(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="<stdin>: standard input cannot be one of several"):
        shard_files([shard(tmp_path / "a.jsonl", [1]), "-"])


def test_one_file_is_read_as_before_and_records_no_shards(tmp_path: Path) -> None:
    p = shard(tmp_path / "a.jsonl", [1, 2])
    source = open_snapshots([p])
    assert not isinstance(source, ShardedSource) and source.parts == (source,)
    assert source.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()


def test_the_digest_is_of_the_shards_one_after_another_and_checked_again(tmp_path: Path) -> None:
    a = shard(tmp_path / "a.jsonl", [1, 2])
    b = shard(tmp_path / "b.jsonl", [3])
    source = open_snapshots([tmp_path])
    assert isinstance(source, ShardedSource) and source.name == str(tmp_path)
    assert [h.id for h in source.hosts()] == ["h1", "h2", "h3"]
    whole = a.read_bytes() + b.read_bytes()
    assert (source.sha256, source.size) == (hashlib.sha256(whole).hexdigest(), len(whole))
    assert [s.sha256 for s in source.shards] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)]
    shard(b, [4])  # the same size, other bytes: the next pass says so
    with pytest.raises(SnapshotError, match=r"b\.jsonl: changed while it was being read"):
        list(source.hosts())


def test_a_shard_without_hosts_adds_its_header_and_no_range(tmp_path: Path) -> None:
    shard(tmp_path / "a.jsonl", [1, 2, 3, 4])
    shard(tmp_path / "b.jsonl", [])
    shard(tmp_path / "c.jsonl", [5])
    source = open_snapshots([tmp_path])
    ranges = plan_ranges(source.parts, 4)
    assert {r.part for r in ranges} == {0, 2}
    for part_index, part in enumerate(source.parts):
        assert part.file is not None
        data = part.file.read_bytes()
        mine = [r for r in ranges if r.part == part_index]
        if not mine:
            assert data.count(b"\n") == 1
            continue
        # The ranges of a file cover its hosts, end to end, at line ends, inside it.
        assert mine[0].begin == part.header_end and mine[-1].end == len(data)
        for x, y in zip(mine, mine[1:], strict=False):
            assert x.end == y.begin and data[y.begin - 1 : y.begin] == b"\n"


def test_a_header_without_source_differs_from_one_with(tmp_path: Path) -> None:
    shard(tmp_path / "a.jsonl", [1])
    bare = {k: v for k, v in HEADER.items() if k != "source"}
    shard(tmp_path / "b.jsonl", [2], bare)
    with pytest.raises(SnapshotError) as e:
        open_snapshots([tmp_path])
    assert str(e.value) == (
        f"{tmp_path}/b.jsonl:1:1: $.source: absent differs from "
        f'{{"tool":"t","version":"1"}} in {tmp_path}/a.jsonl line 1: the shards of one '
        "snapshot share their header (taken_at and source)")


def test_the_same_instant_in_another_offset_is_the_same_taken_at(tmp_path: Path) -> None:
    shard(tmp_path / "a.jsonl", [1])
    shard(tmp_path / "b.jsonl", [2], {**HEADER, "taken_at": "2026-11-20T07:00:00+01:00"})
    assert open_snapshots([tmp_path]).header.taken_at == open_snapshot(
        tmp_path / "a.jsonl").header.taken_at


def test_a_duplicate_host_in_one_file_is_placed_at_both_lines(tmp_path: Path) -> None:
    p = shard(tmp_path / "fleet.jsonl", [1, 2, 3, 2])
    assert duplicate_host_message(open_snapshot(p)) == (
        f"{p}:5:2: $.id: duplicate host id 'h2' (first at line 3)")
    assert duplicate_host_message(open_snapshot(shard(tmp_path / "ok.jsonl", [1, 2]))) is None


def test_a_duplicate_host_in_a_document_is_placed_by_its_json_paths(tmp_path: Path) -> None:
    p = tmp_path / "fleet.json"
    p.write_text(json.dumps({**HEADER, "hosts": [host(1), host(2), host(1)]}))
    assert duplicate_host_message(open_snapshot(p)) == (
        f"{p}: $.hosts[2].id: duplicate host id 'h1' (first at $.hosts[0])")
