"""Fixtures shared by the renderer tests (helpers live in render_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from render_helpers import SCHEMAS, build_context

from patchpolicy.render.interface import RenderContext


@pytest.fixture(scope="session")
def ctx() -> RenderContext:
    """The examples evaluated at the fixed as-of, with their remediation plan."""
    return build_context()


@pytest.fixture(scope="session")
def schemas() -> Path:
    """The official schemas (copies under tests/data/realdata/schemas)."""
    return SCHEMAS
