"""``--dask``: host ranges judged on a Dask LocalCluster (two in-process workers, the
``cluster`` fixture of conftest) give the same bytes as one process, for the whole
evidence bundle and for ``check``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import distributed  # the dask extra: in the dev and test extras, so CI runs these
import pytest
from click.testing import CliRunner

from conftest import files_of, fleet_workdir
from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fleet_workdir(tmp_path_factory, "dask")


def run(workdir: Path, *args: str) -> Any:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        result = CliRunner().invoke(main, list(args))
    assert result.exit_code in (0, 1), result.output
    return result


def test_a_bundle_judged_on_dask_equals_one_process(
    workdir: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchpolicy.dask_cluster as dc

    ranges: list[int] = []
    real = dc.plan_ranges

    def counting(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        ranges.append(len(out))
        return out

    monkeypatch.setattr(dc, "plan_ranges", counting)
    base = ["evaluate", "-p", "examples/policies", "-s", "fleet.jsonl"]
    one = run(workdir, *base, "-o", "one", "--jobs", "1")
    many = run(workdir, *base, "-o", "many", "--dask", cluster.scheduler_address)
    assert ranges == [2]  # judged on dask once, one range per worker
    assert one.exit_code == many.exit_code
    a, b = files_of(workdir / "one"), files_of(workdir / "many")
    assert sorted(a) == sorted(b) and len(a["items.jsonl"].splitlines()) > 10_000
    for name in a:
        assert a[name] == b[name], name


def test_verify_on_dask_reproduces_a_one_process_bundle(workdir: Path, cluster: Any) -> None:
    if not (workdir / "one").exists():
        run(workdir, "evaluate", "-p", "examples/policies", "-s", "fleet.jsonl", "-o", "one")
    result = run(workdir, "verify", "one", "-p", "examples/policies", "-s", "fleet.jsonl",
                 "--dask", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    assert "reproduced" in result.output


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_check_on_dask_equals_one_process(workdir: Path, cluster: Any, fmt: str) -> None:
    base = ["check", "-p", "examples/policies", "-s", "fleet.jsonl", "--format", fmt]
    one = run(workdir, *base, "--jobs", "1")
    many = run(workdir, *base, "--dask", cluster.scheduler_address)
    assert one.exit_code == many.exit_code
    assert one.stdout == many.stdout


def test_workers_that_cannot_read_the_snapshot_get_its_bytes(
    workdir: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchpolicy.dask_cluster as dc
    from patchpolicy.evaluator import evaluate
    from patchpolicy.loader import load_bundle
    from patchpolicy.snapshot import open_snapshot

    seen: list[str] = []
    monkeypatch.setattr(dc, "_size_seen", lambda path: seen.append(path) or f"{path}: not here")
    bundle = load_bundle([workdir / "examples" / "policies"])
    snap = open_snapshot(workdir / "fleet.jsonl")
    as_of = snap.header.taken_at
    with distributed.Client(cluster) as client:
        shipped = dc.evaluate_on_dask(bundle, snap, scheduler=client, as_of=as_of,
                                      keep_items=True, memory_items=500)
    assert len(seen) == 2  # each worker asked, and was sent the bytes instead
    one = evaluate(bundle, open_snapshot(workdir / "fleet.jsonl").hosts(), as_of=as_of,
                   taken_at=as_of)
    assert b"".join(shipped.items.chunks()) == b"".join(one.items.chunks())
    assert shipped.worst == one.worst and shipped.checks == one.checks


def test_a_bad_line_on_a_worker_names_its_line(
    workdir: Path, cluster: Any, tmp_path: Path
) -> None:
    lines = (workdir / "fleet.jsonl").read_bytes().splitlines(keepends=True)
    lines[-3] = b'{"id": "broken"\n'
    (tmp_path / "bad.jsonl").write_bytes(b"".join(lines))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        result = CliRunner().invoke(main, [
            "check", "-p", str(workdir / "examples" / "policies"), "-s", "bad.jsonl",
            "--dask", cluster.scheduler_address])
    assert result.exit_code == 2
    assert f"bad.jsonl:{len(lines) - 2}:" in result.output


def test_dask_option_without_the_extra_says_how_to_install(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import fails as if absent
    monkeypatch.chdir(workdir)
    result = CliRunner().invoke(main, ["check", "-p", "examples/policies", "-s", "fleet.jsonl",
                                       "--dask", "local"])
    assert result.exit_code == 2
    assert "pip install 'patchpolicy[dask]'" in result.output
