"""Output directories that never destroy what is not ours.

A directory this tool writes carries a marker file (``.patchpolicy-output``). An output
directory is replaced only when it is missing, empty, or carries the marker; anything
else is refused (exit 2) unless ``force``. ``.``, ``/``, the home directory and any parent
of an input are refused outright, even with ``force``.

The replacement is built in a temporary sibling and swapped in with one atomic
``renameat2(RENAME_EXCHANGE)`` where Linux offers it, so there is no moment without a
bundle at the path; elsewhere the old directory is renamed aside first. Writers to one
directory are serialised by an exclusive ``flock`` on its parent directory (a second
writer waits). Temporary siblings of processes that died (kill -9) are removed at the
next run: their names carry the writer's pid.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from patchpolicy.errors import OutputError

__all__ = ["OUTPUT_MARKER", "FileBody", "Streamed", "body_sha256", "check_output_dir", "replace_dir"]

OUTPUT_MARKER = ".patchpolicy-output"
MARKER_TEXT = b"written by patchpolicy: this directory is replaced as a whole on the next run\n"



class Streamed:
    """A file body too large to hold in memory (``items.jsonl``): its bytes come as
    chunks, read again each time they are asked for; the digest is computed once."""

    def __init__(self, chunks: Callable[[], Iterator[bytes]], sha256: str | None = None,
                 file: Path | None = None, *, spool: bool = False) -> None:
        self.chunks = chunks
        self._sha256 = sha256
        self.file = file
        """The file whose whole content the chunks are, when there is one: written by a
        copy in the kernel (``shutil.copyfile``), not through Python."""
        self._spool = spool and file is None
        """Chunks that are costly to make (``tasks.json`` from the plan): the pass that
        digests them also keeps them in a temporary file, which is then what is written."""

    @classmethod
    def of_file(cls, path: Path, chunk: int = 1 << 20) -> Streamed:
        def read() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while data := fh.read(chunk):
                    yield data

        return cls(read, file=path)

    @classmethod
    def spooled(cls, data: bytes) -> Streamed:
        """``data`` moved to a temporary file (removed when the body is collected), so that
        a large rendered file does not stay in memory while the others are rendered."""
        return cls.of_temp_file(*_write_temp_file([data]))

    @classmethod
    def of_temp_file(cls, path: Path, sha256: str) -> Streamed:
        """A temporary file already written (digest known) as a body, removed when the body
        is collected (another process rendered it: ``render.parallel``)."""
        body = cls.of_file(path)
        body._sha256 = sha256
        weakref.finalize(body, path.unlink, True)
        return body

    def sha256(self) -> str:
        if self._sha256 is None and self._spool:
            self._digest_into_temp_file()
        if self._sha256 is None:
            h = hashlib.sha256()
            for data in self.chunks():
                h.update(data)
            self._sha256 = h.hexdigest()
        return self._sha256

    def _digest_into_temp_file(self) -> None:
        path, digest = _write_temp_file(self.chunks())
        weakref.finalize(self, path.unlink, True)
        self.file, self._sha256, self._spool = path, digest, False
        self.chunks = Streamed.of_file(path).chunks


def _write_temp_file(chunks: Iterable[bytes]) -> tuple[Path, str]:
    """``chunks`` written to a new temporary file (removed if writing fails): its path and
    the SHA-256 of what was written."""
    fd, name = tempfile.mkstemp(prefix="patchpolicy-", suffix=".part")
    path = Path(name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as fh:
            for data in chunks:
                h.update(data)
                fh.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, h.hexdigest()


FileBody = bytes | Streamed
"""What a file of an output directory holds: bytes, or chunks streamed from elsewhere."""


def body_sha256(body: FileBody) -> str:
    return body.sha256() if isinstance(body, Streamed) else hashlib.sha256(body).hexdigest()


def _write_body(path: Path, body: FileBody) -> None:
    if isinstance(body, Streamed) and body.file is not None:
        shutil.copyfile(body.file, path)
    elif isinstance(body, Streamed):
        with path.open("wb") as fh:
            for data in body.chunks():
                fh.write(data)
    else:
        path.write_bytes(body)


_TMP = re.compile(r"^\.(?P<name>.+)\.(?:tmp|old)-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def check_output_dir(out_dir: Path, *, inputs: Iterable[Path] = (), force: bool = False) -> None:
    """Raise OutputError (exit 2) when ``out_dir`` must not be replaced."""
    if not str(out_dir):
        raise OutputError("the output path is empty")
    target = Path(out_dir).resolve()
    forbidden = {Path("/").resolve(): "the root directory", Path.cwd().resolve(): "the current directory"}
    with contextlib.suppress(RuntimeError, KeyError):
        forbidden[Path.home().resolve()] = "the home directory"
    if target in forbidden:
        raise OutputError(f"{out_dir}: refusing to replace {forbidden[target]} with an output directory")
    for given in inputs:
        src = Path(given).resolve()
        if src == target or target in src.parents:
            raise OutputError(
                f"{out_dir}: refusing to replace a directory that holds the input {given}"
            )
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise OutputError(f"{out_dir}: exists and is not a directory")
    if (target / OUTPUT_MARKER).is_file() or not any(target.iterdir()):
        return
    if not force:
        raise OutputError(
            f"{out_dir}: is not empty and was not written by patchpolicy (no {OUTPUT_MARKER}); "
            "refusing to replace it: choose another directory, or pass --force"
        )


def replace_dir(out_dir: Path, files: dict[str, FileBody]) -> None:
    """Replace ``out_dir`` with exactly ``files`` plus the marker, atomically."""
    out_dir = Path(out_dir)
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create output directory: {e.strerror or e}") from e
    with _locked(parent, out_dir):
        _clean_stale(parent, out_dir.name)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-{os.getpid()}-", dir=parent))
        except OSError as e:
            raise OutputError(f"{out_dir}: cannot create output directory: {e.strerror or e}") from e
        try:
            for name, data in {**files, OUTPUT_MARKER: MARKER_TEXT}.items():
                path = tmp / name
                path.parent.mkdir(parents=True, exist_ok=True)
                _write_body(path, data)
            target = parent / out_dir.name
            if target.is_dir() and not target.is_symlink():
                if _exchange(tmp, target):
                    shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old bundle
                    return
                old = parent / f".{out_dir.name}.old-{os.getpid()}-x"
                os.replace(target, old)
                os.replace(tmp, target)
                shutil.rmtree(old, ignore_errors=True)
            elif target.exists() or target.is_symlink():
                raise OutputError(f"{out_dir}: exists and is not a directory")
            else:
                os.replace(tmp, target)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise OutputError(f"{out_dir}: cannot write: {e.strerror or e}") from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def _locked(parent: Path, out_dir: Path) -> Iterator[None]:
    """An exclusive lock on the parent directory (no lock file left behind)."""
    try:
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot open its parent directory: {e.strerror or e}") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _clean_stale(parent: Path, name: str) -> None:
    """Remove temporary siblings of ``name`` left by writers that no longer run."""
    for entry in parent.iterdir():
        m = _TMP.match(entry.name)
        if m is None or m["name"] != name:
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2); False where not supported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
        return False
    raise OSError(err, os.strerror(err), str(b))
