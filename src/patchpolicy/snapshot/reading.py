"""Open a snapshot once: a path or ``-``, refused early when it is plainly not JSON text; a
document read and decoded whole, a JSON Lines header decoded (a pipe spooled to a
temporary file, to be read again); ``no_gc`` for bulk decoding."""

from __future__ import annotations

import gc
import hashlib
import os
import stat
import sys
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import msgspec

from patchpolicy.errors import SnapshotError
from patchpolicy.model.fleet import SnapshotDocument, SnapshotHeader
from patchpolicy.snapshot import limits
from patchpolicy.snapshot.limits import STDIN, is_jsonl
from patchpolicy.snapshot.source import SnapshotSource
from patchpolicy.snapshot.strict import BOM, SHADOW_DOC, SHADOW_HEADER, Unit, too_long

_HEADER_DECODER = msgspec.json.Decoder(SnapshotHeader)
_DOC_DECODER = msgspec.json.Decoder(SnapshotDocument)
_CHUNK = 1 << 20


def _open_input(path: Path) -> tuple[str, IO[bytes], bool]:
    """(name for messages, binary stream, is a regular file) of a snapshot path or ``-``."""
    if str(path) == STDIN:
        stream = sys.stdin.buffer
        if stream.isatty():
            raise SnapshotError("<stdin>: standard input is a terminal: pipe a snapshot in")
        try:
            regular = stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        except (OSError, ValueError):
            regular = False
        return "<stdin>", stream, regular
    name = str(path)
    try:
        st = path.stat()
    except OSError as e:
        raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
    mode = st.st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a character device"
                if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise SnapshotError(f"{name}: is {kind}: a snapshot must be a regular file, a pipe, "
                            "or - for standard input")
    try:
        f = path.open("rb")
    except OSError as e:
        raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
    return name, f, stat.S_ISREG(mode)


def _sniff(name: str, first: bytes) -> None:
    """Refuse, by their first bytes, inputs that are plainly not JSON text."""
    if not first:
        raise SnapshotError(f"{name}: empty file: a snapshot is a JSON document or JSON Lines")
    if first.startswith(b"\x1f\x8b"):
        raise SnapshotError(f"{name}: gzip-compressed: decompress it first "
                            f"(gunzip -c {name} | patchpolicy ... -s -)")



def open_snapshot(path: str | Path, *, retain_hosts: bool = False) -> SnapshotSource:
    """Open a snapshot (a path, or ``-`` for standard input) and check its header.

    A ``.json`` document is read and decoded whole, once; JSON Lines hosts are decoded
    when iterated (a pipe is first copied to a temporary file, so it too can be read
    again). ``retain_hosts`` keeps the hosts of the first JSON Lines pass in memory, so
    that later passes (the planner) see the very records that were evaluated.
    """
    p = Path(path)
    name, stream, regular = _open_input(p)
    try:
        return _open(p, name, stream, regular, retain_hosts)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def read_whole(path: str | Path, data: bytes | None = None) -> tuple[int, int]:
    """Read a snapshot to its end exactly as ``check`` does (same reader, same messages):
    (hosts, findings). ``data``: the bytes of a JSON document already read (``validate -``).
    Raises SnapshotError at the first problem."""
    source = (_document_source(str(path), data, "") if data is not None
              else open_snapshot(path))
    hosts = findings = 0
    for host in source.hosts():
        hosts += 1
        findings += len(host.findings)
    return hosts, findings


def _open(p: Path, name: str, stream: IO[bytes], regular: bool, retain_hosts: bool) -> SnapshotSource:
    try:
        first = stream.readline(limits.MAX_HEADER_BYTES + 1)
    except OSError as e:
        raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
    _sniff(name, first)
    if is_jsonl(p):
        jsonl = True
    elif p.suffix.lower() == ".json":
        jsonl = False
    else:  # standard input, a pipe or an unknown suffix: line 1 alone is a header?
        jsonl = first.rstrip().endswith(b"}") and _is_header_line(first)
    if not jsonl:
        return _open_document(name, stream, first, regular)
    return _open_jsonl(name, p, stream, first, regular, retain_hosts)


def _is_header_line(first: bytes) -> bool:
    try:
        obj = msgspec.json.decode(first.removeprefix(BOM))
    except msgspec.DecodeError:
        return False
    return isinstance(obj, dict) and "hosts" not in obj


def _open_document(name: str, stream: IO[bytes], first: bytes, regular: bool) -> SnapshotSource:
    h = hashlib.sha256(first)
    parts = [first]
    size = len(first)
    if first.removeprefix(BOM).lstrip(b" \t\r\n")[:1] not in (b"{", b""):
        # Not a JSON object: say why from what is here, without reading an endless stream.
        _decode_document(name, first)
    if regular and stream.seekable():
        # One buffer of the whole file, not chunks joined (half the peak memory).
        try:
            stream.seek(0)
            data = stream.read(limits.MAX_DOCUMENT_BYTES + 1)
        except OSError as e:
            raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
        if len(data) > limits.MAX_DOCUMENT_BYTES:
            raise too_long(Unit(name, data), limits.MAX_DOCUMENT_BYTES, "a single-document snapshot")
        return _document_source(name, data, hashlib.sha256(data).hexdigest())
    try:
        while chunk := stream.read(_CHUNK):
            h.update(chunk)
            parts.append(chunk)
            size += len(chunk)
            if size > limits.MAX_DOCUMENT_BYTES:
                raise too_long(Unit(name, b"".join(parts)), limits.MAX_DOCUMENT_BYTES,
                                "a single-document snapshot")
    except OSError as e:
        raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
    return _document_source(name, b"".join(parts), h.hexdigest())


def _document_source(name: str, data: bytes, digest: str) -> SnapshotSource:
    doc = _decode_document(name, data)
    header = SnapshotHeader(
        apiVersion=doc.apiVersion, kind=doc.kind, taken_at=doc.taken_at, source=doc.source
    )
    return SnapshotSource(name, header, streaming=False, doc=doc, sha256=digest,
                          size=len(data), file=None)


def _decode_document(name: str, data: bytes) -> SnapshotDocument:
    unit = Unit(name, data)
    try:
        with no_gc():
            doc = _DOC_DECODER.decode(unit.body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise unit.decode_error(e) from e
    unit.check_duplicates(SHADOW_DOC)
    return doc


def _open_jsonl(name: str, p: Path, stream: IO[bytes], first: bytes, regular: bool,
                retain: bool) -> SnapshotSource:
    unit = Unit(name, first, 1)
    if len(first) > limits.MAX_HEADER_BYTES and not first.endswith(b"\n"):
        raise too_long(unit, limits.MAX_HEADER_BYTES, "line 1: the header")
    if not unit.body.strip():
        raise SnapshotError(f"{name}:1: empty snapshot: line 1 must be the header")
    try:
        header = _HEADER_DECODER.decode(unit.body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise unit.decode_error(e) from e
    unit.check_duplicates(SHADOW_HEADER)
    if regular and str(p) != STDIN:
        # Each pass opens the file again; the digests of the passes prove the bytes equal.
        return SnapshotSource(name, header, streaming=True, header_line=first, file=p,
                              retain=retain)
    # A pipe: copy it once into an unnamed temporary file that later passes can re-read.
    spool = tempfile.TemporaryFile(prefix="patchpolicy-snapshot-")  # noqa: SIM115 - lives with the source
    try:
        spool.write(first)
        while chunk := stream.read(_CHUNK):
            spool.write(chunk)
    except OSError as e:
        spool.close()
        raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
    source = SnapshotSource(name, header, streaming=True, stream=spool, header_line=first,
                            file=None, retain=retain)
    weakref.finalize(source, spool.close)
    return source



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
