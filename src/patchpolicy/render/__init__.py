"""Renderers: one module per output behind one interface (``Renderer``)."""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

from patchpolicy.render.evidence import EvidenceJson
from patchpolicy.render.interface import RenderContext, Renderer


class BundleOutput(StrEnum):
    """Every file ``evaluate`` writes into an evidence bundle (SHA256SUMS aside)."""

    EVIDENCE_JSON = "evidence.json"


def renderer_for(output: BundleOutput) -> Renderer:
    match output:
        case BundleOutput.EVIDENCE_JSON:
            return EvidenceJson()
        case _:
            assert_never(output)


def bundle_renderers() -> list[Renderer]:
    return [renderer_for(o) for o in BundleOutput]


__all__ = ["BundleOutput", "RenderContext", "Renderer", "bundle_renderers", "renderer_for"]
