"""The one recursive pass over a CEL tree behind :func:`patchpolicy.expr.analysis.analyse`:
it records every ``host.*``/``finding.*`` path read, checks names against the field tree
(with a "did you mean" hint), and infers a coarse static type for every node, failing at
the token of an operator, function or method that can never work (the rules are listed in
:mod:`patchpolicy.expr.analysis`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lark

from patchpolicy.errors import ExprError
from patchpolicy.expr.celtypes import (
    ANY,
    FUNCTION_TYPES,
    LITERAL_TYPES,
    MACROS,
    METHOD_TYPES,
    NUMBERS,
    ORDER_FREE_METHODS,
    STRING_METHODS,
    SYMBOLS,
    TIMESTAMP_ONLY,
    TIMESTAMP_OR_DURATION,
    TYPE_NAMES,
    arithmetic,
    combine,
    family,
    has_overload,
    known,
)
from patchpolicy.expr.grammar import is_null, node_offset, token_offset, unwrap
from patchpolicy.expr.literals import (
    check_duration,
    conversion_problem,
    literal_string,
    regex_problem,
)
from patchpolicy.model.fleet import FIELDS, FieldTree

__all__ = ["Read", "Walker"]


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


def _suggest(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        # "enviroment" -> "env": a candidate that is a prefix of the typo, or vice versa.
        prefixed = [c for c in candidates if min(len(c), len(name)) >= 3
                    and (name.startswith(c) or c.startswith(name))]
        close = sorted(prefixed, key=len, reverse=True)[:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


# Grammar layers that are only a step down when they have one child (``a || b`` has two).
_LAYERS = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary"}
)
# Grammar layers that always stand for their first child.
_WRAPPERS = frozenset({"member", "primary", "paren_expr"})

_Resolved = tuple[list[str], "str | FieldTree", "str | None"]


class Walker:
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

    def _fail(self, message: str, at: Any) -> None:
        """Raise ExprError at ``at`` (a token or tree), unless lenient."""
        if not self.lenient:
            raise self._error(message, node_offset(at))

    def _text(self, node: Any) -> str:
        meta = getattr(node, "meta", None)
        end = getattr(meta, "end_pos", None) if meta is not None else None
        return self.source[node_offset(node) : end] if isinstance(end, int) else "the receiver"

    # -- field reads ---------------------------------------------------------------------

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

    def _resolve(self, chain: list[lark.Token]) -> _Resolved | None:
        """Follow a chain down the field tree: the path, the subtree or type name at its
        end, and the value type when it ends with a map key selection. None when lenient
        and the chain leaves the tree."""
        root = chain[0].value
        tree: str | FieldTree = FIELDS[root]
        path = [root]
        result: str | None = None
        for token in chain[1:]:
            name = token.value
            if result is not None:  # already past a map key: selecting into a string
                if self.lenient:
                    return None
                raise self._error(
                    f"cannot select {name!r} from {'.'.join(path)}[...]: it is a {result}",
                    token_offset(token),
                )
            if isinstance(tree, dict):
                if name not in tree:
                    if self.lenient:
                        return None
                    hint = _suggest(name, sorted(tree))
                    raise self._error(
                        f"unknown field {name!r} in {'.'.join(path)}{hint}", token_offset(token)
                    )
                path.append(name)
                tree = tree[name]
            elif tree.startswith("map("):
                result = tree[len("map("):-1].split(",", 1)[1]  # key selection -> value
            else:
                if self.lenient:
                    return None
                raise self._error(
                    f"cannot select {name!r} from {'.'.join(path)}: it is a {tree}, "
                    "not a message",
                    token_offset(token),
                )
        return path, tree, result

    def _read(
        self,
        chain: list[lark.Token],
        *,
        message_ok: bool = False,
        order_free: bool = False,
        in_has: bool = False,
    ) -> str:
        """Record a chain's read and return its static type."""
        resolved = self._resolve(chain)
        if resolved is None:
            return ANY
        path, tree, result = resolved
        start = token_offset(chain[0])
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
        chain = self._chain(unwrap(node), scope)
        if chain is not None:
            return self._read(chain, message_ok=message_ok, order_free=order_free)
        return self.visit(node, scope)

    # -- the walk ------------------------------------------------------------------------

    def visit(self, node: Any, scope: frozenset[str]) -> str:
        """Check ``node`` (with ``scope`` the comprehension variables bound above it) and
        return its static type."""
        if isinstance(node, lark.Token):
            return ANY
        data = node.data
        if data in _WRAPPERS or (data in _LAYERS and len(node.children) == 1):
            return self.visit(node.children[0], scope)
        visitor = _VISITORS.get(data)
        if visitor is None:
            raise self._error(f"unsupported construct {data!r}", node_offset(node))
        return visitor(self, node, scope)

    def _conditional(self, node: Any, scope: frozenset[str]) -> str:
        """``c ? a : b``."""
        kids = node.children
        condition = self.visit(kids[0], scope)
        if known(condition) and condition != "bool":
            self._fail(f"the condition of '?:' must be a bool, not {condition}", kids[0])
        return combine(self.visit(kids[1], scope), self.visit(kids[2], scope))

    def _logical(self, node: Any, scope: frozenset[str]) -> str:
        """``a || b``, ``a && b``."""
        symbol = "||" if node.data == "conditionalor" else "&&"
        for kid in node.children:
            operand = self.visit(kid, scope)
            if known(operand) and operand != "bool":
                self._fail(f"'{symbol}' needs bool operands, not {operand}", kid)
        return "bool"

    def _relation(self, node: Any, scope: frozenset[str]) -> str:
        """Comparisons and ``in``: a null test may name a whole message."""
        op_node, right = node.children
        left = op_node.children[0]
        op = op_node.data
        if op in ("relation_eq", "relation_ne") and (is_null(left) or is_null(right)):
            self._chain_or_visit(left, scope, message_ok=True)
            self._chain_or_visit(right, scope, message_ok=True)
        elif op == "relation_in":
            self.visit(left, scope)
            container = self._chain_or_visit(right, scope, order_free=True)
            if known(container) and container not in ("list", "map"):
                self._fail(
                    f"'in' needs a list or map on its right, not {container}", right
                )
        else:
            lt = self.visit(left, scope)
            rt = self.visit(right, scope)
            self._check_relation(op, lt, rt, left)
        return "bool"

    def _arithmetic(self, node: Any, scope: frozenset[str]) -> str:
        """``+ - * / %``."""
        op_node, right = node.children
        left = op_node.children[0]
        lt = self.visit(left, scope)
        rt = self.visit(right, scope)
        if not has_overload(op_node.data, lt, rt):
            self._fail(f"no '{SYMBOLS[op_node.data]}' for {lt} and {rt}", left)
        return arithmetic(op_node.data, lt, rt)

    def _unary(self, node: Any, scope: frozenset[str]) -> str:
        """``!x``, ``-x``."""
        kids = node.children
        operand = self.visit(kids[1], scope)
        if kids[0].data == "unary_not":
            if known(operand) and operand != "bool":
                self._fail(f"'!' needs a bool, not {operand}", kids[1])
            return "bool"
        if known(operand) and operand not in NUMBERS | {"duration"}:
            self._fail(f"'-' needs a number or duration, not {operand}", kids[1])
        return operand if operand in ("int", "double", "duration") else "number"

    def _member_dot(self, node: Any, scope: frozenset[str]) -> str:
        """``x.field``: a read when ``x`` is a root's static chain."""
        chain = self._chain(node, scope)
        if chain is not None:
            return self._read(chain)
        self.visit(node.children[0], scope)
        return ANY

    def _member_index(self, node: Any, scope: frozenset[str]) -> str:
        """``x[i]``: the element of a string list or map is a string."""
        kids = node.children
        chain = self._chain(unwrap(kids[0]), scope)
        element = ANY
        if chain is not None:
            self._read(chain)
            if self.reads[-1].cel_type in ("list(string)", "map(string,string)"):
                element = "string"
        else:
            self.visit(kids[0], scope)
        self.visit(kids[1], scope)
        return element

    def _member_object(self, node: Any, scope: frozenset[str]) -> str:
        for kid in node.children[1:]:
            self.visit(kid, scope)
        return ANY

    def _literal(self, node: Any, scope: frozenset[str]) -> str:
        return LITERAL_TYPES.get(node.children[0].type, ANY)

    def _collection(self, node: Any, scope: frozenset[str]) -> str:
        """``[...]``, ``{...}``."""
        for kid in node.children:
            self.visit(kid, scope)
        return "list" if node.data == "list_lit" else "map"

    def _items(self, node: Any, scope: frozenset[str]) -> str:
        """The elements of a list or map literal."""
        for kid in node.children:
            self.visit(kid, scope)
        return ANY

    def _fieldinits(self, node: Any, scope: frozenset[str]) -> str:
        for kid in node.children[1::2]:
            self.visit(kid, scope)
        return ANY

    def _ident_node(self, node: Any, scope: frozenset[str]) -> str:
        return self._ident(node.children[0], scope)

    def _ident(self, token: lark.Token, scope: frozenset[str]) -> str:
        name = token.value
        if name in scope:
            return ANY
        if name in self.roots:
            return self._read([token])  # a bare root outside a null test: an error
        if name in TYPE_NAMES:
            return "type"
        if self.lenient:
            return ANY
        hint = _suggest(name, sorted(self.roots | scope))
        raise self._error(f"unknown identifier {name!r}{hint}", token_offset(token))

    # -- methods and functions -----------------------------------------------------------

    def _method(self, node: Any, scope: frozenset[str]) -> str:
        receiver, name_token, *rest = node.children
        method = name_token.value
        args = rest[0].children if rest else []
        if method in MACROS and args:
            return self._macro(method, name_token, receiver, args, scope)
        if method not in METHOD_TYPES:
            self._fail(
                f"unknown method {method!r}{_suggest(method, sorted(METHOD_TYPES))}: "
                "neither CEL engine has it",
                name_token,
            )
        target = self._chain_or_visit(receiver, scope, order_free=method in ORDER_FREE_METHODS)
        arg_types = [self.visit(arg, scope) for arg in args]
        self._check_method(method, name_token, receiver, target, args, arg_types)
        return METHOD_TYPES.get(method, ANY)

    def _macro(
        self, method: str, name_token: Any, receiver: Any, args: list[Any], scope: frozenset[str]
    ) -> str:
        """``list.exists(x, ...)`` and the other comprehensions: ``x`` is bound (untyped)."""
        var = unwrap(args[0])
        if not (isinstance(var, lark.Tree) and var.data == "ident"):
            raise self._error(
                f"{method}() needs a variable name as its first argument",
                node_offset(args[0]),
            )
        var_token: Any = var.children[0]
        var_name = str(var_token.value)
        if var_name in self.roots and not self.lenient:
            raise self._error(
                f"comprehension variable {var_name!r} shadows the root {var_name!r}",
                token_offset(var_token),
            )
        target = self._chain_or_visit(
            receiver, scope, order_free=method in ORDER_FREE_METHODS
        )
        if known(target) and target not in ("list", "map"):
            self._fail(f"{method}() needs a list or map, not {target}", name_token)
        inner = scope | {var_name}
        for arg in args[1:]:
            self.visit(arg, inner)
        return METHOD_TYPES[method]

    def _check_method(
        self, method: str, name_token: Any, receiver: Any, target: str, args: list[Any],
        arg_types: list[str],
    ) -> None:
        if known(target):
            if method in STRING_METHODS and target != "string":
                self._fail(
                    f"{method}() is a string method; {self._text(receiver)} is a {target}",
                    name_token,
                )
            if method == "size" and target not in ("string", "bytes", "list", "map"):
                self._fail(
                    f"size() needs a string, bytes, list or map, not {target}", name_token
                )
            if method in TIMESTAMP_ONLY and target != "timestamp":
                self._fail(f"{method}() needs a timestamp, not {target}", name_token)
            if method in TIMESTAMP_OR_DURATION and target not in ("timestamp", "duration"):
                self._fail(f"{method}() needs a timestamp or duration, not {target}", name_token)
        if method in STRING_METHODS:
            for arg, arg_type in zip(args, arg_types, strict=True):
                if known(arg_type) and arg_type != "string":
                    self._fail(f"{method}() takes a string argument, not {arg_type}", arg)
            if method == "matches" and len(args) == 1:
                self._check_regex(args[0])

    def _check_relation(self, op: str, left: str, right: str, at: Any) -> None:
        if not (known(left) and known(right)):
            return
        symbol = SYMBOLS[op]
        same = family(left) == family(right)
        if op in ("relation_eq", "relation_ne"):
            if not same and "null" not in (left, right):
                always = "false" if op == "relation_eq" else "true"
                self._fail(f"{left} {symbol} {right} is always {always}: the types differ", at)
            return
        if not same or family(left) in ("null", "list", "map", "type"):
            self._fail(f"cannot compare {left} {symbol} {right}", at)

    def _check_regex(self, arg: Any) -> None:
        """An RE2 pattern literal must compile (both engines use RE2)."""
        text = literal_string(arg)
        if text is None:
            return
        problem = regex_problem(text)
        if problem is not None:
            self._fail(f"invalid regular expression {text!r}: {problem}", arg)

    def _check_conversion(self, name: str, arg: Any) -> None:
        """``timestamp("...")``, ``int("...")``, ... of a literal that cannot convert."""
        text = literal_string(arg)
        if text is None:
            return
        if name == "duration":
            # Raises even when lenient, as it always has: check_duration bypasses _fail.
            check_duration(text, node_offset(unwrap(arg)))
            return
        problem = conversion_problem(name, text)
        if problem is not None:
            self._fail(problem, arg)

    def _function(self, node: Any, scope: frozenset[str]) -> str:
        name_token, *rest = node.children
        name = name_token.value
        args = rest[0].children if rest else []
        if name == "has":
            return self._has(name_token, args, scope)
        if name not in FUNCTION_TYPES:
            self._fail(
                f"unknown function {name!r}{_suggest(name, sorted(FUNCTION_TYPES))}: "
                "neither CEL engine has it",
                name_token,
            )
        if name in ("timestamp", "duration", "int", "uint", "double") and len(args) == 1:
            self._check_conversion(name, args[0])
        if name == "size" and len(args) == 1:
            sized = self._chain_or_visit(args[0], scope, order_free=True)
            if known(sized) and sized not in ("string", "bytes", "list", "map"):
                self._fail(f"size() needs a string, bytes, list or map, not {sized}", args[0])
            return "int"
        arg_types = [self.visit(arg, scope) for arg in args]
        if name == "matches" and len(args) == 2:
            for arg, arg_type in zip(args, arg_types, strict=True):
                if known(arg_type) and arg_type != "string":
                    self._fail(f"matches() takes string arguments, not {arg_type}", arg)
            self._check_regex(args[1])
        return FUNCTION_TYPES.get(name, ANY)

    def _has(self, name_token: Any, args: list[Any], scope: frozenset[str]) -> str:
        """``has(host.labels.ring)``: only map keys may be tested."""
        chain = self._chain(unwrap(args[0]), scope) if len(args) == 1 else None
        if chain is None or len(chain) < 2:
            if self.lenient:
                return "bool"
            raise self._error(
                "has() needs a map key selection such as has(host.labels.ring)",
                token_offset(name_token),
            )
        self._read(chain, message_ok=True, in_has=True)
        if not self.reads[-1].cel_type.startswith("map(") and not self.lenient:
            # Every field is present (null when unknown): has() would always be true,
            # or an error under a null message. Say what the author surely meant.
            text = ".".join(t.value for t in chain)
            raise self._error(
                f"has({text}) is always true: every field is present, null when "
                f"unknown; write '{text} != null'",
                token_offset(name_token),
            )
        return "bool"


_VISITORS: dict[str, Callable[[Walker, Any, frozenset[str]], str]] = {
    "expr": Walker._conditional,
    "conditionalor": Walker._logical,
    "conditionaland": Walker._logical,
    "relation": Walker._relation,
    "addition": Walker._arithmetic,
    "multiplication": Walker._arithmetic,
    "unary": Walker._unary,
    "member_dot": Walker._member_dot,
    "member_dot_arg": Walker._method,
    "member_index": Walker._member_index,
    "member_object": Walker._member_object,
    "literal": Walker._literal,
    "ident": Walker._ident_node,
    "dot_ident": Walker._ident_node,
    "ident_arg": Walker._function,
    "dot_ident_arg": Walker._function,
    "list_lit": Walker._collection,
    "map_lit": Walker._collection,
    "exprlist": Walker._items,
    "mapinits": Walker._items,
    "fieldinits": Walker._fieldinits,
}
"""The check of each grammar rule (a ``_LAYERS`` rule with one child is stepped through
before this table is asked)."""
