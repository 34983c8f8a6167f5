"""An evidence bundle does not depend on the number of processes that judged the fleet:
``evaluate --jobs 1`` and ``--jobs 2`` write the same bytes in every file, and ``verify
--jobs 2`` reproduces a bundle written by one process."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import files_of, fleet_workdir
from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fleet_workdir(tmp_path_factory, "jobs")


def evaluate(workdir: Path, out: str, *extra: str) -> tuple[int, dict[str, bytes]]:
    args = ["evaluate", "-p", "examples/policies", "-s", "fleet.jsonl", "-o", out, *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, files_of(workdir / out)


@pytest.fixture(scope="module")
def one_process(fleet_dir: Path) -> tuple[int, dict[str, bytes]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(fleet_dir)
        return evaluate(fleet_dir, "one", "--jobs", "1")


def test_two_processes_write_the_same_bundle(
    fleet_dir: Path, one_process: tuple[int, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchpolicy.parallel as parallel

    calls: list[int] = []
    real = parallel.evaluate_parallel

    def spy(*args: object, jobs: int, **kwargs: object) -> object:
        calls.append(jobs)
        assert kwargs.get("keep_items") is True
        return real(*args, jobs=jobs, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(parallel, "evaluate_parallel", spy)
    monkeypatch.chdir(fleet_dir)
    code_one, one = one_process
    code_two, two = evaluate(fleet_dir, "two", "--jobs", "2")
    assert calls == [2]  # the sharded evaluator ran, once
    assert code_one == code_two
    assert one["SHA256SUMS"] == two["SHA256SUMS"]
    assert sorted(one) == sorted(two)
    assert len(one["items.jsonl"].splitlines()) > 10_000
    for name in one:
        assert one[name] == two[name], name


def test_verify_with_two_processes_reproduces_a_one_process_bundle(
    fleet_dir: Path, one_process: tuple[int, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fleet_dir)
    result = CliRunner().invoke(
        main, ["verify", "one", "-p", "examples/policies", "-s", "fleet.jsonl", "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "reproduced" in result.output
