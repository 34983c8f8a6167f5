"""Fixtures shared by the CLI tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def fleet_workdir(tmp_path_factory: pytest.TempPathFactory, name: str, *,
                  findings: int = 10_000, hosts: int = 200) -> Path:
    """A working directory with examples/ and a generated 10^4-finding JSON Lines fleet
    (``fleet.jsonl``, 200 hosts): what the parallel and Dask tests judge."""
    d = tmp_path_factory.mktemp(name)
    shutil.copytree(ROOT / "examples", d / "examples")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_fleet.py"),
         "--findings", str(findings), "--hosts", str(hosts), "-o", str(d / "fleet.jsonl")],
        check=True, capture_output=True,
    )
    return d


@pytest.fixture(scope="session")
def cluster() -> Iterator[Any]:
    """One Dask LocalCluster for every test that needs one: two workers in this process
    (threads), fast to start, and the same code paths as worker processes (the policy
    bundle shipped as files, ranges read from the path)."""
    import distributed  # the dask extra: in the dev and test extras, so CI runs these

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as c:
        yield c
