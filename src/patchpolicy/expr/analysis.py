"""Static analysis of a CEL expression over its lark AST (cel-python's parser).

One walk answers everything the bridge needs before any snapshot is read: which
``host.*``/``finding.*`` paths the expression reads (the memo key), whether every
identifier and field exists (with a "did you mean" hint and the offset of the bad
token), whether the result can be a bool, and which duration literals use units that
only cel-python accepts. The rules it enforces, and why:

* Unknown roots and fields are errors; so is selecting into a scalar
  (``finding.severity.foo``).
* A whole message (``host``, ``finding``, ``finding.kev``, ``finding.package``,
  ``host.os``) may only be compared with ``null`` or tested with ``has()``: policies
  select fields, and keeping messages opaque lets the memo key be "present or not"
  and keeps the two engines' value conversions identical (cel-expr-python cannot carry
  timestamps inside a dynamic map, see :mod:`patchpolicy.expr.celexpr_engine`).
* ``has()`` only tests map keys (``has(host.labels.ring)``): every field is present,
  null when unknown, so ``has(finding.kev)`` would always be true; write ``!= null``.
* Comprehension variables may not shadow a root (``host.tags.exists(host, ...)``).
* ``duration()`` literals must use standard CEL units (h, m, s, ms, us, ns): cel-python
  also accepts ``d``, other CEL engines do not.
* With ``expect_bool``, a result that is statically known not to be a bool (a literal,
  arithmetic, a string/number/timestamp field read, ``size()``, ...) is an error.
* What can never work is an error at its token, not an ``error`` verdict at run time:
  a function or method neither engine has (``foo()``, ``s.lowerAscii()``); an operator
  whose operand types are known and have no overload (``host.name > 3``,
  ``host.name + 1``, ``finding.cvss + 1`` (double + int), ``!host.name``, ``x in "s"``);
  an equality between known different types, which is always false (``host.name == 3``);
  a string method on a non-string, a macro on a non-list, a timestamp accessor on a
  non-timestamp; and literal arguments that cannot convert: a regular expression RE2
  rejects (``matches("(")``), ``timestamp("garbage")`` (RFC 3339 only),
  ``duration("x")``, ``int("x")``. Comprehension variables are untyped (``any``), so
  what they reach is checked at run time only.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import celpy
import lark
from celpy.celparser import CELParser
from celpy.evaluation import TranspilerTree, celstr

from patchpolicy.errors import ExprError
from patchpolicy.model.fleet import FIELDS, FieldTree

__all__ = [
    "HIGH_CARDINALITY",
    "Analysis",
    "Read",
    "analyse",
    "parse",
    "timestamp_read_spans",
]

HIGH_CARDINALITY: frozenset[tuple[str, ...]] = frozenset(
    {
        ("host", "id"),
        ("host", "name"),
        ("finding", "id"),
        ("finding", "vuln"),
        ("finding", "aliases"),
        ("finding", "package", "purl"),
    }
)
"""Fields whose values are (nearly) unique per item: reading them defeats the memo."""

# Identifiers that name CEL types, usable as values (``type(x) == int``).
_TYPE_NAMES = frozenset(
    {"int", "uint", "double", "bool", "string", "bytes", "list", "map", "null_type",
     "type", "timestamp", "duration", "dyn"}
)
_MACROS = frozenset({"exists", "all", "exists_one", "map", "filter"})
# Uses of a list that do not depend on its order (the memo key may sort it).
_ORDER_FREE_METHODS = frozenset({"exists", "all", "exists_one", "size"})
_METHOD_TYPES = {
    "startsWith": "bool", "endsWith": "bool", "contains": "bool", "matches": "bool",
    "exists": "bool", "all": "bool", "exists_one": "bool",
    "size": "int", "map": "list", "filter": "list",
    "getFullYear": "int", "getMonth": "int", "getDate": "int", "getDayOfMonth": "int",
    "getDayOfWeek": "int", "getDayOfYear": "int", "getHours": "int", "getMinutes": "int",
    "getSeconds": "int", "getMilliseconds": "int",
}
_FUNCTION_TYPES = {
    "has": "bool", "size": "int", "int": "int", "uint": "uint", "double": "double",
    "string": "string", "bytes": "bytes", "bool": "bool", "timestamp": "timestamp",
    "duration": "duration", "type": "type", "matches": "bool", "dyn": "any",
}
_LITERAL_TYPES = {
    "INT_LIT": "int", "UINT_LIT": "uint", "FLOAT_LIT": "double", "STRING_LIT": "string",
    "MLSTRING_LIT": "string", "BYTES_LIT": "bytes", "BOOL_LIT": "bool", "NULL_LIT": "null",
}
# "any": nothing known (may be a bool); every other name is a definite CEL type.
_ANY = "any"
# A CEL duration string: decimal numbers with standard units, e.g. "72h", "1h30m", "1.5s".
_DURATION = re.compile(r"-?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:h|ms|us|µs|ns|m|s))+|-?0")
_DAYS = re.compile(r"(\d+)d")
# RFC 3339, as timestamp(string) requires (the engines' own rule, celpy_engine._RFC3339).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})"
)
_STRING_METHODS = frozenset({"startsWith", "endsWith", "contains", "matches"})
_TIMESTAMP_ONLY = frozenset(
    {"getFullYear", "getMonth", "getDate", "getDayOfMonth", "getDayOfWeek", "getDayOfYear"}
)
_TIMESTAMP_OR_DURATION = frozenset({"getHours", "getMinutes", "getSeconds", "getMilliseconds"})
_NUMBERS = frozenset({"int", "uint", "double", "number"})
_SYMBOLS = {
    "relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
    "relation_eq": "==", "relation_ne": "!=", "addition_add": "+", "addition_sub": "-",
    "multiplication_mul": "*", "multiplication_div": "/", "multiplication_mod": "%",
}


@dataclass(frozen=True)
class Read:
    """One static field-selection chain: the path it reads and how it is used."""

    path: tuple[str, ...]
    cel_type: str
    """FIELDS type name at the end of the path, or ``message``."""
    order_free: bool
    """For lists: the use does not depend on element order (``in``, exists, size...)."""
    start: int
    end: int
    in_has: bool


@dataclass(frozen=True)
class Analysis:
    """What one expression reads and returns, found without evaluating it."""

    source: str
    reads: tuple[Read, ...]
    result_type: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        """Every distinct path read, sorted."""
        return tuple(sorted({r.path for r in self.reads}))


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


MAX_EXPRESSION_LENGTH = 256 * 1024
"""Characters in one expression: room for an ``in [...]`` list of ~10,000 CVE ids."""
MAX_EXPRESSION_DEPTH = 250
"""Levels of the parse tree: about 24 nested parentheses, or a chain of ~230 ``||`` terms.
Deeper expressions are refused before any recursive analysis or engine sees them."""


def _depth(tree: lark.Tree[Any]) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > MAX_EXPRESSION_DEPTH:
                return deepest
        stack.extend((c, d + 1) for c in getattr(node, "children", ()))
    return deepest


def analyse(
    source: str,
    *,
    roots: frozenset[str] = frozenset({"host", "finding"}),
    expect_bool: bool = True,
    tree: lark.Tree[Any] | None = None,
) -> Analysis:
    """Parse and check ``source``; raise ExprError (with offset) on the first problem."""
    unknown = roots - FIELDS.keys()
    if unknown:
        raise ValueError(f"roots {sorted(unknown)} are not in the CEL field tree")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExprError(
            f"expression is {len(source):,} characters long; the limit is {MAX_EXPRESSION_LENGTH:,}", 0
        )
    if tree is None:
        tree = parse(source)
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ExprError(
            "expression nests too deeply (more than about 24 parentheses, or a chain of more "
            "than about 230 || or && terms): split it into rules, or use `in [...]` for a list",
            0,
        )
    walker = _Walker(source, roots)
    result = walker.visit(tree, frozenset())
    if expect_bool and result not in ("bool", _ANY):
        raise ExprError(
            f"expression must return bool, not {result}", len(source) - len(source.lstrip())
        )
    warnings = sorted(
        {
            f"reads high-cardinality field {'.'.join(r.path)}: "
            "evaluation cannot be memoised well"
            for r in walker.reads
            if r.path in HIGH_CARDINALITY or r.cel_type == "timestamp"
        }
    )
    return Analysis(source, tuple(walker.reads), result, tuple(warnings))


def timestamp_read_spans(tree: lark.Tree[Any], source: str) -> list[tuple[int, int]]:
    """Source spans of every timestamp-field read outside ``has()``, in text order.

    Used by engines that must rewrite those reads (cel-expr-python). Lenient: names
    outside FIELDS are skipped, not errors (the Engine API takes any activation).
    """
    walker = _Walker(source, frozenset(FIELDS), lenient=True)
    walker.visit(tree, frozenset())
    return sorted(
        (r.start, r.end) for r in walker.reads if r.cel_type == "timestamp" and not r.in_has
    )


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        # "enviroment" -> "env": a candidate that is a prefix of the typo, or vice versa.
        prefixed = [c for c in candidates if min(len(c), len(name)) >= 3
                    and (name.startswith(c) or c.startswith(name))]
        close = sorted(prefixed, key=len, reverse=True)[:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unwrap(node: Any) -> Any:
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


def _is_null(node: Any) -> bool:
    node = _unwrap(node)
    return (
        isinstance(node, lark.Tree)
        and node.data == "literal"
        and isinstance(node.children[0], lark.Token)
        and node.children[0].type == "NULL_LIT"
    )


def _string_value(token: lark.Token) -> str:
    text = str(token.value).lstrip("rR")
    quote = 3 if text[:3] in ('"""', "'''") else 1
    return text[quote:-quote]


class _Walker:
    """One recursive pass: collects reads, checks names, infers a coarse result type."""

    def __init__(self, source: str, roots: frozenset[str], *, lenient: bool = False) -> None:
        self.source = source
        self.roots = roots
        self.lenient = lenient
        """Lenient: record the known timestamp reads, skip every check (engines only)."""
        self.reads: list[Read] = []

    # -- helpers -------------------------------------------------------------------------

    def _error(self, message: str, offset: int) -> ExprError:
        return ExprError(message, offset)

    def _chain(self, node: Any, scope: frozenset[str]) -> list[lark.Token] | None:
        """The tokens of a static selection chain ``root.a.b``, or None."""
        if not isinstance(node, lark.Tree):
            return None
        if node.data == "member" and len(node.children) == 1:
            node = node.children[0]
        if node.data == "member_dot":
            inner = self._chain(node.children[0], scope)
            return None if inner is None else [*inner, node.children[1]]
        if node.data == "primary":
            node = node.children[0]
        if node.data == "ident":
            token = node.children[0]
            if token.value in self.roots and token.value not in scope:
                return [token]
        return None

    def _read(
        self,
        chain: list[lark.Token],
        *,
        message_ok: bool = False,
        order_free: bool = False,
        in_has: bool = False,
    ) -> str:
        """Record a chain's read and return its static type."""
        root = chain[0].value
        tree: str | FieldTree = FIELDS[root]
        path = [root]
        result: str | None = None
        for token in chain[1:]:
            name = token.value
            if result is not None:  # already past a map key: selecting into a string
                if self.lenient:
                    return _ANY
                raise self._error(
                    f"cannot select {name!r} from {'.'.join(path)}[...]: it is a {result}",
                    _pos(token),
                )
            if isinstance(tree, dict):
                if name not in tree:
                    if self.lenient:
                        return _ANY
                    hint = _suggest(name, sorted(tree))
                    raise self._error(
                        f"unknown field {name!r} in {'.'.join(path)}{hint}", _pos(token)
                    )
                path.append(name)
                tree = tree[name]
            elif tree.startswith("map("):
                result = tree[len("map("):-1].split(",", 1)[1]  # key selection -> value
            else:
                if self.lenient:
                    return _ANY
                raise self._error(
                    f"cannot select {name!r} from {'.'.join(path)}: it is a {tree}, "
                    "not a message",
                    _pos(token),
                )
        start = _pos(chain[0])
        end = int(chain[-1].end_pos or 0)
        cel_type = "message" if isinstance(tree, dict) else tree
        if cel_type == "message" and not message_ok and not self.lenient:
            raise self._error(
                f"{'.'.join(path)} is a message: select one of its fields, or compare it "
                "with null",
                start,
            )
        self.reads.append(Read(tuple(path), cel_type, order_free, start, end, in_has))
        if result is not None:
            return result
        if cel_type.startswith("list("):
            return "list"
        if cel_type.startswith("map(") or cel_type == "message":
            return "map"
        return cel_type

    def _chain_or_visit(
        self, node: Any, scope: frozenset[str], *, message_ok: bool = False,
        order_free: bool = False,
    ) -> str:
        chain = self._chain(_unwrap(node), scope)
        if chain is not None:
            return self._read(chain, message_ok=message_ok, order_free=order_free)
        return self.visit(node, scope)

    # -- the walk ------------------------------------------------------------------------

    def visit(self, node: Any, scope: frozenset[str]) -> str:
        if isinstance(node, lark.Token):
            return _ANY
        kids = node.children
        data = node.data
        if data == "expr":
            if len(kids) == 1:
                return self.visit(kids[0], scope)
            condition = self.visit(kids[0], scope)
            if _known(condition) and condition != "bool":
                self._fail(f"the condition of '?:' must be a bool, not {condition}", kids[0])
            return _combine(self.visit(kids[1], scope), self.visit(kids[2], scope))
        if data in ("conditionalor", "conditionaland"):
            if len(kids) == 1:
                return self.visit(kids[0], scope)
            symbol = "||" if data == "conditionalor" else "&&"
            for kid in kids:
                operand = self.visit(kid, scope)
                if _known(operand) and operand != "bool":
                    self._fail(f"'{symbol}' needs bool operands, not {operand}", kid)
            return "bool"
        if data == "relation":
            if len(kids) == 1:
                return self.visit(kids[0], scope)
            op_node, right = kids
            left = op_node.children[0]
            op = op_node.data
            if op in ("relation_eq", "relation_ne") and (_is_null(left) or _is_null(right)):
                self._chain_or_visit(left, scope, message_ok=True)
                self._chain_or_visit(right, scope, message_ok=True)
            elif op == "relation_in":
                self.visit(left, scope)
                container = self._chain_or_visit(right, scope, order_free=True)
                if _known(container) and container not in ("list", "map"):
                    self._fail(
                        f"'in' needs a list or map on its right, not {container}", right
                    )
            else:
                lt = self.visit(left, scope)
                rt = self.visit(right, scope)
                self._check_relation(op, lt, rt, left)
            return "bool"
        if data in ("addition", "multiplication"):
            if len(kids) == 1:
                return self.visit(kids[0], scope)
            op_node, right = kids
            left = op_node.children[0]
            lt = self.visit(left, scope)
            rt = self.visit(right, scope)
            if not _has_overload(op_node.data, lt, rt):
                self._fail(f"no '{_SYMBOLS[op_node.data]}' for {lt} and {rt}", left)
            return _arithmetic(op_node.data, lt, rt)
        if data == "unary":
            if len(kids) == 1:
                return self.visit(kids[0], scope)
            operand = self.visit(kids[1], scope)
            if kids[0].data == "unary_not":
                if _known(operand) and operand != "bool":
                    self._fail(f"'!' needs a bool, not {operand}", kids[1])
                return "bool"
            if _known(operand) and operand not in _NUMBERS | {"duration"}:
                self._fail(f"'-' needs a number or duration, not {operand}", kids[1])
            return operand if operand in ("int", "double", "duration") else "number"
        if data == "member":
            return self.visit(kids[0], scope)
        if data == "member_dot":
            chain = self._chain(node, scope)
            if chain is not None:
                return self._read(chain)
            self.visit(kids[0], scope)
            return _ANY
        if data == "member_dot_arg":
            return self._method(node, scope)
        if data == "member_index":
            chain = self._chain(_unwrap(kids[0]), scope)
            element = _ANY
            if chain is not None:
                self._read(chain)
                if self.reads[-1].cel_type in ("list(string)", "map(string,string)"):
                    element = "string"
            else:
                self.visit(kids[0], scope)
            self.visit(kids[1], scope)
            return element
        if data == "member_object":
            for kid in kids[1:]:
                self.visit(kid, scope)
            return _ANY
        if data == "primary":
            return self.visit(kids[0], scope)
        if data == "literal":
            return _LITERAL_TYPES.get(kids[0].type, _ANY)
        if data in ("ident", "dot_ident"):
            return self._ident(kids[0], scope)
        if data in ("ident_arg", "dot_ident_arg"):
            return self._function(node, scope)
        if data == "paren_expr":
            return self.visit(kids[0], scope)
        if data in ("list_lit", "map_lit"):
            for kid in kids:
                self.visit(kid, scope)
            return "list" if data == "list_lit" else "map"
        if data in ("exprlist", "mapinits"):
            for kid in kids:
                self.visit(kid, scope)
            return _ANY
        if data == "fieldinits":
            for kid in kids[1::2]:
                self.visit(kid, scope)
            return _ANY
        raise self._error(f"unsupported construct {data!r}", _start(node))

    def _ident(self, token: lark.Token, scope: frozenset[str]) -> str:
        name = token.value
        if name in scope:
            return _ANY
        if name in self.roots:
            return self._read([token])  # a bare root outside a null test: an error
        if name in _TYPE_NAMES:
            return "type"
        if self.lenient:
            return _ANY
        hint = _suggest(name, sorted(self.roots | scope))
        raise self._error(f"unknown identifier {name!r}{hint}", _pos(token))

    def _method(self, node: Any, scope: frozenset[str]) -> str:
        receiver, name_token, *rest = node.children
        method = name_token.value
        args = rest[0].children if rest else []
        if method in _MACROS and args:
            var = _unwrap(args[0])
            if not (isinstance(var, lark.Tree) and var.data == "ident"):
                raise self._error(
                    f"{method}() needs a variable name as its first argument",
                    _start(args[0]),
                )
            var_token: Any = var.children[0]
            var_name = str(var_token.value)
            if var_name in self.roots and not self.lenient:
                raise self._error(
                    f"comprehension variable {var_name!r} shadows the root {var_name!r}",
                    _pos(var_token),
                )
            target = self._chain_or_visit(
                receiver, scope, order_free=method in _ORDER_FREE_METHODS
            )
            if _known(target) and target not in ("list", "map"):
                self._fail(f"{method}() needs a list or map, not {target}", name_token)
            inner = scope | {var_name}
            for arg in args[1:]:
                self.visit(arg, inner)
            return _METHOD_TYPES[method]
        if method not in _METHOD_TYPES:
            self._fail(
                f"unknown method {method!r}{_suggest(method, sorted(_METHOD_TYPES))}: "
                "neither CEL engine has it",
                name_token,
            )
        target = self._chain_or_visit(receiver, scope, order_free=method in _ORDER_FREE_METHODS)
        arg_types = [self.visit(arg, scope) for arg in args]
        self._check_method(method, name_token, receiver, target, args, arg_types)
        return _METHOD_TYPES.get(method, _ANY)

    def _check_method(
        self, method: str, name_token: Any, receiver: Any, target: str, args: list[Any],
        arg_types: list[str],
    ) -> None:
        if _known(target):
            if method in _STRING_METHODS and target != "string":
                self._fail(
                    f"{method}() is a string method; {self._text(receiver)} is a {target}",
                    name_token,
                )
            if method == "size" and target not in ("string", "bytes", "list", "map"):
                self._fail(
                    f"size() needs a string, bytes, list or map, not {target}", name_token
                )
            if method in _TIMESTAMP_ONLY and target != "timestamp":
                self._fail(f"{method}() needs a timestamp, not {target}", name_token)
            if method in _TIMESTAMP_OR_DURATION and target not in ("timestamp", "duration"):
                self._fail(f"{method}() needs a timestamp or duration, not {target}", name_token)
        if method in _STRING_METHODS:
            for arg, arg_type in zip(args, arg_types, strict=True):
                if _known(arg_type) and arg_type != "string":
                    self._fail(f"{method}() takes a string argument, not {arg_type}", arg)
            if method == "matches" and len(args) == 1:
                self._check_regex(args[0])

    def _fail(self, message: str, at: Any) -> None:
        """Raise ExprError at ``at`` (a token or tree), unless lenient."""
        if not self.lenient:
            raise self._error(message, _start(at))

    def _text(self, node: Any) -> str:
        meta = getattr(node, "meta", None)
        end = getattr(meta, "end_pos", None) if meta is not None else None
        return self.source[_start(node) : end] if isinstance(end, int) else "the receiver"

    def _check_relation(self, op: str, left: str, right: str, at: Any) -> None:
        if not (_known(left) and _known(right)):
            return
        symbol = _SYMBOLS[op]
        same = _family(left) == _family(right)
        if op in ("relation_eq", "relation_ne"):
            if not same and "null" not in (left, right):
                always = "false" if op == "relation_eq" else "true"
                self._fail(f"{left} {symbol} {right} is always {always}: the types differ", at)
            return
        if not same or _family(left) in ("null", "list", "map", "type"):
            self._fail(f"cannot compare {left} {symbol} {right}", at)

    def _check_regex(self, arg: Any) -> None:
        """An RE2 pattern literal must compile (both engines use RE2)."""
        text = _literal_string(arg)
        if text is None:
            return
        problem = _regex_problem(text)
        if problem is not None:
            self._fail(f"invalid regular expression {text!r}: {problem}", arg)

    def _check_conversion(self, name: str, arg: Any) -> None:
        """``timestamp("...")``, ``int("...")``, ... of a literal that cannot convert."""
        text = _literal_string(arg)
        if text is None:
            return
        problem: str | None = None
        if name == "timestamp":
            problem = _timestamp_problem(text)
        elif name == "duration":
            _check_duration(text, _start(_unwrap(arg)))
        elif name == "int" and not re.fullmatch(r"[+-]?\d+", text):
            problem = f"int({text!r}) cannot convert: not a decimal integer"
        elif name == "uint" and not re.fullmatch(r"\+?\d+", text):
            problem = f"uint({text!r}) cannot convert: not an unsigned decimal integer"
        elif name == "double":
            try:
                float(text)
            except ValueError:
                problem = f"double({text!r}) cannot convert: not a number"
        if problem is not None:
            self._fail(problem, arg)

    def _function(self, node: Any, scope: frozenset[str]) -> str:
        name_token, *rest = node.children
        name = name_token.value
        args = rest[0].children if rest else []
        if name == "has":
            chain = self._chain(_unwrap(args[0]), scope) if len(args) == 1 else None
            if chain is None or len(chain) < 2:
                if self.lenient:
                    return "bool"
                raise self._error(
                    "has() needs a map key selection such as has(host.labels.ring)",
                    _pos(name_token),
                )
            self._read(chain, message_ok=True, in_has=True)
            if not self.reads[-1].cel_type.startswith("map(") and not self.lenient:
                # Every field is present (null when unknown): has() would always be true,
                # or an error under a null message. Say what the author surely meant.
                text = ".".join(t.value for t in chain)
                raise self._error(
                    f"has({text}) is always true: every field is present, null when "
                    f"unknown; write '{text} != null'",
                    _pos(name_token),
                )
            return "bool"
        if name not in _FUNCTION_TYPES:
            self._fail(
                f"unknown function {name!r}{_suggest(name, sorted(_FUNCTION_TYPES))}: "
                "neither CEL engine has it",
                name_token,
            )
        if name in ("timestamp", "duration", "int", "uint", "double") and len(args) == 1:
            self._check_conversion(name, args[0])
        if name == "size" and len(args) == 1:
            sized = self._chain_or_visit(args[0], scope, order_free=True)
            if _known(sized) and sized not in ("string", "bytes", "list", "map"):
                self._fail(f"size() needs a string, bytes, list or map, not {sized}", args[0])
            return "int"
        arg_types = [self.visit(arg, scope) for arg in args]
        if name == "matches" and len(args) == 2:
            for arg, arg_type in zip(args, arg_types, strict=True):
                if _known(arg_type) and arg_type != "string":
                    self._fail(f"matches() takes string arguments, not {arg_type}", arg)
            self._check_regex(args[1])
        return _FUNCTION_TYPES.get(name, _ANY)


def _check_duration(text: str, offset: int) -> None:
    if _DURATION.fullmatch(text):
        return
    hint = ""
    days = _DAYS.fullmatch(text)
    if days:
        hint = f": write '{int(days.group(1)) * 24}h'"
    raise ExprError(
        f"duration {text!r} is not a CEL duration (units h, m, s, ms, us, ns only){hint}",
        offset,
    )


def _known(cel_type: str) -> bool:
    return cel_type != _ANY


def _family(cel_type: str) -> str:
    """Numbers are one family: the engines compare int, uint and double by value."""
    return "number" if cel_type in _NUMBERS else cel_type


def _has_overload(op: str, left: str, right: str) -> bool:
    """Whether CEL has ``left op right`` (True when either type is unknown)."""
    if not (_known(left) and _known(right)):
        return True
    if left in _NUMBERS and right in _NUMBERS:
        # No implicit conversion in CEL arithmetic: int + double is "no such overload".
        exact = left == right or "number" in (left, right)
        return exact and (op != "multiplication_mod" or "double" not in (left, right))
    pair = (left, right)
    if op == "addition_add":
        return (left == right and left in ("string", "bytes", "list", "duration")) or pair in (
            ("timestamp", "duration"), ("duration", "timestamp"))
    if op == "addition_sub":
        return pair in (("timestamp", "timestamp"), ("timestamp", "duration"),
                        ("duration", "duration"))
    return False


def _literal_string(node: Any) -> str | None:
    """The value of a string literal argument (escapes expanded), else None."""
    literal = _unwrap(node)
    if not (isinstance(literal, lark.Tree) and literal.data == "literal"):
        return None
    token: Any = literal.children[0]
    if token.type not in ("STRING_LIT", "MLSTRING_LIT"):
        return None
    try:
        return str(celstr(token))
    except (ValueError, OverflowError):
        return None


def _regex_problem(pattern: str) -> str | None:
    try:
        import re2  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - google-re2 is a dependency
        try:
            re.compile(pattern)
        except re.error as e:
            return str(e)
        return None
    options = re2.Options()
    options.log_errors = False  # RE2 would print its own line to stderr
    try:
        re2.compile(pattern, options)
    except re2.error as e:
        detail = e.args[0] if e.args else "invalid"
        return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    return None


def _timestamp_problem(text: str) -> str | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return f"timestamp {text!r} is not RFC 3339 (write e.g. '2026-01-01T00:00:00Z')"
    year, month, day, hour, minute, second = (int(g) for g in match.groups())
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as e:
        return f"timestamp {text!r} is not a valid date: {e}"
    if year == 0:
        return f"timestamp {text!r} is not a valid date: year 0 is out of range"
    return None


def _pos(token: Any) -> int:
    return int(token.start_pos or 0)


def _start(node: Any) -> int:
    if isinstance(node, lark.Token):
        return _pos(node)
    meta = getattr(node, "meta", None)
    return int(getattr(meta, "start_pos", 0) or 0) if meta is not None else 0


def _combine(a: str, b: str) -> str:
    """Static type of ``c ? a : b``: known only when both branches agree."""
    if a == b:
        return a
    if _ANY in (a, b):
        other = b if a == _ANY else a
        return _ANY if other == "bool" else other
    return a if a != "bool" else b


def _arithmetic(op: str, left: str, right: str) -> str:
    """Static type of an arithmetic result; never ``bool`` (no CEL overload returns it)."""
    if {left, right} == {"timestamp"} and op == "addition_sub":
        return "duration"
    if "timestamp" in (left, right):
        return "timestamp"
    if left == right and left not in (_ANY, "null", "bool"):
        return left
    for side in (left, right):
        if side not in (_ANY, "null", "bool", "type"):
            return side
    return "number"
