"""Read and write fleet snapshots: one JSON document, or JSON Lines for large fleets.

JSON Lines (``.jsonl``): line 1 is the header (the document without ``hosts``), each
further line one host. Reading streams one host at a time, so memory does not grow with
the fleet. Decoding uses msgspec typed structs (validated in C); errors name the file,
the line (for JSON Lines) and the JSON path.
"""

from __future__ import annotations

import gc
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import msgspec

from patchpolicy.errors import OutputError, SnapshotError
from patchpolicy.model.fleet import (
    CriticalityName,
    ExposureName,
    HostRecord,
    SeverityName,
    SnapshotDocument,
    SnapshotHeader,
    StatusName,
)

_ENUMS: dict[str, tuple[str, ...]] = {
    "severity": get_args(SeverityName),
    "status": get_args(StatusName),
    "criticality": get_args(CriticalityName),
    "exposure": get_args(ExposureName),
}
_HEADER_DECODER = msgspec.json.Decoder(SnapshotHeader)
_HOST_DECODER = msgspec.json.Decoder(HostRecord)
_DOC_DECODER = msgspec.json.Decoder(SnapshotDocument)
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True)
class SnapshotSource:
    """An opened snapshot: its header, a digest of its bytes, and its hosts (lazily)."""

    path: Path
    header: SnapshotHeader
    sha256: str
    size: int
    streaming: bool

    def hosts(self) -> Iterator[HostRecord]:
        """Yield every host in file order; raises SnapshotError at the first bad one."""
        if self.streaming:
            yield from _iter_jsonl_hosts(self.path)
        else:
            yield from _read_document(self.path).hosts


def _msg(path: Path, err: msgspec.DecodeError | msgspec.ValidationError, line: int | None) -> str:
    text = str(err)
    # msgspec says "... - at `$.findings[3].severity`": put the JSON path first.
    where = ""
    if " - at `" in text:
        text, _, at = text.partition(" - at `")
        where = at.rstrip("`") + ": "
    place = f"{path}:{line}" if line is not None else str(path)
    if text.startswith("Invalid enum value") and where:
        # msgspec does not say what it expected: name the allowed values of the field.
        field = where.rstrip(": ").rsplit(".", 1)[-1]
        allowed = _ENUMS.get(field)
        if allowed:
            text += f" (expected one of {', '.join(allowed)})"
    return f"{place}: {where}{text[0].lower()}{text[1:]}" if text else f"{place}: {where}invalid"


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")


def _sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def open_snapshot(path: str | Path) -> SnapshotSource:
    """Open a snapshot and check its header; hosts are decoded when iterated."""
    p = Path(path)
    try:
        digest, size = _sha256(p)
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read snapshot: {e.strerror or e}") from e
    if _is_jsonl(p):
        with p.open("rb") as f:
            first = f.readline()
        if not first.strip():
            raise SnapshotError(f"{p}:1: empty snapshot: line 1 must be the header")
        try:
            header = _HEADER_DECODER.decode(first)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise SnapshotError(_msg(p, e, 1)) from e
        return SnapshotSource(p, header, digest, size, streaming=True)
    doc = _read_document(p)
    header = SnapshotHeader(
        apiVersion=doc.apiVersion, kind=doc.kind, taken_at=doc.taken_at, source=doc.source
    )
    return SnapshotSource(p, header, digest, size, streaming=False)


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic GC around bulk work.

    It costs 25-45% of bulk decode and evaluation time, and msgspec structs, items and
    counters hold no reference cycles, so nothing is left for it to collect.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_DOC_CACHE: dict[tuple[str, int, int], SnapshotDocument] = {}


def _read_document(p: Path) -> SnapshotDocument:
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read snapshot: {e.strerror or e}") from e
    cached = _DOC_CACHE.get(key)
    if cached is not None:
        return cached
    try:
        data = p.read_bytes()
    except OSError as e:
        raise SnapshotError(f"{p}: cannot read snapshot: {e.strerror or e}") from e
    try:
        with no_gc():
            doc = _DOC_DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise SnapshotError(_msg(p, e, None)) from e
    # One document is decoded once per process even though open + iterate both need it.
    _DOC_CACHE.clear()
    _DOC_CACHE[key] = doc
    return doc


def _iter_jsonl_hosts(p: Path) -> Iterator[HostRecord]:
    decode = _HOST_DECODER.decode
    with p.open("rb") as f:
        f.readline()
        for lineno, line in enumerate(f, start=2):
            if not line.strip():
                continue
            try:
                yield decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise SnapshotError(_msg(p, e, lineno)) from e


def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write to a temp file beside ``path`` and rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputError(f"{path}: cannot write: {e.strerror or e}") from e
        raise


def write_snapshot(path: str | Path, header: SnapshotHeader, hosts: Iterable[HostRecord]) -> None:
    """Write a snapshot atomically; ``.jsonl`` streams one host per line.

    Output is canonical (msgspec field order, compact), so the same records give the
    same bytes.
    """
    p = Path(path)
    if _is_jsonl(p):

        def lines() -> Iterator[bytes]:
            yield _ENCODER.encode(header) + b"\n"
            for host in hosts:
                yield _ENCODER.encode(host) + b"\n"

        atomic_write(p, lines())
        return
    doc = SnapshotDocument(
        apiVersion=header.apiVersion,
        kind=header.kind,
        taken_at=header.taken_at,
        source=header.source,
        hosts=tuple(hosts),
    )
    atomic_write(p, [msgspec.json.format(_ENCODER.encode(doc), indent=1), b"\n"])
