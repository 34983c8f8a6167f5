"""The CEL grammar's LALR tables are cached in the user's cache directory: the cached
parser parses exactly as a fresh one, a damaged or foreign cache is never trusted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from patchpolicy.expr import grammar

SOURCE = 'finding.severity == "high" || (finding.cvss != null && finding.cvss >= 7.0)'


@pytest.fixture()
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(grammar, "_parser", None)
    return tmp_path / "patchpolicy"


def _tree() -> str:
    return grammar._lark().parse(SOURCE).pretty()


def test_the_cached_parser_parses_as_a_fresh_one(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _tree()
    files = list(fresh.iterdir())
    assert len(files) == 1 and files[0].name.startswith("cel-grammar-")  # no temp file left
    assert fresh.stat().st_mode & 0o777 == 0o700
    monkeypatch.setattr(grammar, "_parser", None)
    assert _tree() == built  # loaded from the cache this time


def test_a_damaged_cache_file_is_rebuilt(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _tree()
    (cache,) = fresh.iterdir()
    cache.write_bytes(cache.read_bytes()[:200])  # half a file
    monkeypatch.setattr(grammar, "_parser", None)
    assert _tree() == built


def test_a_directory_others_can_write_is_not_used(fresh: Path) -> None:
    fresh.mkdir(mode=0o700)
    os.chmod(fresh, 0o777)
    assert grammar._cache_dir() is None
    _tree()
    assert list(fresh.iterdir()) == []
