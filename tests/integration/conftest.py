"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of examples/ in a temp dir that is also the working directory, so paths in
    the evidence are relative (``examples/...``) and do not name this machine."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def files_of(bundle: Path) -> dict[str, bytes]:
    """Every file under ``bundle`` (relative path -> bytes), to compare two bundles."""
    return {str(p.relative_to(bundle)): p.read_bytes() for p in sorted(bundle.rglob("*"))
            if p.is_file()}


def fleet_workdir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A working directory with examples/ and a generated 10^4-finding JSON Lines fleet
    (``fleet.jsonl``, 200 hosts): what the parallel and Dask tests judge."""
    d = tmp_path_factory.mktemp(name)
    shutil.copytree(ROOT / "examples", d / "examples")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_fleet.py"),
         "--findings", "10000", "--hosts", "200", "-o", str(d / "fleet.jsonl")],
        check=True, capture_output=True,
    )
    return d
