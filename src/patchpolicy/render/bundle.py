"""Write an evidence bundle directory atomically, with SHA256SUMS over every file.

Every file is rendered in memory first, written into a temporary sibling directory, and
only then swapped into place (:mod:`patchpolicy.outdir`): an error leaves the previous
bundle (or nothing) behind, never a half-written one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from patchpolicy.errors import OutputError
from patchpolicy.outdir import replace_dir
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
    """Replace ``out_dir`` with exactly ``files`` (and the output marker), atomically from a
    reader's view; see :mod:`patchpolicy.outdir` for what may be replaced."""
    replace_dir(Path(out_dir), files)
