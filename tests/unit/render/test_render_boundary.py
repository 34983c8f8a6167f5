"""Renderers read the result (``model.evaluation``) and per-policy sources, never the
compiled bundle or the evaluator (issue 13 #1): an AST scan of render/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RENDER = Path(__file__).resolve().parents[3] / "src" / "patchpolicy" / "render"
MODULES = sorted(RENDER.rglob("*.py"))


def test_there_are_renderers_to_scan() -> None:
    assert len(MODULES) > 10


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(RENDER)))
def test_a_renderer_module_reaches_neither_the_bundle_nor_the_evaluator(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "bundle":
            problems.append(f"line {node.lineno}: .bundle")
        elif isinstance(node, ast.ImportFrom) and node.module and (
            node.module.startswith("patchpolicy.evaluator") or node.module == "patchpolicy.model.bundle"
        ):
            problems.append(f"line {node.lineno}: from {node.module} import")
        elif isinstance(node, ast.Import) and any(
            a.name.startswith("patchpolicy.evaluator") for a in node.names
        ):
            problems.append(f"line {node.lineno}: import evaluator")
    assert problems == []
