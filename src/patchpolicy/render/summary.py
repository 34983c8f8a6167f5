"""``check --format text``: the one-screen terminal summary behind the ``Renderer`` interface."""

from __future__ import annotations

from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.text import check_summary


class TextSummary(Renderer):
    """The summary ``check`` prints by default; failing counts honour ``fail_on``."""

    filename = "summary.txt"

    def __init__(self, fail_on: frozenset[str] = frozenset(), limit: int = 10) -> None:
        self.fail_on = fail_on
        self.limit = limit

    def render(self, ctx: RenderContext) -> bytes:
        ev = ctx.evaluation
        return check_summary(ev, ev.failing(self.fail_on), self.limit).encode()
