"""cel-python's lark grammar: the parser (its LALR tables cached in the user's cache
directory), syntax errors with the offset of the offending token, and the small helpers
that read the trees it builds (shared by the static checks, guards and predicates)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import celpy
import lark
from celpy.celparser import CELParser
from celpy.evaluation import TranspilerTree

from patchpolicy.errors import ExprError

__all__ = [
    "is_null",
    "node_offset",
    "parse",
    "string_value",
    "token_offset",
    "unwrap",
]

_parser: lark.Lark | None = None


def _cache_dir() -> Path | None:
    """The user's cache directory for patchpolicy (``$XDG_CACHE_HOME/patchpolicy`` or
    ``~/.cache/patchpolicy``), created private; None when it cannot be used safely (not
    ours, or writable by others: the cache is a pickle, loaded only from our own files)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    d = Path(base) / "patchpolicy"
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o022:
        return None
    return d


def _lark() -> lark.Lark:
    """cel-python's grammar, built once, for ``CompiledRunner`` (TranspilerTree) trees.

    Our own instance rather than cel-python's class-level singleton, whose tree class is
    whatever the first ``celpy.Environment`` in the process asked for. Building the LALR
    tables costs ~1.2 s per process; lark's cache of them (keyed by the grammar, the
    options, lark's and Python's versions, and checked on load) takes ~0.04 s. The cache
    file is written aside and renamed, so a concurrent process never reads half of it.
    """
    global _parser
    if _parser is None:
        import hashlib
        import os

        grammar = (Path(celpy.__file__).parent / "cel.lark").read_text(encoding="utf-8")
        options: dict[str, Any] = {
            "parser": "lalr",
            "start": "expr",
            "g_regex_flags": re.M,
            "lexer_callbacks": {"IDENT": CELParser.ambiguous_literals},
            "propagate_positions": True,
            "maybe_placeholders": False,
            "priority": "invert",
            "tree_class": TranspilerTree,
        }
        cache_dir = _cache_dir()
        if cache_dir is None:
            _parser = lark.Lark(grammar, **options)
            return _parser
        key = hashlib.sha256(f"{grammar}{lark.__version__}".encode()).hexdigest()[:16]
        cache = cache_dir / f"cel-grammar-{key}.lark"
        if cache.is_file():
            _parser = lark.Lark(grammar, cache=str(cache), **options)
            return _parser
        tmp = cache_dir / f".{cache.name}.{os.getpid()}.tmp"
        _parser = lark.Lark(grammar, cache=str(tmp), **options)
        try:
            os.replace(tmp, cache)
        except OSError:
            tmp.unlink(missing_ok=True)
    return _parser


def parse(source: str) -> TranspilerTree:
    """Parse CEL text with cel-python's lark grammar; raise ExprError with the 0-based
    offset of the offending token (the end of the text for a truncated expression)."""
    try:
        tree = _lark().parse(source)
    except lark.exceptions.UnexpectedToken as e:
        if e.token.type == "$END":
            raise _end_of_input(source) from e
        raise ExprError(
            f"syntax error: unexpected {e.token.value!r}", _offset(source, e)
        ) from e
    except lark.exceptions.UnexpectedCharacters as e:
        raise ExprError(
            f"syntax error: unexpected character {e.char!r}", _offset(source, e)
        ) from e
    except lark.exceptions.UnexpectedEOF as e:
        raise _end_of_input(source) from e
    except lark.exceptions.LarkError as e:
        raise ExprError(f"syntax error: {str(e).splitlines()[0]}", 0) from e
    except RecursionError as e:  # pathologically nested input
        raise ExprError("syntax error: expression nested too deeply", 0) from e
    return cast(TranspilerTree, tree)


_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def _end_of_input(source: str) -> ExprError:
    """A truncated expression: point at the bracket left open, when there is one.

    When the text stops on an operator (``a >``), the missing operand is the problem,
    so the error points at the end instead.
    """
    text = source.rstrip()
    opened = _unclosed(source)
    if opened is not None and not text.endswith(tuple("=<>!&|+-*/%,.?:")):
        char, offset = opened
        return ExprError(f"syntax error: {char!r} is never closed (expected {_CLOSERS[char]!r})", offset)
    return ExprError("syntax error: unexpected end of expression", len(text))


def _unclosed(source: str) -> tuple[str, int] | None:
    """The innermost bracket still open at the end of ``source``, skipping string literals."""
    stack: list[tuple[str, int]] = []
    quote: str | None = None
    i = 0
    while i < len(source):
        ch = source[i]
        if quote is not None:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch in _CLOSERS:
            stack.append((ch, i))
        elif ch in (")", "]", "}") and stack and _CLOSERS[stack[-1][0]] == ch:
            stack.pop()
        i += 1
    return stack[-1] if stack else None


def _offset(source: str, e: lark.exceptions.UnexpectedInput) -> int:
    pos = getattr(e, "pos_in_stream", None)
    if isinstance(e, lark.exceptions.UnexpectedToken):
        pos = getattr(e.token, "start_pos", pos)
    if isinstance(pos, int) and 0 <= pos <= len(source):
        return pos
    lines = source.split("\n")  # lark counts lines by "\n"; columns are 1-based
    line, column = max(e.line, 1), max(e.column, 1)
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


# -- reading the trees -------------------------------------------------------------------


def unwrap(node: Any) -> Any:
    """Descend through single-child grammar layers (expr -> ... -> primary)."""
    while (
        isinstance(node, lark.Tree)
        and len(node.children) == 1
        and isinstance(node.children[0], lark.Tree)
        and node.data in ("expr", "conditionalor", "conditionaland", "relation", "addition",
                          "multiplication", "unary", "member", "primary", "paren_expr")
    ):
        node = node.children[0]
    return node


def is_null(node: Any) -> bool:
    """Whether ``node`` is the literal ``null`` (under any single-child layers)."""
    node = unwrap(node)
    return (
        isinstance(node, lark.Tree)
        and node.data == "literal"
        and isinstance(node.children[0], lark.Token)
        and node.children[0].type == "NULL_LIT"
    )


def string_value(token: lark.Token) -> str:
    """The text between the quotes of a string literal token (escapes not expanded)."""
    text = str(token.value).lstrip("rR")
    quote = 3 if text[:3] in ('"""', "'''") else 1
    return text[quote:-quote]


def token_offset(token: Any) -> int:
    """The 0-based offset of a token in the source."""
    return int(token.start_pos or 0)


def node_offset(node: Any) -> int:
    """The 0-based offset where a token or tree starts (0 when the tree has no position)."""
    if isinstance(node, lark.Token):
        return token_offset(node)
    meta = getattr(node, "meta", None)
    return int(getattr(meta, "start_pos", 0) or 0) if meta is not None else 0
