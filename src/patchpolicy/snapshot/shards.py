"""A snapshot in shards: several JSON Lines files, or a directory of them, read as one.

Each shard is a JSON Lines snapshot of its own (line 1 its header, each further line one
host). A directory means its ``*.jsonl`` and ``*.ndjson`` files in the byte order of their
names (``LC_ALL=C ls``), hidden files and subdirectories aside; files given one by one are
read in the order given. The shards must agree on their header (``taken_at`` the same
instant, ``source`` the same tool and version): a later shard whose line 1 differs is an
error at that field. The hosts are those of every shard, in that order, as if the shards
were one file; a host id in two shards is the duplicate a single file would have.

The digest recorded for the snapshot (``inputs.snapshot.sha256``) is of the shards' bytes
one after another (``cat`` of the files in order), its size their total; each shard's own
path, digest and size is recorded too (``inputs.snapshot.shards``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from patchpolicy.errors import SnapshotError
from patchpolicy.model.fleet import HostRecord
from patchpolicy.snapshot.limits import STDIN, is_jsonl
from patchpolicy.snapshot.source import SnapshotSource
from patchpolicy.snapshot.strict import Unit, _walk

__all__ = ["ShardedSource", "duplicate_host_message", "open_snapshots", "shard_files"]

#: Names of shards that must be decompressed first: refused, never silently left out.
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


class ShardedSource(SnapshotSource):
    """A snapshot read from several JSON Lines files (its ``shards``, in order)."""

    def __init__(self, name: str, shards: tuple[SnapshotSource, ...], *,
                 retain: bool = False) -> None:
        super().__init__(name, shards[0].header, streaming=True, file=None, retain=retain)
        self.shards = shards

    @property
    def parts(self) -> tuple[SnapshotSource, ...]:
        return self.shards

    @property
    def places(self) -> str:
        return ", ".join(s.name for s in self.shards)

    def _known_size(self) -> int:
        return sum(s.size for s in self.shards)

    @property
    def header_end(self) -> int:
        raise ValueError("a sharded snapshot has one header per shard: read parts[i].header_end")

    def hosts(self) -> Iterator[HostRecord]:
        if self._retained is not None:
            yield from self._retained
            return
        whole = hashlib.sha256()
        keep: list[HostRecord] | None = [] if self._retain else None
        done = 0
        for shard in self.shards:
            shard.on_host = self._relay(done)
            try:
                for host in shard._stream_hosts(whole):
                    if keep is not None:
                        keep.append(host)
                    yield host
            finally:
                shard.on_host = None
            done += shard.size
        self._end_pass(whole.hexdigest(), done, keep, f"{self.places}: changed while it was being "
                       "read (the digest of the shards differs between two passes)")

    def _relay(self, before: int) -> Callable[[int, int], None] | None:
        """The progress callback of one shard: positions past the shards before it."""
        outer = self.on_host
        if outer is None:
            return None
        return lambda position, findings: outer(before + position, findings)


def shard_files(paths: Sequence[str | Path]) -> list[Path]:
    """The shard files of ``paths`` (files, and directories of ``*.jsonl``), in order;
    SnapshotError for standard input, a directory without shards, or a file twice."""
    out: list[Path] = []
    for given in paths:
        p = Path(given)
        if str(given) == STDIN:
            raise SnapshotError("<stdin>: standard input cannot be one of several snapshot "
                                "files: give the shards as files or a directory")
        out.extend(_directory_shards(p) if p.is_dir() else [p])
    seen: dict[tuple[int, int], Path] = {}
    for p in out:
        try:
            st = p.stat()
        except OSError as e:
            raise SnapshotError(f"{p}: cannot read snapshot: {e.strerror or e}") from e
        first = seen.setdefault((st.st_dev, st.st_ino), p)
        if first is not p:
            also = "" if str(first) == str(p) else f" (as {first})"
            raise SnapshotError(f"{p}: given twice{also} (a shard read twice would judge its "
                                "hosts twice)")
    return out


def _directory_shards(d: Path) -> list[Path]:
    try:
        names = sorted(e.name for e in os.scandir(d) if not e.name.startswith("."))
    except OSError as e:
        raise SnapshotError(f"{d}: cannot read snapshot directory: {e.strerror or e}") from e
    shards = []
    for name in names:
        p = d / name
        if is_jsonl(Path(name)) and not p.is_dir():
            shards.append(p)
        elif name.lower().endswith(_COMPRESSED) and is_jsonl(Path(name).with_suffix("")):
            raise SnapshotError(f"{p}: a compressed shard: decompress it first (a directory "
                                "of shards is read as *.jsonl files)")
    if not shards:
        raise SnapshotError(f"{d}: no JSON Lines shards (*.jsonl, *.ndjson) in this directory")
    return shards


def open_snapshots(paths: Sequence[str | Path], *, retain_hosts: bool = False) -> SnapshotSource:
    """Open the snapshot the ``-s`` values name: one file (or ``-``) as ``open_snapshot``
    does, else the shards of several files or directories as one ``ShardedSource``."""
    from patchpolicy.snapshot.reading import open_snapshot

    if not paths:
        raise SnapshotError("no snapshot given")
    if len(paths) == 1 and (str(paths[0]) == STDIN or not Path(paths[0]).is_dir()):
        return open_snapshot(paths[0], retain_hosts=retain_hosts)
    shards = tuple(_open_shard(p) for p in shard_files(paths))
    for shard in shards[1:]:
        _check_header(shards[0], shard)
    name = str(paths[0]) if len(paths) == 1 else ", ".join(str(p) for p in paths)
    return ShardedSource(name, shards, retain=retain_hosts)


def _open_shard(path: Path) -> SnapshotSource:
    from patchpolicy.snapshot.reading import open_snapshot

    shard = open_snapshot(path)
    if not shard.streaming:
        raise SnapshotError(f"{path}: a JSON document cannot be a shard: shards are JSON "
                            "Lines (.jsonl; line 1 the header, then one host a line)")
    if shard.file is None:
        raise SnapshotError(f"{path}: a shard must be a regular file")
    return shard


def _check_header(first: SnapshotSource, shard: SnapshotSource) -> None:
    """A later shard's header must say what the first one's says."""
    a, b = first.header, shard.header
    fields: list[tuple[str, Any, Any]] = [
        ("taken_at", a.taken_at, b.taken_at),
        ("source", a.source, b.source),
    ]
    for field, want, got in fields:
        if want == got:
            continue
        unit = Unit(shard.name, shard._header_line, 1)
        found = _walk(unit.body, f"$.{field}")
        offset = found[1] if found is not None and found[0] == "at" else 0
        raise unit.error(offset, f"$.{field}: {_shown(got)} differs from {_shown(want)} in "
                         f"{first.name} line 1: the shards of one snapshot share their header "
                         "(taken_at and source)")


def _shown(value: Any) -> str:
    return "absent" if value is None else msgspec.json.encode(value).decode()


class _HostId(msgspec.Struct):
    id: str


def duplicate_host_message(snapshot: SnapshotSource) -> str | None:
    """Where the first host id that repeats is, in file order: ``place: duplicate host id
    'x' (first at place)``; None if none repeats or the snapshot was a pipe (read again:
    only on the error path)."""
    if not snapshot.streaming:  # a document, held whole: the JSON paths of both
        index: dict[str, int] = {}
        for i, host in enumerate(snapshot.hosts()):
            if host.id in index:
                return (f"{snapshot.name}: $.hosts[{i}].id: duplicate host id {host.id!r} "
                        f"(first at $.hosts[{index[host.id]}])")
            index[host.id] = i
        return None
    decode = msgspec.json.Decoder(_HostId).decode
    seen: dict[str, tuple[str, int]] = {}
    for part in snapshot.parts:
        assert part.file is not None
        with part.file.open("rb") as f:
            f.readline()
            for lineno, line in enumerate(f, 2):
                if not line.strip():
                    continue
                try:
                    host_id = decode(line).id
                except (msgspec.DecodeError, msgspec.ValidationError):
                    continue
                if host_id in seen:
                    unit = Unit(part.name, line, lineno)
                    found = _walk(unit.body, "$.id")
                    place = unit.place(found[1] if found is not None and found[0] == "at" else 0)
                    name, first = seen[host_id]
                    where = f"line {first}" if name == part.name else f"{name}:{first}"
                    return f"{place}: $.id: duplicate host id {host_id!r} (first at {where})"
                seen[host_id] = (part.name, lineno)
    return None
