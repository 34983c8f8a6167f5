"""``check --format text``: the one-screen terminal summary behind the ``Renderer`` interface."""

from __future__ import annotations

from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.text import check_summary


class TextSummary(Renderer):
    """The summary ``check`` prints by default; it states the run's gate result."""

    filename = "summary.txt"

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit

    def render(self, ctx: RenderContext) -> bytes:
        return check_summary(ctx.evaluation, ctx.result, self.limit).encode()
