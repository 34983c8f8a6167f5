"""Write an evidence bundle directory atomically, with SHA256SUMS over every file.

Every file is rendered in memory first, written into a temporary sibling directory, and
only then swapped into place: an error leaves the previous bundle (or nothing) behind,
never a half-written one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from patchpolicy.errors import OutputError
from patchpolicy.render.interface import RenderContext, Renderer

SUMS_FILE = "SHA256SUMS"


def sha256sums(files: dict[str, bytes]) -> bytes:
    """``sha256sum``-compatible lines, sorted by path (``sha256sum -c`` verifies them)."""
    lines = [f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items())]
    return "".join(lines).encode()


def render_all(ctx: RenderContext, renderers: Iterable[Renderer]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for r in renderers:
        if r.filename in files:
            raise OutputError(f"two renderers write {r.filename}")
        files[r.filename] = r.render(ctx)
    files[SUMS_FILE] = sha256sums(files)
    return files


def write_bundle(out_dir: Path, files: dict[str, bytes]) -> None:
    """Replace ``out_dir`` with exactly ``files``, atomically from a reader's view."""
    out_dir = Path(out_dir)
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=parent))
    except OSError as e:
        raise OutputError(f"{out_dir}: cannot create output directory: {e.strerror or e}") from e
    try:
        for name, data in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        old = None
        if out_dir.exists():
            if not out_dir.is_dir():
                raise OutputError(f"{out_dir}: exists and is not a directory")
            old = parent / f".{out_dir.name}.old-{os.getpid()}"
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"{out_dir}: cannot write evidence bundle: {e.strerror or e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
