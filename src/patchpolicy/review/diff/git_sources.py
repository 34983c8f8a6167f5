"""The two sides of ``patchpolicy diff``: working-tree paths, or ``REV:path`` read from
git into a temporary directory; ``run_diff`` loads both and diffs them."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from patchpolicy.errors import InputError, Location, ValidationError
from patchpolicy.model.bundle import Bundle
from patchpolicy.review.diff.bundles import BundleDiff, diff_bundles


@dataclass(frozen=True)
class Side:
    """One side of the diff on disk: a working-tree path, or a revision checked out into
    a temporary directory (``root``) whose file names are shown as ``REV:path``."""

    label: str
    paths: tuple[Path, ...]
    rev: str | None = None
    root: Path | None = None
    """The checkout (revisions) or the current directory (working tree)."""

    def display(self, loc: Location) -> str:
        """A file name as the user knows it: ``REV:path``, or relative to the cwd."""
        if self.root is None:
            return loc.file
        try:
            rel = Path(loc.file).relative_to(self.root).as_posix()
        except ValueError:
            return loc.file
        return f"{self.rev}:{rel}" if self.rev is not None else rel


def _git(args: Sequence[str], cwd: Path) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as e:
        raise InputError("git is not installed: it is needed to read a revision") from e
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return proc.stdout


def _toplevel(cwd: Path) -> Path:
    return Path(_git(["rev-parse", "--show-toplevel"], cwd).decode().strip()).resolve()


def _repo_path(path: str, cwd: Path, top: Path, *, git_relative: bool) -> str:
    """A path inside the repository, relative to its top level (POSIX form).

    ``git_relative``: as in ``git show REV:path``, a path is relative to the top level
    unless it starts with ``./`` or ``../``.
    """
    if git_relative and not (path in (".", "..") or path.startswith(("./", "../"))):
        return path.strip("/")
    absolute = (cwd / path).resolve()
    try:
        rel = absolute.relative_to(top)
    except ValueError as e:
        raise InputError(f"{path}: outside the git repository at {top}") from e
    text = rel.as_posix()
    return "" if text == "." else text


def _checkout(rev: str, repo_path: str, cwd: Path, stack: ExitStack, label: str) -> Side:
    """Write the policy files under ``repo_path`` at ``rev`` into a temporary directory."""
    from patchpolicy.loader import SUFFIXES

    top = _toplevel(cwd)
    commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], top).decode().strip()
    listing = _git(["ls-tree", "-r", "-z", "--full-tree", commit, *([repo_path] if repo_path else [])], top)
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="patchpolicy-diff-")))
    root = tmp / "tree"
    found = False
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_name = entry.partition(b"\t")
        mode, kind, obj = meta.decode().split()
        name = raw_name.decode("utf-8", "surrogateescape")
        inside = not repo_path or name == repo_path or name.startswith(repo_path + "/")
        if kind != "blob" or mode == "120000" or not inside:
            continue
        if Path(name).suffix.lower() not in SUFFIXES:
            continue
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(_git(["cat-file", "blob", obj], top))
        found = True
    paths = (root / repo_path,) if found else ()
    return Side(label, paths, rev, root)


def open_side(spec: str, cwd: Path, stack: ExitStack) -> Side:
    """A path if it exists, else ``REV:path`` read from git."""
    if (cwd / spec).exists():
        return Side(spec, (cwd / spec,), root=cwd)
    if ":" in spec:
        rev, _, path = spec.partition(":")
        if not rev:
            raise InputError(f"{spec}: missing revision before ':' (e.g. main:policies)")
        top = _toplevel(cwd)
        return _checkout(rev, _repo_path(path, cwd, top, git_relative=True), cwd, stack, spec)
    raise InputError(
        f"{spec}: no such file or directory (for a git revision write REV:PATH, "
        "or use --base REV)"
    )


def load_side(side: Side) -> Bundle:
    from patchpolicy.loader import load_bundle

    if not side.paths:
        return Bundle(policies=(), exceptions=(), tests=(), files=())
    try:
        return load_bundle(side.paths)
    except ValidationError as e:
        raise ValidationError(
            [replace(d, location=replace(d.location, file=side.display(d.location)))
             for d in e.diagnostics]
        ) from e


def run_diff(
    specs: Sequence[str],
    *,
    base: str | None = None,
    snapshot: Path | None = None,
    as_of: datetime | None = None,
    cwd: Path | None = None,
) -> BundleDiff:
    """``patchpolicy diff``: OLD NEW (paths or ``REV:path``), or ``--base REV PATH``.

    Raises InputError for bad usage, unknown revisions or paths, and ValidationError
    (file names shown as ``REV:path`` for revisions) when either bundle is invalid.
    Temporary checkouts are removed before returning.
    """
    cwd = cwd if cwd is not None else Path.cwd()
    if as_of is not None and snapshot is None:
        raise InputError("--as-of needs --snapshot (it sets the instant of the impact analysis)")
    with ExitStack() as stack:
        if base is not None:
            if len(specs) != 1:
                raise InputError("with --base give exactly one PATH (the bundle in the working tree)")
            path = specs[0]
            top = _toplevel(cwd)
            old = _checkout(base, _repo_path(path, cwd, top, git_relative=False), cwd, stack,
                            f"{base}:{path}")
            new = Side(path, (cwd / path,) if (cwd / path).exists() else (), root=cwd)
        else:
            if len(specs) != 2:
                raise InputError("give OLD and NEW (paths or REV:PATH), or --base REV PATH")
            old = open_side(specs[0], cwd, stack)
            new = open_side(specs[1], cwd, stack)
        if not old.paths and not new.paths:
            raise InputError(f"no policy files in {old.label} nor in {new.label}")
        old_bundle, new_bundle = load_side(old), load_side(new)
        effect = None
        if snapshot is not None:
            from patchpolicy.review.impact import impact

            effect = impact(old_bundle, new_bundle, snapshot, as_of=as_of,
                            label=snapshot.as_posix())
        return diff_bundles(
            old_bundle, new_bundle, old_label=old.label, new_label=new.label,
            old_display=old.display, new_display=new.display,
            impact=effect,
        )
