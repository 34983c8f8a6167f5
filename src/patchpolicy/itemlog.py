"""The items of one evaluation in bounded memory: what becomes ``items.jsonl``.

An evaluation of 10^6 findings judges 10^6 items per policy; holding them all as objects
costs gigabytes. ``ItemLog`` takes items in any order and keeps up to ``memory_items`` of
them as objects; past that it sorts what it holds and writes it to disk as a run of JSON
lines, and ``finish`` merges the runs into one file sorted by (policy, host, finding), the
order of ``items.jsonl``. That order is total (an evaluation never judges one key twice),
so the bytes are the same whatever the number of runs, the memory limit or the number of
worker processes that wrote runs.

``ItemStream`` is the finished log: iterable as often as the renderers need (each pass
decodes from the file), with its count, its JSON Lines bytes and their digest. It owns the
temporary directory of the runs and removes it when closed or collected.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from patchpolicy.model.results import Item
from patchpolicy.spill import RunFiles

__all__ = ["DEFAULT_MEMORY_ITEMS", "ItemLog", "ItemStream", "item_key"]

DEFAULT_MEMORY_ITEMS = 100_000
"""Items an ``ItemLog`` keeps as objects before it spills a sorted run (~100-150 MB)."""

_ENCODER = msgspec.json.Encoder()  # a Struct encodes its fields in declaration order
_ENCODE_LINES = _ENCODER.encode_lines
_BATCH = 4096
"""Lines encoded or written at once: one write call per batch, not per item."""
_DECODE = msgspec.json.Decoder(Item).decode
_CHUNK = 1 << 20


class _Key(msgspec.Struct):
    policy: str
    host: str
    finding: str


_DECODE_KEY = msgspec.json.Decoder(_Key).decode


def item_key(item: Item) -> tuple[str, str, str]:
    """The order of ``items.jsonl``: (policy, host, finding)."""
    return (item.policy, item.host, item.finding)


def _line_key(line: bytes) -> tuple[str, str, str]:
    k = _DECODE_KEY(line)
    return (k.policy, k.host, k.finding)


class ItemLog(RunFiles):
    """Collects items in any order, in bounded memory; ``finish`` gives them sorted."""

    def __init__(self, *, memory_items: int = DEFAULT_MEMORY_ITEMS, spill_dir: Path | None = None) -> None:
        super().__init__(spill_dir=spill_dir, prefix="items")
        self.memory_items = max(1, memory_items)
        self._items: list[Item] = []

    def add(self, item: Item) -> None:
        self._items.append(item)
        self.count += 1
        if len(self._items) >= self.memory_items:
            self._spill()

    def _drop_held(self) -> None:
        self._items = []

    def _spill(self) -> None:
        if not self._items:
            return
        self._items.sort(key=item_key)
        fd, _ = self._new_run(".jsonl")
        items = self._items
        with os.fdopen(fd, "wb", buffering=_CHUNK) as fh:
            for start in range(0, len(items), _BATCH):
                fh.write(_ENCODE_LINES(items[start:start + _BATCH]))
        self._items = []

    def finish(self) -> ItemStream:
        """The items, sorted; memory-only when nothing was spilled."""
        if not self._runs:
            self._items.sort(key=item_key)
            stream = ItemStream(items=self._items, count=self.count)
            self._remove_own_dir()
            self._items = []
            return stream
        self._spill()
        directory = self.run_directory()
        owned = self._own_dir
        fd, name = tempfile.mkstemp(prefix="items-", suffix=".jsonl", dir=directory)
        files = [path.open("rb", buffering=_CHUNK) for path in self._runs]
        digest, size = hashlib.sha256(), 0
        try:
            with os.fdopen(fd, "wb") as out:
                merged = heapq.merge(*(iter(f) for f in files), key=_line_key)
                for batch in iter(lambda: list(itertools.islice(merged, _BATCH)), []):
                    data = b"".join(batch)
                    out.write(data)
                    digest.update(data)  # the digest as it is written: no second read
                    size += len(data)
        finally:
            for f in files:
                f.close()
            self._remove_runs()
        return ItemStream(path=Path(name), count=self.count, owned_dir=directory if owned else None,
                          sha256=digest.hexdigest(), size=size)


class ItemStream:
    """The sorted items of a finished evaluation, in memory or in a JSON Lines file."""

    def __init__(
        self,
        *,
        items: list[Item] | None = None,
        path: Path | None = None,
        count: int | None = None,
        owned_dir: Path | None = None,
        sha256: str | None = None,
        size: int | None = None,
    ) -> None:
        self._items = items
        self.path = path
        self._count = count if count is not None else len(items or ())
        self._sha256: str | None = sha256
        self._size: int | None = size
        self._finalizer = (
            weakref.finalize(self, shutil.rmtree, owned_dir, True) if owned_dir is not None else None
        )

    @classmethod
    def of(cls, items: Iterable[Item]) -> ItemStream:
        """A stream of ``items`` held in memory, sorted into the log's order."""
        return cls(items=sorted(items, key=item_key))

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __iter__(self) -> Iterator[Item]:
        if self._items is not None:
            return iter(self._items)
        return self._decode()

    def _decode(self) -> Iterator[Item]:
        assert self.path is not None
        with self.path.open("rb", buffering=_CHUNK) as fh:
            for line in fh:
                yield _DECODE(line)

    @property
    def spilled(self) -> bool:
        """True when the items live in a file, not as objects."""
        return self._items is None

    def chunks(self) -> Iterator[bytes]:
        """The bytes of ``items.jsonl``: one JSON object per line, in key order."""
        if self._items is not None:
            items = self._items
            for start in range(0, len(items), _BATCH):
                yield _ENCODE_LINES(items[start:start + _BATCH])
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                yield chunk

    def _digest(self) -> None:
        h = hashlib.sha256()
        size = 0
        for chunk in self.chunks():
            h.update(chunk)
            size += len(chunk)
        self._sha256, self._size = h.hexdigest(), size

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._digest()
        assert self._sha256 is not None
        return self._sha256

    @property
    def size(self) -> int:
        if self._size is None:
            self._digest()
        assert self._size is not None
        return self._size

    def close(self) -> None:
        """Remove the spilled file now (it is removed at collection otherwise)."""
        if self._finalizer is not None:
            self._finalizer()
