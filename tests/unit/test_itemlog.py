"""The item log: items in any order, bounded memory, one sorted byte stream."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import msgspec
import pytest

from patchpolicy.itemlog import ItemLog, ItemStream, item_key
from patchpolicy.model.results import Bucket, Item, Verdict


def _item(policy: str, host: str, finding: str) -> Item:
    return Item(
        policy=policy, host=host, finding=finding, vuln=finding.split("/")[0], package=None,
        severity="high", status="open", verdict=Verdict.OPEN, bucket=Bucket.WARN, days_left=3,
    )


def _items(n: int) -> list[Item]:
    return [_item(f"p{i % 3}", f"h{(i * 7919) % 101:03d}", f"CVE-{i:05d}") for i in range(n)]


@pytest.mark.parametrize("memory_items", [1, 7, 64, 10_000])
def test_spilled_and_in_memory_logs_give_the_same_bytes(memory_items: int, tmp_path: Path) -> None:
    items = _items(500)
    reference = b"".join(ItemStream.of(items).chunks())
    shuffled = items[:]
    random.Random(memory_items).shuffle(shuffled)
    log = ItemLog(memory_items=memory_items)
    for it in shuffled:
        log.add(it)
    stream = log.finish()
    assert stream.spilled == (memory_items < len(items))
    assert b"".join(stream.chunks()) == reference
    assert len(stream) == 500 and reference.count(b"\n") == 500
    assert [item_key(i) for i in stream] == sorted(item_key(i) for i in items)
    assert list(stream) == sorted(items, key=item_key)  # a second pass reads the same


def test_runs_of_several_logs_merge_as_one(tmp_path: Path) -> None:
    items = _items(300)
    parent = ItemLog(memory_items=50, spill_dir=tmp_path)
    for part in (items[:100], items[100:220], items[220:]):
        worker = ItemLog(memory_items=40, spill_dir=tmp_path)
        for it in part:
            worker.add(it)
        parent.absorb_runs(*worker.export_runs())
    stream = parent.finish()
    assert b"".join(stream.chunks()) == b"".join(ItemStream.of(items).chunks())
    assert [p.name for p in tmp_path.iterdir()] == [stream.path.name] if stream.path else []


def test_a_spilled_stream_removes_its_directory_when_closed() -> None:
    log = ItemLog(memory_items=2)
    for it in _items(5):
        log.add(it)
    stream = log.finish()
    assert stream.path is not None and stream.path.exists()
    directory = stream.path.parent
    stream.close()
    assert not directory.exists()


def test_an_evaluation_that_spills_writes_the_same_items_jsonl() -> None:
    from patchpolicy.evaluator import Evaluator
    from patchpolicy.loader import load_bundle
    from patchpolicy.snapshot import open_snapshot

    root = Path(__file__).resolve().parents[2] / "examples"
    bundle = load_bundle([root / "policies"])
    snap = open_snapshot(root / "fleet.json")
    hosts = list(snap.hosts())
    out = []
    for memory_items in (2, 100_000):
        ev = Evaluator(bundle, snap.header.taken_at, item_log=ItemLog(memory_items=memory_items))
        ev.add_hosts(hosts)
        result = ev.finish(snap.header.taken_at)
        assert result.items.spilled == (memory_items == 2)
        out.append((b"".join(result.items.chunks()), result.items.sha256))
    assert out[0] == out[1] and out[0][0].count(b"\n") == 22


def test_batches_and_the_digest_taken_while_merging_agree_with_the_bytes() -> None:
    # More items than one write batch (4,096): batch edges must not change a byte.
    items = _items(10_000)
    one_by_one = b"".join(msgspec.json.encode(i) + b"\n" for i in sorted(items, key=item_key))
    assert b"".join(ItemStream.of(items).chunks()) == one_by_one
    log = ItemLog(memory_items=3_000)
    for it in reversed(items):
        log.add(it)
    stream = log.finish()
    assert stream.spilled and stream.path is not None
    on_disk = stream.path.read_bytes()
    assert on_disk == one_by_one
    assert stream.sha256 == hashlib.sha256(on_disk).hexdigest()
    assert stream.size == len(on_disk)
