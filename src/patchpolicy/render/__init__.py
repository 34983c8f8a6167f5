"""Renderers: one module per output behind one interface (``Renderer``).

Two closed sets (``outputs``), each with an exhaustive factory (``registry``):
``BundleOutput`` (every file of an evidence bundle) and ``CheckFormat`` (what
``check --format`` prints to stdout).
"""

from __future__ import annotations

from patchpolicy.render.interface import RenderContext, Renderer
from patchpolicy.render.outputs import BundleOutput, CheckFormat, required_files
from patchpolicy.render.registry import bundle_renderers, check_renderer, renderer_for

__all__ = [
    "BundleOutput",
    "CheckFormat",
    "RenderContext",
    "Renderer",
    "bundle_renderers",
    "check_renderer",
    "renderer_for",
    "required_files",
]
