"""An output path never destroys what is not ours (issue 12 #1)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.outdir import OUTPUT_MARKER, replace_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "examples" / "policies", tmp_path / "policies")
    shutil.copy(ROOT / "examples" / "fleet.json", tmp_path / "fleet.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def evaluate(*out: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["evaluate", "-p", "policies", "-s", "fleet.json", "-o", *out])
    return result.exit_code, result.stderr


def listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


@pytest.mark.parametrize("target", [".", "policies", "policies/..", ""])
def test_refuses_the_working_directory_and_parents_of_inputs_even_forced(work: Path, target: str) -> None:
    before = listing(work)
    for extra in ((), ("--force",)):
        code, err = evaluate(target, *extra)
        assert code == 2, err
        assert "refusing" in err or "empty" in err
    assert listing(work) == before


def test_refuses_a_foreign_non_empty_directory_unless_forced(work: Path) -> None:
    (work / "mine").mkdir()
    (work / "mine" / "notes.txt").write_text("precious")
    code, err = evaluate("mine")
    assert code == 2 and "not written by patchpolicy" in err and "--force" in err
    assert (work / "mine" / "notes.txt").read_text() == "precious"
    code, _ = evaluate("mine", "--force")
    assert code == 1  # the example fleet fails, as intended
    assert (work / "mine" / OUTPUT_MARKER).is_file() and not (work / "mine" / "notes.txt").exists()


def test_replaces_an_empty_or_own_directory_and_verify_accepts_the_marker(work: Path) -> None:
    (work / "out").mkdir()
    assert evaluate("out")[0] == 1
    assert (work / "out" / OUTPUT_MARKER).is_file()
    assert evaluate("out")[0] == 1  # its own output: replaced without --force
    result = CliRunner().invoke(main, ["verify", "out"])
    assert result.exit_code == 0, result.output


def test_an_existing_file_is_exit_2_and_kept(work: Path) -> None:
    (work / "taken").write_text("keep")
    code, err = evaluate("taken")
    assert code == 2 and "not a directory" in err
    assert (work / "taken").read_text() == "keep"


def test_stale_temporary_directories_of_dead_writers_are_removed(work: Path) -> None:
    pid = 2**22 + 12345  # beyond the default pid_max: never a live process
    stale = work / f".out.tmp-{pid}-abc123"
    stale.mkdir()
    (stale / "evidence.json").write_text("{}")
    live = work / f".out.tmp-{os.getpid()}-keep"
    live.mkdir()
    replace_dir(work / "out", {"a.txt": b"a"})
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in (work / "out").iterdir()) == [OUTPUT_MARKER, "a.txt"]
    leftovers = [p.name for p in work.iterdir() if p.name.startswith(".out.")]
    assert leftovers == [live.name]


def test_concurrent_writers_are_serialised_and_leave_one_whole_bundle(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(5):
                replace_dir(tmp_path / "out", {f"f{i}": str(n).encode() for i in range(20)})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    contents = {(tmp_path / "out" / f"f{i}").read_bytes() for i in range(20)}
    assert len(contents) == 1  # one writer's whole bundle, never a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing leaked
