"""Read and write fleet snapshots: one JSON document, or JSON Lines for large fleets.

JSON Lines (``.jsonl``): line 1 is the header (the document without ``hosts``), each
further line one host. Reading streams one host at a time, so memory does not grow with
the fleet. Decoding uses msgspec typed structs (validated in C).

Every input is read once: the bytes decoded are the bytes hashed into the digest that the
evidence records. Errors name the file, the line and column and, where known, the JSON
path; duplicate keys are errors at the second key (see ``_shadow``). Limits: a header (or
one JSON Lines record) of ``MAX_HEADER_BYTES`` (``MAX_RECORD_BYTES``), a single document
of ``MAX_DOCUMENT_BYTES``; only regular files, pipes and standard input (``-``) are read.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import types
import typing
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any, get_args

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

#: Line 1 of a JSON Lines snapshot may be at most this long.
MAX_HEADER_BYTES = 1 << 20
#: One JSON Lines host record (one line) may be at most this long.
MAX_RECORD_BYTES = 64 << 20
#: A single-document (``.json``) snapshot may be at most this long; use JSON Lines beyond.
MAX_DOCUMENT_BYTES = 1 << 30

STDIN = "-"
"""The snapshot path that means standard input."""

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
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20


# ---------------------------------------------------------------- duplicate keys
#
# msgspec keeps the last of two equal keys without a word. Detecting duplicates exactly
# in Python costs several times the decode, so a C-speed test runs first: each unit (the
# document, or one JSON Lines line) is decoded again into "shadow" structs whose leaves
# are ``msgspec.Raw`` (copied verbatim) and whose fields default to UNSET (so absent keys
# stay absent), then re-encoded. The re-encoding holds every key once, each followed by
# one ``:``, and every kept value with exactly its original colons; a dropped duplicate
# takes at least its own ``:`` with it. So equal ``:`` counts prove there is no duplicate.
# ``\u003a`` (an escaped colon, which a re-encoded dict key would spell ``:``) is the one
# spelling that breaks the count: such units, and units that fail the test, go to the
# exact scanner ``_walk``, which also finds the second key's position.


def _shadow_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is Annotated:
        return _shadow_type(args[0])
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        inner = _shadow_type(args[0])
        return inner if inner is msgspec.Raw else inner | None
    if origin is tuple:
        inner = _shadow_type(args[0])
        return msgspec.Raw if inner is msgspec.Raw else tuple[inner, ...]  # type: ignore[valid-type]
    if origin is dict:
        return dict[str, msgspec.Raw]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _shadow(tp)
    return msgspec.Raw


def _shadow(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = [
        (name, _shadow_type(hints[name]) | msgspec.UnsetType, msgspec.UNSET)
        for name in cls.__struct_fields__
    ]
    return msgspec.defstruct(f"_Shadow{cls.__name__}", fields)


# The document's hosts stay raw at first, so the test holds one host's shadow at a time.
_SHADOW_DOC = msgspec.json.Decoder(
    msgspec.defstruct(
        "_ShadowDocumentTop",
        [
            (name, (tuple[msgspec.Raw, ...] if name == "hosts" else msgspec.Raw)
             | msgspec.UnsetType, msgspec.UNSET)
            for name in SnapshotDocument.__struct_fields__
        ],
    )
)
_SHADOW_HEADER = msgspec.json.Decoder(_shadow(SnapshotHeader))
_SHADOW_HOST = msgspec.json.Decoder(_shadow(HostRecord))
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")


def _may_repeat(unit: bytes, shadow: msgspec.json.Decoder[Any]) -> bool:
    """False only when ``unit`` (valid JSON of the shadow's shape) has no duplicate key."""
    if _ESCAPED_COLON.search(unit):
        return True
    top = shadow.decode(unit)
    if unit.count(b":") != _ENCODER.encode(top).count(b":"):
        return True
    hosts: Any = getattr(top, "hosts", ()) if shadow is _SHADOW_DOC else ()
    return any(_may_repeat(bytes(h), _SHADOW_HOST) for h in hosts or ())


# ---------------------------------------------------------------- positions


_WS = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(rb"-?[0-9][0-9.eE+-]*|true|false|null")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def _walk(buf: bytes, target: str | None = None) -> tuple[str, int, str] | None:
    """Scan the (valid) JSON value ``buf`` once, iteratively.

    Returns ``("duplicate", offset of the second key, its JSON path)`` at the first
    repeated key, ``("at", offset, path)`` where the value at JSON path ``target`` starts
    (a msgspec path: ``$.hosts[1].id``; dict entries ``[...]`` match their dict), or None.
    """
    if target is not None:
        target = target.split("[...]", 1)[0]
    stack: list[tuple[str, set[str] | None, int]] = []  # path, keys seen (None: array), index
    pos = _WS.match(buf, 0).end()  # type: ignore[union-attr]
    path = "$"
    at = pos
    while True:
        # A value starts at ``pos``; ``at`` is where to point for it (its key, in objects).
        if target is not None and path == target:
            return ("at", at, path)
        c = buf[pos : pos + 1]
        if c == b"{" or c == b"[":
            pos = _WS.match(buf, pos + 1).end()  # type: ignore[union-attr]
            if buf[pos : pos + 1] in (b"}", b"]"):
                pos += 1
            else:
                stack.append((path, set() if c == b"{" else None, 0))
                if c == b"{":
                    m = _STRING.match(buf, pos)
                    if m is None:
                        return None
                    key = json.loads(m.group())
                    stack[-1][1].add(key)  # type: ignore[union-attr]
                    at, path = pos, _child(stack[-1][0], key)
                    pos = _WS.match(buf, m.end()).end() + 1  # type: ignore[union-attr]
                    pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
                else:
                    at, path = pos, f"{stack[-1][0]}[0]"
                continue
        else:
            m = _STRING.match(buf, pos) if c == b'"' else _SCALAR.match(buf, pos)
            if m is None:
                return None
            pos = m.end()
        # After a value: close containers, or move to the next member.
        while True:
            if not stack:
                return None
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            c = buf[pos : pos + 1]
            if c != b",":
                if c not in (b"}", b"]"):
                    return None
                stack.pop()
                pos += 1
                continue
            pos = _WS.match(buf, pos + 1).end()  # type: ignore[union-attr]
            parent, seen, index = stack[-1]
            if seen is None:
                stack[-1] = (parent, None, index + 1)
                at, path = pos, f"{parent}[{index + 1}]"
            else:
                m = _STRING.match(buf, pos)
                if m is None:
                    return None
                key = json.loads(m.group())
                if key in seen:
                    return ("duplicate", pos, _child(parent, key))
                seen.add(key)
                at, path = pos, _child(parent, key)
                pos = _WS.match(buf, m.end()).end() + 1  # type: ignore[union-attr]
                pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            break


def _line_col(buf: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters; a leading BOM does not count) of a byte."""
    offset = max(0, min(offset, len(buf)))
    start = buf.rfind(b"\n", 0, offset) + 1
    prefix = buf[start:offset]
    if start == 0 and prefix.startswith(_BOM):
        prefix = prefix[len(_BOM) :]
    return buf.count(b"\n", 0, offset) + 1, len(prefix.decode("utf-8", "replace")) + 1


class _Unit:
    """One decoded unit: the whole document, or one JSON Lines line (``line`` > 0)."""

    def __init__(self, name: str, buf: bytes, line: int = 0) -> None:
        self.name = name
        self.buf = buf
        self.line = line
        # A UTF-8 BOM opening the file is read (as YAML's is); offsets are in ``body``.
        self.skip = len(_BOM) if line <= 1 and buf.startswith(_BOM) else 0
        self.body = buf[self.skip :] if self.skip else buf

    def place(self, offset: int) -> str:
        ln, col = _line_col(self.buf, offset + self.skip)
        return f"{self.name}:{ln + max(self.line - 1, 0)}:{col}"

    def error(self, offset: int, message: str) -> SnapshotError:
        return SnapshotError(f"{self.place(offset)}: {message}")

    def check_duplicates(self, shadow: msgspec.json.Decoder[Any]) -> None:
        """Raise at the second of two equal keys in one object (see ``_may_repeat``)."""
        if not _may_repeat(self.body, shadow):
            return
        found = _walk(self.body)
        if found is not None and found[0] == "duplicate":
            _, offset, path = found
            raise self.error(
                offset,
                f"{path}: duplicate key {json.dumps(_last_key(path))} (the later value would "
                "silently replace the earlier one)",
            )

    def decode_error(self, err: msgspec.DecodeError | msgspec.ValidationError) -> SnapshotError:
        text = str(err)
        nul = self.body.find(b"\x00")
        if not isinstance(err, msgspec.ValidationError):  # a subclass of DecodeError
            m = re.search(r" \(byte (\d+)\)$", text)
            offset = int(m.group(1)) if m else len(self.body)
            if 0 <= nul <= offset:
                return self.error(nul, "NUL byte: binary data, not JSON text")
            if m is None:
                if not self.body.strip():
                    return self.error(0, "empty: no JSON document")
                return self.error(len(self.body.rstrip()), "malformed JSON: the input ends in the "
                                  "middle of a value (truncated?)")
            text = text[: m.start()]
            rest = self.body[offset : offset + 9]
            if rest.startswith((b"NaN", b"Infinity", b"-Infinity")):
                return self.error(offset, "malformed JSON: NaN and Infinity are not JSON numbers "
                                  "(numbers must be finite)")
            text = text.replace("JSON is malformed: ", "malformed JSON: ")
            return self.error(offset, text)
        # A ValidationError: the JSON is well formed; point at the value its path names.
        where = "$"
        if " - at `" in text:
            text, _, at = text.partition(" - at `")
            where = at.rstrip("`")
        unknown = re.match(r"Object contains unknown field `(.*)`$", text)
        target = _child(where, unknown.group(1)) if unknown else where
        found = _walk(self.body, target)
        offset = found[1] if found is not None and found[0] == "at" else _first(self.body)
        if text.startswith("Invalid enum value"):
            # msgspec does not say what it expected: name the allowed values of the field.
            allowed = _ENUMS.get(where.rsplit(".", 1)[-1])
            if allowed:
                text += f" (expected one of {', '.join(allowed)})"
        if text[1:2].islower():
            text = text[0].lower() + text[1:]
        error = self.error(offset, f"{where}: {text}")
        error.schema = True
        return error


def _first(buf: bytes) -> int:
    return len(buf) - len(buf.lstrip(b" \t\r\n"))


def _last_key(path: str) -> str:
    if path.endswith('"]'):
        return str(json.loads(path[path.rindex('["') + 1 : -1]))
    return path.rsplit(".", 1)[-1]


# ---------------------------------------------------------------- reading


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")


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


def _too_long(unit: _Unit, limit: int, what: str) -> SnapshotError:
    nul = unit.buf.find(b"\x00")
    if nul >= 0:
        return unit.error(nul, "NUL byte: binary data, not JSON text")
    return unit.error(0, f"{what} longer than {limit:,} bytes (the documented limit); "
                      "is this a snapshot?")


class SnapshotSource:
    """An opened snapshot: its header, hosts (decoded when iterated), and the digest and
    size of exactly the bytes decoded."""

    def __init__(self, name: str, header: SnapshotHeader, *, streaming: bool,
                 doc: SnapshotDocument | None = None, sha256: str | None = None,
                 size: int = 0, stream: IO[bytes] | None = None, header_line: bytes = b"",
                 file: Path | None = None, retain: bool = False) -> None:
        self.path = Path(name)
        self.name = name
        self.header = header
        self.streaming = streaming
        self.file = file
        """The regular file to read byte ranges of (None: standard input or a pipe)."""
        self._doc = doc
        self._sha256 = sha256
        self._size = size
        self._stream = stream
        self._header_line = header_line
        self._retain = retain
        self._retained: list[HostRecord] | None = None
        self.on_host: Callable[[int, int], None] | None = None
        """Called after each host a pass decodes with (bytes read, the host's findings):
        the command line's progress bar (``progress.py``); nothing else reads it."""
        self.on_progress: Callable[[int, int, int], None] | None = None
        """Called by forked workers' parent with the totals so far (bytes, hosts,
        findings): the same bar, when the hosts are judged elsewhere."""

    @property
    def sha256(self) -> str:
        """SHA-256 of the bytes decoded; reads (and decodes) the rest if not read yet."""
        if self._sha256 is None:
            for _ in self.hosts():
                pass
        assert self._sha256 is not None
        return self._sha256

    @property
    def size(self) -> int:
        if self._sha256 is None:
            return self._known_size()
        return self._size

    def _known_size(self) -> int:
        if self.file is not None:
            try:
                return self.file.stat().st_size
            except OSError:
                return 0
        return self._size

    def set_digest(self, sha256: str, size: int) -> None:
        """Record the digest of a pass made elsewhere (parallel workers, checked there)."""
        self._sha256, self._size = sha256, size

    @property
    def header_end(self) -> int:
        return len(self._header_line)

    def hosts(self) -> Iterator[HostRecord]:
        """Yield every host in file order; raises SnapshotError at the first bad one."""
        if self._doc is not None:
            yield from self._doc.hosts
            return
        if self._retained is not None:
            yield from self._retained
            return
        yield from self._stream_hosts()

    def _stream_hosts(self) -> Iterator[HostRecord]:
        if self.file is not None:
            try:
                f = self.file.open("rb")
            except OSError as e:
                raise SnapshotError(f"{self.name}: cannot read snapshot: {e.strerror or e}") from e
            with f:
                yield from self._pass(f)
        else:
            assert self._stream is not None
            yield from self._pass(self._stream)

    def _pass(self, f: IO[bytes]) -> Iterator[HostRecord]:
        f.seek(0)
        if f.read(len(self._header_line)) != self._header_line:
            raise SnapshotError(f"{self.name}: changed while it was being read (line 1 differs)")
        h = hashlib.sha256(self._header_line)
        size = len(self._header_line)
        decode = _HOST_DECODER.decode
        keep: list[HostRecord] | None = [] if self._retain else None
        lineno = 1
        while True:
            line = f.readline(MAX_RECORD_BYTES + 1)
            if not line:
                break
            lineno += 1
            h.update(line)
            size += len(line)
            if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                raise _too_long(_Unit(self.name, line, lineno), MAX_RECORD_BYTES,
                                f"line {lineno}: a JSON Lines record")
            if not line.strip():
                continue
            try:
                host = decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise _Unit(self.name, line, lineno).decode_error(e) from e
            _Unit(self.name, line, lineno).check_duplicates(_SHADOW_HOST)
            if keep is not None:
                keep.append(host)
            if self.on_host is not None:
                self.on_host(size, len(host.findings))
            yield host
        digest = h.hexdigest()
        if self._sha256 is not None and (digest, size) != (self._sha256, self._size):
            raise SnapshotError(f"{self.name}: changed while it was being read "
                                "(its digest differs between two passes)")
        self._sha256, self._size = digest, size
        if keep is not None:
            self._retained = keep


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
        first = stream.readline(MAX_HEADER_BYTES + 1)
    except OSError as e:
        raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
    _sniff(name, first)
    if _is_jsonl(p):
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
        obj = msgspec.json.decode(first.removeprefix(_BOM))
    except msgspec.DecodeError:
        return False
    return isinstance(obj, dict) and "hosts" not in obj


def _open_document(name: str, stream: IO[bytes], first: bytes, regular: bool) -> SnapshotSource:
    h = hashlib.sha256(first)
    parts = [first]
    size = len(first)
    if first.removeprefix(_BOM).lstrip(b" \t\r\n")[:1] not in (b"{", b""):
        # Not a JSON object: say why from what is here, without reading an endless stream.
        _decode_document(name, first)
    if regular and stream.seekable():
        # One buffer of the whole file, not chunks joined (half the peak memory).
        try:
            stream.seek(0)
            data = stream.read(MAX_DOCUMENT_BYTES + 1)
        except OSError as e:
            raise SnapshotError(f"{name}: cannot read snapshot: {e.strerror or e}") from e
        if len(data) > MAX_DOCUMENT_BYTES:
            raise _too_long(_Unit(name, data), MAX_DOCUMENT_BYTES, "a single-document snapshot")
        return _document_source(name, data, hashlib.sha256(data).hexdigest())
    try:
        while chunk := stream.read(_CHUNK):
            h.update(chunk)
            parts.append(chunk)
            size += len(chunk)
            if size > MAX_DOCUMENT_BYTES:
                raise _too_long(_Unit(name, b"".join(parts)), MAX_DOCUMENT_BYTES,
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
    unit = _Unit(name, data)
    try:
        with no_gc():
            doc = _DOC_DECODER.decode(unit.body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise unit.decode_error(e) from e
    unit.check_duplicates(_SHADOW_DOC)
    return doc


def _open_jsonl(name: str, p: Path, stream: IO[bytes], first: bytes, regular: bool,
                retain: bool) -> SnapshotSource:
    unit = _Unit(name, first, 1)
    if len(first) > MAX_HEADER_BYTES and not first.endswith(b"\n"):
        raise _too_long(unit, MAX_HEADER_BYTES, "line 1: the header")
    if not unit.body.strip():
        raise SnapshotError(f"{name}:1: empty snapshot: line 1 must be the header")
    try:
        header = _HEADER_DECODER.decode(unit.body)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise unit.decode_error(e) from e
    unit.check_duplicates(_SHADOW_HEADER)
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
    if _is_jsonl(p):
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


def may_repeat_host(line: bytes) -> bool:
    """The cheap duplicate-key test of one decoded JSON Lines host (see ``_may_repeat``)."""
    return _may_repeat(line, _SHADOW_HOST)


def line_error(name: str, line: bytes, lineno: int) -> str | None:
    """The full message for a JSON Lines host line that fails, or None if it is fine."""
    unit = _Unit(name, line, lineno)
    if len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
        return str(_too_long(unit, MAX_RECORD_BYTES, f"line {lineno}: a JSON Lines record"))
    try:
        _HOST_DECODER.decode(line)
        unit.check_duplicates(_SHADOW_HOST)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        return str(unit.decode_error(e))
    except SnapshotError as e:
        return str(e)
    return None
