"""The renderers' views of the items come from one shared pass (render.views): a bundle
reads the items once for JUnit, OSCAL, POA&M, the reports and SARIF's host counts (and
once more for SARIF's results), and a view's result is the same shared or alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from render_helpers import build_context

from patchpolicy.itemlog import ItemStream
from patchpolicy.model.results import Item
from patchpolicy.render import bundle_renderers
from patchpolicy.render.bundle import SUMS_FILE, render_all
from patchpolicy.render.grouping import Groups, ReportRows
from patchpolicy.render.interface import RenderContext
from patchpolicy.render.junit import JunitXml
from patchpolicy.render.oscal.plan_of_action import OscalPoam
from patchpolicy.render.views import collect, view


class CountingStream(ItemStream):
    """An item stream that counts the passes over it."""

    def __init__(self, items: list[Item]) -> None:
        super().__init__(items=items)
        self.passes = 0

    def __iter__(self) -> Iterator[Item]:
        self.passes += 1
        return super().__iter__()


def _counted() -> tuple[RenderContext, CountingStream]:
    ctx = build_context()
    stream = CountingStream(list(ctx.evaluation.items))
    assert len(stream) > 0
    ev = dataclasses.replace(ctx.evaluation, items=stream)
    return dataclasses.replace(ctx, evaluation=ev), stream


def test_a_bundle_reads_the_items_twice_whatever_the_number_of_renderers() -> None:
    ctx, stream = _counted()
    files = render_all(ctx, bundle_renderers())
    # The shared pass, then SARIF's results (which need the host counts first).
    assert stream.passes == 2
    reference = render_all(build_context(), bundle_renderers())
    assert files[SUMS_FILE] == reference[SUMS_FILE]  # every file's digest


def test_views_asked_together_share_one_pass_and_are_kept() -> None:
    ctx, stream = _counted()
    renderers = [JunitXml(), OscalPoam()]
    wanted = [v for r in renderers for v in r.views(ctx.options)] + [ReportRows(7)]
    collect(ctx.evaluation, wanted)
    assert stream.passes == 1
    for v in wanted:
        view(ctx.evaluation, v)  # kept: no more passes
    collect(ctx.evaluation, wanted)
    assert stream.passes == 1
    view(ctx.evaluation, ReportRows(8))  # not asked for before: one pass of its own
    assert stream.passes == 2


def test_a_view_is_the_same_shared_or_alone() -> None:
    shared_ctx, _ = _counted()
    alone_ctx, _ = _counted()
    spec = JunitXml().views(shared_ctx.options)[0]
    assert isinstance(spec, Groups)
    collect(shared_ctx.evaluation, [spec, *OscalPoam().views(shared_ctx.options), ReportRows(3)])
    shared = view(shared_ctx.evaluation, spec)
    alone = view(alone_ctx.evaluation, spec)
    assert shared, "the example evaluation has failing items to group"
    assert [(g.key, g.items, g.hosts, dict(g.verdicts), [i.finding for i in g.sample.values()])
            for g in shared] == \
        [(g.key, g.items, g.hosts, dict(g.verdicts), [i.finding for i in g.sample.values()])
         for g in alone]
