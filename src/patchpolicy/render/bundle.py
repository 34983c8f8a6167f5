"""Write an evidence bundle directory atomically, with SHA256SUMS over every file.

Every file is rendered first (``items.jsonl`` and ``tasks.json`` as streams, the others in
memory, those over 8 MiB then spooled to a temporary file), written into a temporary
sibling directory, and
only then swapped into place (:mod:`patchpolicy.outdir`): an error leaves the previous
bundle (or nothing) behind, never a half-written one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from patchpolicy.errors import OutputError
from patchpolicy.outdir import FileBody, Streamed, body_sha256, replace_dir
from patchpolicy.render.interface import RenderContext, Renderer, StreamingRenderer
from patchpolicy.render.views import collect

if TYPE_CHECKING:
    from patchpolicy.model.plan import Plan, StreamedPlan

SUMS_FILE = "SHA256SUMS"
SPOOL_BYTES = 8 * 1024 * 1024
"""Rendered files larger than this are spooled to a temporary file until written."""


def sha256sums(files: Mapping[str, FileBody]) -> bytes:
    """``sha256sum``-compatible lines, sorted by path (``sha256sum -c`` verifies them)."""
    lines = [f"{body_sha256(data)}  {name}\n" for name, data in sorted(files.items())]
    return "".join(lines).encode()


def _names(renderers: list[Renderer]) -> list[str]:
    names = [r.filename for r in renderers]
    for name in names:
        if names.count(name) > 1:
            raise OutputError(f"two renderers write {name}")
    return names


def _held(body: bytes) -> FileBody:
    # A large file waits on disk, not in memory, while the next ones are rendered.
    return Streamed.spooled(body) if len(body) > SPOOL_BYTES else body


def render_all(ctx: RenderContext, renderers: Iterable[Renderer], *, jobs: int = 1) -> dict[str, FileBody]:
    """Every renderer's file and ``SHA256SUMS``. ``jobs`` > 1: the in-memory renderers run
    in that many forked processes (``render.parallel``); the bytes are the same."""
    from patchpolicy.render.parallel import can_fork, render_forked

    todo = list(renderers)
    names = _names(todo)
    streams: dict[str, FileBody] = {
        r.filename: r.stream(ctx) for r in todo if isinstance(r, StreamingRenderer)
    }
    eager = [r for r in todo if not isinstance(r, StreamingRenderer)]
    # One pass over the items for every renderer's views, before any renders (or forks).
    collect(ctx.evaluation, [v for r in eager for v in r.views(ctx.options)])
    rendered: dict[str, FileBody] = {}
    if jobs > 1 and len(eager) > 1 and can_fork():
        def digest_streams() -> None:
            for body in streams.values():
                body_sha256(body)

        rendered = render_forked(ctx, eager, min(jobs, len(eager)), digest_streams)
    else:
        for r in eager:
            rendered[r.filename] = _held(r.render(ctx))
    files = {name: streams[name] if name in streams else rendered[name] for name in names}
    files[SUMS_FILE] = sha256sums(files)
    return files


def render_while_planning(
    ctx: RenderContext, renderers: Iterable[Renderer], make_plan: Callable[[], Plan | StreamedPlan],
    *, jobs: int = 1,
) -> tuple[dict[str, FileBody], Plan | StreamedPlan]:
    """``render_all`` of ``ctx`` with the plan ``make_plan`` makes, and that plan. Where
    processes can be forked, the in-memory renderers that do not read the plan (the views
    of the items, OSCAL, SARIF, JUnit, the reports) render in ``jobs`` forked processes
    while this one makes the plan and renders the tasks files; the bytes are the same."""
    from patchpolicy.render.parallel import can_fork, render_forked

    todo = list(renderers)
    names = _names(todo)
    if not can_fork():
        plan = make_plan()
        return render_all(dataclasses.replace(ctx, plan=plan), todo, jobs=jobs), plan
    files: dict[str, FileBody] = {
        r.filename: r.stream(ctx) for r in todo if isinstance(r, StreamingRenderer) and not r.needs_plan
    }
    made: list[Plan | StreamedPlan] = []

    def plan_and_tasks() -> None:
        made.append(make_plan())
        planned = dataclasses.replace(ctx, plan=made[0])
        for r in todo:
            if r.needs_plan:
                files[r.filename] = r.stream(planned) if isinstance(r, StreamingRenderer) \
                    else _held(r.render(planned))
        for body in files.values():
            body_sha256(body)  # generated bodies are spooled as they are digested

    forked = [r for r in todo if not isinstance(r, StreamingRenderer) and not r.needs_plan]
    files.update(render_forked(ctx, forked, max(1, min(jobs, len(forked))), plan_and_tasks))
    ordered = {name: files[name] for name in names}
    ordered[SUMS_FILE] = sha256sums(ordered)
    return ordered, made[0]


def write_bundle(out_dir: Path, files: dict[str, FileBody]) -> None:
    """Replace ``out_dir`` with exactly ``files`` (and the output marker), atomically from a
    reader's view; see :mod:`patchpolicy.outdir` for what may be replaced."""
    replace_dir(Path(out_dir), files)
