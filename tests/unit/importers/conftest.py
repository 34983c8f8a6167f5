"""Fixtures for the importer tests: the real scanner files, and a snapshot validator."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from patchpolicy.model.fleet import FleetSnapshot

# Copies (trimmed where large) of the real files; tests/data/SOURCES.md says where each is from.
REALDATA = Path(__file__).parents[2] / "data" / "realdata"


@pytest.fixture
def realdata() -> Path:
    return REALDATA


def _validate(path: Path) -> FleetSnapshot:
    """Check a written snapshot (.json or .jsonl) against the pydantic FleetSnapshot model."""
    if path.suffix == ".jsonl":
        lines = path.read_text().splitlines()
        doc = json.loads(lines[0])
        doc["hosts"] = [json.loads(line) for line in lines[1:]]
        return FleetSnapshot.model_validate(doc)
    return FleetSnapshot.model_validate_json(path.read_bytes())


@pytest.fixture
def validate() -> Callable[[Path], FleetSnapshot]:
    return _validate


@pytest.fixture
def write_json(tmp_path: Path) -> Callable[[str, object], Path]:
    """Write a (derived) JSON document into the test's temporary directory."""

    def write(name: str, doc: object) -> Path:
        p = tmp_path / name
        p.write_text(json.dumps(doc, indent=1))
        return p

    return write
