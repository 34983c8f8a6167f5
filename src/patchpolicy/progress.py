"""Progress of long work on stderr: a bar with hosts and findings done (or, for import,
the input files read), the rate and an estimate of the time left, drawn by rich when stderr is a terminal and the input is
large; nothing at all otherwise (a pipe, a CI log, ``--quiet``, a small input).

Only the command line uses it: it reads the monotonic clock to throttle redraws, which
never reaches an output. The evaluation is told nothing: the snapshot reader calls
``SnapshotSource.on_host`` with its position after each host.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from patchpolicy.snapshot import SnapshotSource

__all__ = ["MIN_PROGRESS_BYTES", "NO_PROGRESS_ENV", "files_progress", "snapshot_progress", "wanted"]

MIN_PROGRESS_BYTES = 8 * 1024 * 1024
"""Snapshots smaller than this finish before a bar would be worth drawing."""
NO_PROGRESS_ENV = "PATCHPOLICY_NO_PROGRESS"
_REDRAW_SECONDS = 0.1


def wanted(size: int, *, quiet: bool = False, stream: Any = None) -> bool:
    """A bar is drawn for ``size`` bytes of input: a terminal on stderr, not quiet, not
    switched off by ``PATCHPOLICY_NO_PROGRESS``, and an input of at least 8 MiB."""
    out = sys.stderr if stream is None else stream
    if quiet or os.environ.get(NO_PROGRESS_ENV) or size < MIN_PROGRESS_BYTES:
        return False
    isatty = getattr(out, "isatty", None)
    return bool(isatty and isatty())


@contextmanager
def snapshot_progress(snapshot: SnapshotSource, what: str, *, quiet: bool = False,
                      stream: Any = None) -> Iterator[None]:
    """While the block runs, a bar of ``snapshot``'s bytes read, with hosts and findings
    done, findings per second and the time left; removed when the block ends."""
    total = snapshot.size
    if not wanted(total, quiet=quiet, stream=stream):
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(file=sys.stderr if stream is None else stream, stderr=stream is None)
    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[hosts]:,} hosts, {task.fields[findings]:,} findings"),
               TextColumn("{task.fields[rate]}"), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=total, hosts=0, findings=0, rate="")
        start = last = time.monotonic()
        hosts = findings = 0

        def on_progress(position: int, hosts_done: int, findings_done: int) -> None:
            """Draw the totals so far (forked workers' parent calls it every 0.2 s)."""
            elapsed = time.monotonic() - start
            rate = f"{findings_done / elapsed:,.0f} findings/s" if elapsed > 0 else ""
            bar.update(task, completed=position, hosts=hosts_done, findings=findings_done,
                       rate=rate)

        def on_host(position: int, host_findings: int) -> None:
            """Count one host read here; redraw at most every ``_REDRAW_SECONDS``."""
            nonlocal hosts, findings, last
            hosts += 1
            findings += host_findings
            now = time.monotonic()
            if now - last >= _REDRAW_SECONDS:
                last = now
                on_progress(position, hosts, findings)

        snapshot.on_host = on_host
        snapshot.on_progress = on_progress
        try:
            yield
        finally:
            snapshot.on_host = None
            snapshot.on_progress = None


@contextmanager
def files_progress(paths: Sequence[Path], what: str, *, quiet: bool = False,
                   stream: Any = None) -> Iterator[Callable[[Path], None]]:
    """A bar of input files read (by bytes, with the file being read and the time spent),
    for ``import``; yields the callback to call with each file once it is read."""
    sizes = {p: _size(p) for p in paths}
    total = sum(sizes.values())
    if not wanted(total, quiet=quiet, stream=stream):
        yield lambda _path: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(file=sys.stderr if stream is None else stream, stderr=stream is None)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.fields[done]}/{task.fields[files]} files"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(what, total=total, done=0, files=len(paths))
        done = 0

        def read(path: Path) -> None:
            nonlocal done
            done += 1
            bar.update(task, advance=sizes.get(path, 0), done=done)

        yield read


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0
