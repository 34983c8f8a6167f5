"""Every renderer behind the one interface: enums walked member by member, syrupy
snapshots on a fixed evaluation, and byte-identical re-renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_helpers import build_context
from syrupy.assertion import SnapshotAssertion

from patchpolicy.errors import OutputError
from patchpolicy.outdir import body_sha256
from patchpolicy.render import (
    BundleOutput,
    CheckFormat,
    Renderer,
    bundle_renderers,
    check_renderer,
    renderer_for,
)
from patchpolicy.render.bundle import SUMS_FILE, render_all
from patchpolicy.render.interface import RenderContext
from patchpolicy.render.tasks import TasksJson


@pytest.mark.parametrize("output", list(BundleOutput))
def test_every_bundle_output_has_its_renderer(output: BundleOutput) -> None:
    r = renderer_for(output)
    assert isinstance(r, Renderer)
    assert r.filename == output.value


@pytest.mark.parametrize("fmt", list(CheckFormat))
def test_every_check_format_renders(fmt: CheckFormat, ctx: RenderContext) -> None:
    out = check_renderer(fmt).render(ctx)
    assert isinstance(out, bytes) and out.endswith(b"\n")
    out.decode("utf-8")


def test_bundle_renderers_cover_the_enum_once() -> None:
    names = [r.filename for r in bundle_renderers()]
    assert names == [o.value for o in BundleOutput]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("output", list(BundleOutput))
def test_bundle_file_snapshot(output: BundleOutput, ctx: RenderContext,
                              snapshot: SnapshotAssertion) -> None:
    assert renderer_for(output).render(ctx).decode() == snapshot


@pytest.mark.parametrize("fmt", [CheckFormat.TEXT, CheckFormat.MARKDOWN])
def test_check_summary_snapshot(fmt: CheckFormat, ctx: RenderContext,
                                snapshot: SnapshotAssertion) -> None:
    assert check_renderer(fmt, limit=5).render(ctx).decode() == snapshot


def test_two_evaluations_render_byte_identical_bundles(ctx: RenderContext) -> None:
    again = build_context()
    first, second = render_all(ctx, bundle_renderers()), render_all(again, bundle_renderers())
    assert {n: body_sha256(b) for n, b in first.items()} == {n: body_sha256(b) for n, b in second.items()}
    assert set(first) == {o.value for o in BundleOutput} | {SUMS_FILE}


@pytest.mark.parametrize("jobs", [2, 3])
def test_files_rendered_in_forked_processes_are_the_same_bytes(ctx: RenderContext, jobs: int,
                                                                tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import tempfile

    from patchpolicy.outdir import Streamed

    one = render_all(ctx, bundle_renderers())
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    forked = render_all(ctx, bundle_renderers(), jobs=jobs)
    assert list(forked) == list(one)  # same files, same order
    for name, body in forked.items():
        whole = b"".join(body.chunks()) if isinstance(body, Streamed) else body
        held = one[name]
        assert whole == (b"".join(held.chunks()) if isinstance(held, Streamed) else held), name
    rendered_apart = list(tmp_path.glob("patchpolicy-render-*.part"))
    assert rendered_apart and all(p.stat().st_size > 0 for p in rendered_apart)
    del forked
    gc.collect()
    assert not list(tmp_path.glob("patchpolicy-render-*.part"))  # removed with their bodies


def test_tasks_need_a_plan(ctx: RenderContext) -> None:
    bare = RenderContext(ctx.evaluation, ctx.inputs)
    with pytest.raises(OutputError, match=r"tasks\.json: no remediation plan"):
        TasksJson().render(bare)


def test_large_files_are_spooled_to_disk_with_the_same_bytes(ctx: RenderContext, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import tempfile

    from patchpolicy.outdir import Streamed
    from patchpolicy.render import bundle as render_bundle

    held = render_all(ctx, bundle_renderers())
    monkeypatch.setattr(render_bundle, "SPOOL_BYTES", 0)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    spooled = render_all(ctx, bundle_renderers())
    assert all(isinstance(b, Streamed) for n, b in spooled.items() if n != SUMS_FILE)
    assert {n: body_sha256(b) for n, b in spooled.items()} == {n: body_sha256(b) for n, b in held.items()}
    report = spooled["report.md"]
    assert isinstance(report, Streamed)
    assert b"".join(report.chunks()) == held["report.md"]
    parts = set(tmp_path.glob("patchpolicy-*.part"))
    assert parts
    del spooled, report
    gc.collect()
    assert not list(tmp_path.glob("patchpolicy-*.part"))  # removed with their bodies


@pytest.mark.parametrize("jobs", [1, 2])
def test_rendering_while_planning_gives_the_same_files(ctx: RenderContext, jobs: int) -> None:
    import dataclasses
    import os

    from patchpolicy.render.bundle import render_while_planning

    assert ctx.plan is not None
    one = render_all(ctx, bundle_renderers())
    made_in: list[int] = []

    def make_plan() -> object:
        made_in.append(os.getpid())
        return ctx.plan

    bare = dataclasses.replace(ctx, plan=None)
    files, plan = render_while_planning(bare, bundle_renderers(), make_plan, jobs=jobs)  # type: ignore[arg-type]
    assert plan is ctx.plan and made_in == [os.getpid()]  # planned here, once
    assert list(files) == list(one)
    assert {n: body_sha256(b) for n, b in files.items()} == {n: body_sha256(b) for n, b in one.items()}


def test_a_plan_that_fails_while_rendering_leaves_no_rendered_file(ctx: RenderContext, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses
    import tempfile

    from patchpolicy.render.bundle import render_while_planning

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    def make_plan() -> object:
        raise OutputError("the plan failed")

    with pytest.raises(OutputError, match="the plan failed"):
        render_while_planning(dataclasses.replace(ctx, plan=None), bundle_renderers(), make_plan)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())  # the forked renderers' files were removed
