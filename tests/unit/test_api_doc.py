"""docs/api.md's embedding example runs as written on the example bundle and fleet, and
the public API is what ``__all__`` says."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import patchpolicy
import patchpolicy.api
from patchpolicy.cli import main
from patchpolicy.verify import verify_bundle

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "api.md"


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/api.md should hold exactly one python block"
    return str(blocks[0])


def test_the_example_is_about_ten_lines() -> None:
    code = [line for line in _example().splitlines() if line.strip() and not line.startswith(("import", "from"))]
    assert len(code) <= 10


def test_the_embedding_example_runs_and_writes_a_verifiable_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(ROOT / "examples" / "policies", tmp_path / "policies")
    shutil.copy(ROOT / "examples" / "fleet.json", tmp_path / "fleet.json")
    monkeypatch.chdir(tmp_path)
    exec(compile(_example(), str(DOC), "exec"), {"__name__": "api_md"})  # noqa: S102 - the doc's own code
    printed = capsys.readouterr().out
    assert printed == "FAIL: 11 failing, 6 tasks\n"  # what docs/api.md says it prints
    assert printed.strip() in DOC.read_text(encoding="utf-8")
    bundle = tmp_path / "evidence"
    v = verify_bundle(bundle)
    assert v.ok and v.checked > 10, v.lines()
    evidence = json.loads((bundle / "evidence.json").read_text(encoding="utf-8"))
    assert evidence["summary"]["gate"]["failing"] == 11
    assert evidence["summary"]["gate"]["fail_on"] == ["due_soon"]
    # The same items and plan as the CLI writes from the same inputs.
    result = CliRunner().invoke(main, ["evaluate", "-p", "policies", "-s", "fleet.json",
                                       "--fail-on", "due_soon", "-o", "cli"])
    assert result.exit_code == 1, result.output
    for name in ("items.jsonl", "tasks.json", "tasks.csv", "junit.xml"):
        assert (bundle / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name


def test_write_evidence_refuses_a_directory_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me\n")
    with pytest.raises(patchpolicy.OutputError):
        patchpolicy.write_evidence(out, [ROOT / "examples" / "policies"], ROOT / "examples" / "fleet.json")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize("module", [patchpolicy, patchpolicy.api], ids=lambda m: m.__name__)
def test_all_names_exist_and_are_public(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(module, name), name
        assert not name.startswith("_") or name == "__version__"


def test_api_does_not_import_the_package_init() -> None:
    """``patchpolicy/__init__`` re-exports ``api``; ``api`` never imports names from the
    package root (the version has its own module), so there is no cycle."""
    tree = ast.parse((ROOT / "src" / "patchpolicy" / "api.py").read_text(encoding="utf-8"))
    roots = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "patchpolicy"]
    roots += [n for n in ast.walk(tree) if isinstance(n, ast.Import)
              and any(a.name == "patchpolicy" for a in n.names)]
    assert roots == []


def test_the_error_tree_has_one_root() -> None:
    errors = [getattr(patchpolicy, n) for n in patchpolicy.__all__ if n.endswith("Error")]
    assert len(errors) >= 6
    assert all(issubclass(e, patchpolicy.PatchPolicyError) for e in errors)
