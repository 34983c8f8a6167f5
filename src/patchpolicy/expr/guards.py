"""Equality guards: cheap necessary conditions pulled out of an expression's AST.

An exception's ``match`` usually reads high-cardinality fields (``finding.vuln``,
``host.id``), so memoisation cannot help it: every finding would be a cache miss. But
such expressions are nearly always a conjunction that starts with equalities:
``finding.vuln == "CVE-2024-6387" && host.id == "pos-gw-01"``. Each top-level conjunct
``<root>.<field> == "literal"`` or ``<root>.<field> in ["a", "b"]`` is a necessary
condition. When a guard fails, CEL's ``&&`` is false whatever the other conjuncts do
(``false && error`` is ``false``), so the evaluator may skip the engine entirely.

Only top-level string fields of ``host``/``finding`` are used: comparing them with a
string literal cannot raise in CEL (``null == "x"`` is ``false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lark

from patchpolicy.expr.grammar import parse
from patchpolicy.expr.grammar import string_value as _string_value
from patchpolicy.expr.grammar import unwrap as _unwrap
from patchpolicy.model.fleet import FIELDS

__all__ = ["Guard", "equality_guards"]


@dataclass(frozen=True)
class Guard:
    """``root.field`` must be one of ``values`` for the expression to be true."""

    root: str
    field: str
    values: frozenset[str]


def _conjuncts(node: Any) -> list[Any]:
    node = _unwrap(node)
    if isinstance(node, lark.Tree) and node.data == "conditionaland" and len(node.children) == 2:
        return _conjuncts(node.children[0]) + _conjuncts(node.children[1])
    return [node]


def _field(node: Any) -> tuple[str, str] | None:
    node = _unwrap(node)
    if not (isinstance(node, lark.Tree) and node.data == "member_dot" and len(node.children) == 2):
        return None
    base, name = node.children
    base = _unwrap(base)
    if not (isinstance(base, lark.Tree) and base.data == "ident" and isinstance(name, lark.Token)):
        return None
    root = str(base.children[0])
    field = str(name)
    tree = FIELDS.get(root)
    if not isinstance(tree, dict) or tree.get(field) != "string":
        return None
    return root, field


def _string(node: Any) -> str | None:
    node = _unwrap(node)
    if (
        isinstance(node, lark.Tree)
        and node.data == "literal"
        and isinstance(node.children[0], lark.Token)
        and node.children[0].type == "STRING_LIT"
        and "\\" not in str(node.children[0].value)
    ):
        return _string_value(node.children[0])
    return None


def _strings(node: Any) -> frozenset[str] | None:
    node = _unwrap(node)
    if not (isinstance(node, lark.Tree) and node.data == "list_lit" and node.children):
        return None
    exprlist = node.children[0]
    if not (isinstance(exprlist, lark.Tree) and exprlist.data == "exprlist"):
        return None
    values = [_string(child) for child in exprlist.children]
    if any(v is None for v in values):
        return None
    return frozenset(v for v in values if v is not None)


def _guard(node: Any) -> Guard | None:
    if not (isinstance(node, lark.Tree) and node.data == "relation" and len(node.children) == 2):
        return None
    op, right = node.children
    if not isinstance(op, lark.Tree) or len(op.children) != 1:
        return None
    left = op.children[0]
    if op.data == "relation_eq":
        for a, b in ((left, right), (right, left)):
            field, value = _field(a), _string(b)
            if field is not None and value is not None:
                return Guard(field[0], field[1], frozenset({value}))
    if op.data == "relation_in":
        field, values = _field(left), _strings(right)
        if field is not None and values is not None:
            return Guard(field[0], field[1], values)
    return None


def equality_guards(source: str) -> tuple[Guard, ...]:
    """Necessary equality conditions of ``source``; empty when there are none."""
    guards = [_guard(c) for c in _conjuncts(parse(source))]
    return tuple(g for g in guards if g is not None)
