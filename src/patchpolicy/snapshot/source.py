"""An opened snapshot (``SnapshotSource``): its header, its hosts decoded as they are
iterated (a JSON Lines pass re-reads the file and proves its digest unchanged), and the
checks of one JSON Lines host line that forked workers reading byte ranges share."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec

from patchpolicy.errors import SnapshotError
from patchpolicy.model.fleet import HostRecord, SnapshotDocument, SnapshotHeader
from patchpolicy.snapshot import limits
from patchpolicy.snapshot.strict import SHADOW_HOST, Unit, may_repeat, too_long

_HOST_DECODER = msgspec.json.Decoder(HostRecord)


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

    @property
    def parts(self) -> tuple[SnapshotSource, ...]:
        """The JSON Lines files in regular files that workers can read byte ranges of, in
        order: this one, the shards of a sharded snapshot, or none (a document, a pipe)."""
        return (self,) if self.file is not None else ()

    @property
    def places(self) -> str:
        """The files read, for messages: this one's name."""
        return self.name

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

    def _stream_hosts(self, also: Any = None) -> Iterator[HostRecord]:
        """One pass over the lines; ``also``, a hash object, is fed every byte too (the
        digest of a sharded snapshot, over its shards one after another)."""
        if self.file is not None:
            try:
                f = self.file.open("rb")
            except OSError as e:
                raise SnapshotError(f"{self.name}: cannot read snapshot: {e.strerror or e}") from e
            with f:
                yield from self._pass(f, also)
        else:
            assert self._stream is not None
            yield from self._pass(self._stream, also)

    # Long: the per-line loop of every streamed pass; its checks and hashing are inline
    # because they run once per host line.
    def _pass(self, f: IO[bytes], also: Any = None) -> Iterator[HostRecord]:
        f.seek(0)
        if f.read(len(self._header_line)) != self._header_line:
            raise SnapshotError(f"{self.name}: changed while it was being read (line 1 differs)")
        h = hashlib.sha256(self._header_line)
        if also is not None:
            also.update(self._header_line)
        size = len(self._header_line)
        decode = _HOST_DECODER.decode
        keep: list[HostRecord] | None = [] if self._retain else None
        lineno = 1
        limit = limits.MAX_RECORD_BYTES  # read once: a local, not a lookup per line
        while True:
            line = f.readline(limit + 1)
            if not line:
                break
            lineno += 1
            h.update(line)
            if also is not None:
                also.update(line)
            size += len(line)
            if len(line) > limit and not line.endswith(b"\n"):
                raise too_long(Unit(self.name, line, lineno), limit,
                                f"line {lineno}: a JSON Lines record")
            if not line.strip():
                continue
            try:
                host = decode(line)
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise Unit(self.name, line, lineno).decode_error(e) from e
            Unit(self.name, line, lineno).check_duplicates(SHADOW_HOST)
            if keep is not None:
                keep.append(host)
            if self.on_host is not None:
                self.on_host(size, len(host.findings))
            yield host
        self._end_pass(h.hexdigest(), size, keep, f"{self.name}: changed while it was being read "
                       "(its digest differs between two passes)")

    def _end_pass(self, digest: str, size: int, kept: list[HostRecord] | None,
                  changed: str) -> None:
        """A full pass read bytes of this digest and size: record them, or fail with
        ``changed`` when an earlier pass read other bytes; keep the hosts when asked."""
        if self._sha256 is not None and (digest, size) != (self._sha256, self._size):
            raise SnapshotError(changed)
        self._sha256, self._size = digest, size
        if kept is not None:
            self._retained = kept



def may_repeat_host(line: bytes) -> bool:
    """The cheap duplicate-key test of one decoded JSON Lines host (see ``may_repeat``)."""
    return may_repeat(line, SHADOW_HOST)


def line_error(name: str, line: bytes, lineno: int) -> str | None:
    """The full message for a JSON Lines host line that fails, or None if it is fine."""
    unit = Unit(name, line, lineno)
    if len(line) > limits.MAX_RECORD_BYTES and not line.endswith(b"\n"):
        return str(too_long(unit, limits.MAX_RECORD_BYTES, f"line {lineno}: a JSON Lines record"))
    try:
        _HOST_DECODER.decode(line)
        unit.check_duplicates(SHADOW_HOST)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        return str(unit.decode_error(e))
    except SnapshotError as e:
        return str(e)
    return None
