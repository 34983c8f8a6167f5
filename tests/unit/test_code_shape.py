"""The shape of the code (issue 13 #2): no module over 600 lines and no function over 60
lines unless the line directly above its ``def`` (or above its decorators) is a comment
that starts with ``# Long:`` and says why it reads best whole.

Read from the source with an AST scan of ``src/patchpolicy``; methods and nested
functions count as functions. A function's length runs from its ``def`` line to its last
line (decorators not counted).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import patchpolicy

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60
REASON = "# Long:"

SOURCE = Path(patchpolicy.__file__).parent


@dataclass(frozen=True)
class LongFunction:
    where: str
    line: int
    name: str
    lines: int

    def __str__(self) -> str:
        return f"{self.where}:{self.line} {self.name} ({self.lines} lines)"


def long_functions(text: str, where: str, limit: int = MAX_FUNCTION_LINES) -> list[LongFunction]:
    """The functions of ``text`` longer than ``limit`` lines without a ``# Long:`` reason."""
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text, where)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assert node.end_lineno is not None
        length = node.end_lineno - node.lineno + 1
        if length <= limit:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        above = lines[first - 2].strip() if first >= 2 else ""
        if not above.startswith(REASON):
            found.append(LongFunction(where, node.lineno, node.name, length))
    return sorted(found, key=lambda f: (f.where, f.line))


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def _body(n: int) -> str:
    """A function body of ``n`` lines."""
    return "".join(f"    x{i} = {i}\n" for i in range(n))


def test_the_scan_finds_a_long_function_and_accepts_a_stated_reason() -> None:
    limit = 5
    exact = "def ok():\n" + _body(limit - 1)  # def line + 4 = 5 lines: at the limit
    long = "def too_long():\n" + _body(limit)
    reasoned = "# Long: one table, read top to bottom.\ndef reasoned():\n" + _body(limit)
    decorated = "# Long: a reason above the decorators.\n@staticmethod\ndef decorated():\n" + _body(limit)
    misplaced = "@staticmethod\n# Long: between decorator and def does not count.\ndef misplaced():\n" + _body(limit)
    other_comment = "# a comment that gives no reason\ndef other():\n" + _body(limit)
    method = "class C:\n    def method(self):\n" + "".join(f"        y{i} = {i}\n" for i in range(limit))
    text = "\n".join([exact, long, reasoned, decorated, misplaced, other_comment, method])
    names = [f.name for f in long_functions(text, "sample.py", limit)]
    assert names == ["too_long", "misplaced", "other", "method"]
    assert str(long_functions(long, "sample.py", limit)[0]) == f"sample.py:1 too_long ({limit + 1} lines)"


def test_the_scan_reads_the_package() -> None:
    modules = _modules()
    assert SOURCE / "__init__.py" in modules and len(modules) > 50
    # With a limit of one line nearly every function is long: the scan sees the functions.
    assert sum(len(long_functions(m.read_text(), m.name, 1)) for m in modules) > 500


def test_no_module_is_over_600_lines() -> None:
    over = [
        f"{m.relative_to(SOURCE)} ({n} lines)"
        for m in _modules()
        if (n := len(m.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by job): " + "; ".join(over)


def test_no_function_is_over_60_lines_without_a_reason() -> None:
    found = [
        str(f)
        for m in _modules()
        for f in long_functions(m.read_text(), str(m.relative_to(SOURCE)))
    ]
    assert not found, (
        f"functions over {MAX_FUNCTION_LINES} lines: cut them into named steps, or put a "
        f"'{REASON} why' comment directly above the def (or its decorators): " + "; ".join(found)
    )
