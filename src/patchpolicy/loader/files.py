"""Policy files found and read: directories walked with the symlink rule, bytes read
within the size limit, ``-`` for standard input."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from patchpolicy.errors import Diagnostic, InputError, Location

SUFFIXES = (".yaml", ".yml", ".json")
"""What a file under a bundle directory is called to be read as a policy document."""

MAX_POLICY_FILE = 16 * 1024 * 1024
"""Bytes in one policy file: far beyond any real bundle file, short of exhausting memory."""

STDIN = "-"
STDIN_NAME = "<stdin>"


def read_policy_file(path: Path) -> bytes:
    """A regular file's bytes, refusing devices, FIFOs and files over MAX_POLICY_FILE."""
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise InputError(f"cannot read policy: it is {kind}")
    if st.st_size > MAX_POLICY_FILE:
        raise InputError(f"file is {st.st_size:,} bytes; the limit for a policy file is {MAX_POLICY_FILE:,}")
    with path.open("rb") as fh:
        data = fh.read(MAX_POLICY_FILE + 1)
    if len(data) > MAX_POLICY_FILE:
        raise InputError(f"file is over {MAX_POLICY_FILE:,} bytes, the limit for a policy file")
    return data


def read_stdin() -> bytes:
    """``-``: the bytes of standard input (one file's worth; never a terminal)."""
    stream = sys.stdin.buffer
    if stream.isatty():
        raise InputError("standard input is a terminal: pipe a document in")
    data = stream.read(MAX_POLICY_FILE + 1)
    if len(data) > MAX_POLICY_FILE:
        raise InputError(f"input is over {MAX_POLICY_FILE:,} bytes, the limit for a policy file")
    return data


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to their policy files (sorted); files are taken as given.

    Problems met on the way (see :func:`discover_checked`) are left to the reads to report.
    """
    return discover_checked(paths)[0]


def discover_checked(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand directories to their policy files, and say what could not be read.

    The symlink rule: inside a directory given on the command line, a symlink to a file or
    a directory is followed when its target is inside that directory (a loop is reported
    once); a symlink whose target is outside it, or missing, is an error, as is a
    subdirectory that cannot be listed. Nothing is skipped without a word.
    """
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(_walk_dir(p, problems))
        else:
            found.append(p)
    return _unique(found), problems


def _walk_dir(root: Path, problems: list[Diagnostic]) -> list[Path]:
    top = root.resolve()
    out: list[Path] = []
    visited: set[Path] = {top}
    pending = [root]
    while pending:
        d = pending.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            problems.append(Diagnostic(Location(str(d)), f"cannot read directory: {e.strerror or e}"))
            continue
        for entry in entries:
            path = Path(d) / entry.name
            target = _followed(entry, path, root, top, problems)
            if target is None:
                continue
            if target.is_dir():
                real = target.resolve()
                if real in visited:
                    if entry.is_symlink():
                        problems.append(Diagnostic(Location(str(path)), "symlink loop: directory already read"))
                    continue
                visited.add(real)
                pending.append(path)
            elif target.is_file() and entry.name.lower().endswith(tuple(SUFFIXES)):
                out.append(path)
    return sorted(out)


def _followed(
    entry: os.DirEntry[str], path: Path, root: Path, top: Path, problems: list[Diagnostic]
) -> Path | None:
    """What ``path`` stands for: itself, or a symlink's target inside ``top``; None (and
    the reason in ``problems``) for a dangling symlink or one that leaves the bundle."""
    if not entry.is_symlink():
        return path
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        problems.append(Diagnostic(Location(str(path)), "dangling symlink: its target does not exist"))
        return None
    if target != top and top not in target.parents:
        problems.append(Diagnostic(
            Location(str(path)),
            f"symlink to {target}, outside {root}: not followed (symlinks must stay inside the bundle)",
        ))
        return None
    return target


def _unique(found: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique
