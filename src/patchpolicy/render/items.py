"""items.jsonl: every item of the evaluation, one JSON object per line, sorted by
(policy, host, finding); streamed from the evaluation's item log, never held whole.

``evidence.json`` records its count, size and SHA-256 (``items_file``), so the summary
document stays small while the items stay complete and verifiable.
"""

from __future__ import annotations

from patchpolicy.outdir import Streamed
from patchpolicy.render.interface import RenderContext, StreamingRenderer

ITEMS_FILE = "items.jsonl"


class ItemsJsonl(StreamingRenderer):
    filename = ITEMS_FILE

    def stream(self, ctx: RenderContext) -> Streamed:
        items = ctx.evaluation.items
        return Streamed(items.chunks, sha256=items.sha256, file=items.path if items.spilled else None)
