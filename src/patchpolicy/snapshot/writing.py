"""Write a snapshot atomically (write aside, then rename): canonical JSON, or JSON Lines
(one host a line) for ``.jsonl`` and standard output."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec

from patchpolicy.errors import OutputError
from patchpolicy.model.fleet import HostRecord, SnapshotDocument, SnapshotHeader
from patchpolicy.snapshot.limits import STDIN, is_jsonl

_ENCODER = msgspec.json.Encoder()


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
    """Write a snapshot atomically; ``.jsonl`` streams one host per line, and so does
    ``-`` (standard output, for a pipe into ``check -s -``).

    Output is canonical (msgspec field order, compact), so the same records give the
    same bytes.
    """
    p = Path(path)

    def lines() -> Iterator[bytes]:
        yield _ENCODER.encode(header) + b"\n"
        for host in hosts:
            yield _ENCODER.encode(host) + b"\n"

    if str(p) == STDIN:
        out = sys.stdout.buffer
        for chunk in lines():
            out.write(chunk)
        out.flush()
        return
    if is_jsonl(p):
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

