"""evidence.json: the complete, machine-readable record of one evaluation."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import msgspec

from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.outputs import required_files

EVIDENCE_KIND = "Evidence"


def _counts(counter: Counter[str] | dict[str, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counter.items(), key=lambda kv: str(kv[0])) if v}


def evidence_document(ctx: RenderContext, *, inline_items: bool = True) -> dict[str, Any]:
    """The evidence as plain data. ``check --format json`` prints it with the items
    inline; the bundle's evidence.json names ``items.jsonl`` (count, size, digest) instead."""
    ev = ctx.evaluation
    t = ev.tally
    doc = {
        "apiVersion": "patchpolicy/v1",
        "kind": EVIDENCE_KIND,
        "tool": {"name": "patchpolicy", "version": ctx.inputs.tool_version},
        "as_of": ev.as_of,
        "inputs": {"policies": ctx.inputs.policies, "snapshot": ctx.inputs.snapshot},
        "policies": ev.policies,
        "summary": {
            "hosts_read": t.hosts_read,
            "findings_read": t.findings_read,
            "items_judged": t.items,
            "hosts_in_scope": _counts(t.hosts_in_scope),
            "by_verdict": _counts(t.by_verdict),
            "by_bucket": _counts(t.by_bucket),
            "by_policy": {p: _counts(c) for p, c in sorted(t.by_policy.items())},
            "host_checks": {
                "by_verdict": _counts(t.checks_by_verdict),
                "by_bucket": _counts(t.checks_by_bucket),
            },
            "gate": ctx.result.to_dict(),
        },
        "controls": ev.controls,
        "exceptions": ev.exceptions,
        "host_checks": ev.checks,
    }
    if inline_items:
        doc["items"] = list(ev.items)
    else:
        from patchpolicy.render.items import ITEMS_FILE

        doc["items_file"] = {
            "path": ITEMS_FILE, "count": len(ev.items), "size": ev.items.size, "sha256": ev.items.sha256,
        }
    return doc


_ENCODER = msgspec.json.Encoder(order="deterministic")


def encode_json(data: Any) -> bytes:
    """Canonical JSON: deterministic key order of dicts, 2-space indent, newline at end."""
    return msgspec.json.format(_ENCODER.encode(data), indent=2) + b"\n"


class EvidenceJson(Renderer):
    """The bundle's evidence.json: ``evidence_document`` with the items in items.jsonl,
    plus ``files``: the bundle's required files, so that ``verify`` can tell a complete
    bundle from one with files deleted along with their sums, and ``render_options``: the
    caps and grouping the other files were made with, so that ``verify`` remakes them so."""

    filename = "evidence.json"

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json({**evidence_document(ctx, inline_items=False), "files": required_files(),
                            "render_options": dataclasses.asdict(ctx.options)})


class EvidenceStdout(Renderer):
    """``check --format json``: one self-contained document, the items inline."""

    filename = "evidence.json"

    def render(self, ctx: RenderContext) -> bytes:
        return encode_json(evidence_document(ctx))
