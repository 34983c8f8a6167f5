"""Render a bundle's files on every core asked for: the renderers that build their file in
memory (OSCAL, JUnit, SARIF, the reports, evidence.json, the calendar) run in forked
processes, each writing its files to temporary files, while this process digests the
streamed ones (items.jsonl, tasks.json, tasks.csv). A renderer is a pure function of the
``RenderContext``, so the bytes are the same whatever the number of processes; forked
children read the context (items in their file or in memory) as the parent left it.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from patchpolicy.outdir import FileBody, Streamed
from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.views import collect

__all__ = ["can_fork", "render_forked"]

_JOB: dict[str, Any] = {}


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _render_group(index: int) -> list[tuple[str, str, str]]:
    ctx: RenderContext = _JOB["ctx"]
    out: list[tuple[str, str, str]] = []
    group: list[Renderer] = _JOB["groups"][index]
    try:
        # The group's views in one pass (none left to compute when the parent made them).
        collect(ctx.evaluation, [v for r in group for v in r.views(ctx.options)])
        for r in group:
            body = r.render(ctx)
            fd, name = tempfile.mkstemp(prefix="patchpolicy-render-", suffix=".part")
            out.append((r.filename, name, hashlib.sha256(body).hexdigest()))
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            del body
    except BaseException:
        for _, name, _ in out:
            Path(name).unlink(missing_ok=True)
        raise
    return out


def render_forked(
    ctx: RenderContext, renderers: list[Renderer], jobs: int,
    meanwhile: Callable[[], None] = lambda: None,
) -> dict[str, FileBody]:
    """``renderers`` (in-memory ones) rendered in ``jobs`` forked processes, dealt in turn;
    ``meanwhile`` runs here while they work. Files come back as temporary-file bodies."""
    groups = [renderers[i::jobs] for i in range(jobs)]
    _JOB.update(ctx=ctx, groups=groups)
    gc.freeze()  # forked children need not touch (and copy) the parent's pages to scan them
    results: list[list[tuple[str, str, str]]] = []
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
            futures = [pool.submit(_render_group, i) for i in range(jobs)]
            try:
                meanwhile()
            finally:
                failure: BaseException | None = None
                for f in futures:  # every child's files, even after a failure, to remove them
                    try:
                        results.append(f.result())
                    except BaseException as e:
                        failure = failure or e
                if failure is not None:
                    raise failure
    except BaseException:
        for group in results:
            for _, name, _ in group:
                Path(name).unlink(missing_ok=True)
        raise
    finally:
        gc.unfreeze()
        _JOB.clear()
    return {
        filename: Streamed.of_temp_file(Path(name), digest)
        for group in results for filename, name, digest in group
    }
