"""Static reasoning about CEL predicates for ``patchpolicy diff`` (whose classification
table is the docstring of ``patchpolicy.review.diff``).

CEL expressions are compared on the set of items for which they are *true*: each is put
in disjunctive normal form over atoms (``field == lit``, ``field != lit``, ``field in
[lits]``, ``field <op> number``, ``field == null``, a bare bool field; anything else is an
opaque atom compared by its normalised text), then each side's conjunctions are tested
for inclusion in the other's. Enumerated fields (severity, status, criticality,
exposure) use their closed domains, so ``severity != "low"`` is understood. The test is
sound but incomplete: a relation it cannot prove is ``unknown`` (run with
``--snapshot`` for the impact). Items on which an expression errors (a field selected
through a null message, a missing map key) are outside the static analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from itertools import product
from typing import Any, get_args

import lark

from patchpolicy.errors import (
    ExprError,
)
from patchpolicy.model.fleet import (
    FIELDS,
    CriticalityName,
    ExposureName,
    SeverityName,
    StatusName,
)

__all__ = ["PredicateRelation", "compare_predicates", "normal_form"]


class PredicateRelation(StrEnum):
    """How the true-set of a new predicate relates to the old one's."""

    EQUIVALENT = "equivalent"
    WIDER = "wider"
    NARROWER = "narrower"
    UNKNOWN = "unknown"


_Value = tuple[str, Any]
"""A literal tagged with its kind: ("str", "x"), ("num", 7.0), ("bool", True), ("null", None)."""
_NULL: _Value = ("null", None)


def _domain(names: Any, nullable: bool) -> frozenset[_Value]:
    values = {("str", v) for v in get_args(names)}
    return frozenset(values | ({_NULL} if nullable else set()))


# Closed domains: an exclusion on these fields becomes an inclusion of what is left. A
# domain must hold EVERY value the field can take, or the reasoning would be unsound.
_DOMAINS: dict[tuple[str, ...], frozenset[_Value]] = {
    ("finding", "severity"): _domain(SeverityName, nullable=False),
    ("finding", "status"): _domain(StatusName, nullable=False),
    ("host", "criticality"): _domain(CriticalityName, nullable=True),
    ("host", "exposure"): _domain(ExposureName, nullable=True),
}


@dataclass(frozen=True)
class _Values:
    """``path`` is (include) or is not (exclude) one of ``values``."""

    path: tuple[str, ...]
    include: bool
    values: frozenset[_Value]

    def normal(self) -> _Values:
        domain = _DOMAINS.get(self.path)
        if domain is not None and not self.include:
            return _Values(self.path, True, domain - self.values)
        return self


@dataclass(frozen=True)
class _Interval:
    """``path`` is a number within the bounds (None: unbounded); null is never inside."""

    path: tuple[str, ...]
    lo: float | None
    lo_open: bool
    hi: float | None
    hi_open: bool

    def contains(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        return not (self.hi is not None and (x > self.hi or (self.hi_open and x == self.hi)))

    def within(self, other: _Interval) -> bool:
        def lo_ok() -> bool:
            if other.lo is None:
                return True
            if self.lo is None:
                return False
            return self.lo > other.lo or (
                self.lo == other.lo and (self.lo_open or not other.lo_open)
            )

        def hi_ok() -> bool:
            if other.hi is None:
                return True
            if self.hi is None:
                return False
            return self.hi < other.hi or (
                self.hi == other.hi and (self.hi_open or not other.hi_open)
            )

        return lo_ok() and hi_ok()

    def empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        return self.lo > self.hi or (self.lo == self.hi and (self.lo_open or self.hi_open))


@dataclass(frozen=True)
class _Opaque:
    """An atom the analysis does not understand, identified by its normalised text."""

    text: str
    positive: bool


_Atom = _Values | _Interval | _Opaque
_Conj = frozenset[_Atom]
_DNF = list[_Conj]
_MAX_DISJUNCTS = 256


class _TooComplex(Exception):
    """The normal form would be too large to compare."""


def _unwrap(node: Any) -> Any:
    from patchpolicy.expr.grammar import unwrap

    return unwrap(node)


def _canon(node: Any) -> str:
    """Whitespace- and quote-insensitive text of a subtree (positions ignored)."""
    node = _unwrap(node)
    if isinstance(node, lark.Token):
        literal = _literal_token(node)
        return repr(literal) if literal is not None else str(node.value)
    return str(node.data) + "(" + ",".join(_canon(c) for c in node.children) + ")"


def _literal_token(token: lark.Token) -> _Value | None:
    from patchpolicy.expr.grammar import string_value as _string_value

    kind = token.type
    text = str(token.value)
    if kind == "STRING_LIT" and "\\" not in text and not text.lower().startswith("b"):
        return ("str", _string_value(token))
    if kind in ("INT_LIT", "FLOAT_LIT", "UINT_LIT"):
        try:
            return ("num", float(text.rstrip("uU")))
        except ValueError:
            return None
    if kind == "BOOL_LIT":
        return ("bool", text == "true")
    if kind == "NULL_LIT":
        return _NULL
    return None


def _literal(node: Any) -> _Value | None:
    node = _unwrap(node)
    if isinstance(node, lark.Tree) and node.data == "literal" and node.children:
        token = node.children[0]
        if isinstance(token, lark.Token):
            return _literal_token(token)
    return None


def _literals(node: Any) -> frozenset[_Value] | None:
    node = _unwrap(node)
    if not (isinstance(node, lark.Tree) and node.data == "list_lit"):
        return None
    if not node.children:
        return frozenset()
    exprlist = node.children[0]
    if not (isinstance(exprlist, lark.Tree) and exprlist.data == "exprlist"):
        return None
    values = [_literal(c) for c in exprlist.children]
    if any(v is None for v in values):
        return None
    return frozenset(v for v in values if v is not None)


def _path(node: Any) -> tuple[str, ...] | None:
    """``host.a.b`` or ``host.labels["k"]`` as a path, or None."""
    node = _unwrap(node)
    if not isinstance(node, lark.Tree):
        return None
    if node.data == "member_dot" and len(node.children) == 2:
        inner = _path(node.children[0])
        name = node.children[1]
        if inner is None or not isinstance(name, lark.Token):
            return None
        return (*inner, str(name.value))
    if node.data == "member_index" and len(node.children) == 2:
        inner = _path(node.children[0])
        key = _literal(node.children[1])
        if inner is None or key is None or key[0] != "str":
            return None
        return (*inner, str(key[1]))
    if node.data == "ident" and node.children:
        name = str(node.children[0])
        return (name,) if name in FIELDS else None
    return None


def _field_type(path: tuple[str, ...]) -> str | None:
    tree: Any = FIELDS
    for part in path:
        if isinstance(tree, dict) and part in tree:
            tree = tree[part]
        elif isinstance(tree, str) and tree.startswith("map("):
            tree = tree[len("map("):-1].split(",", 1)[1]
        else:
            return None
    return tree if isinstance(tree, str) else "message"


_FLIP = {"relation_lt": "relation_gt", "relation_gt": "relation_lt",
         "relation_le": "relation_ge", "relation_ge": "relation_le",
         "relation_eq": "relation_eq", "relation_ne": "relation_ne"}


def _interval(path: tuple[str, ...], op: str, x: float) -> _Interval:
    if op == "relation_lt":
        return _Interval(path, None, False, x, True)
    if op == "relation_le":
        return _Interval(path, None, False, x, False)
    if op == "relation_gt":
        return _Interval(path, x, True, None, False)
    return _Interval(path, x, False, None, False)  # relation_ge


def _relation_atom(node: lark.Tree[Any]) -> _Atom | None:
    op_node, right = node.children
    if not isinstance(op_node, lark.Tree) or len(op_node.children) != 1:
        return None
    op = op_node.data
    left = op_node.children[0]
    if op == "relation_in":
        path, values = _path(left), _literals(right)
        if path is not None and values is not None:
            return _Values(path, True, values)
        return None
    if op not in _FLIP:
        return None
    path, value = _path(left), _literal(right)
    if path is None or value is None:
        path, value, op = _path(right), _literal(left), _FLIP[op]
    if path is None or value is None:
        return None
    if op in ("relation_eq", "relation_ne"):
        return _Values(path, op == "relation_eq", frozenset({value}))
    if value[0] == "num":
        return _interval(path, op, float(value[1]))
    return None


def _negate(atom: _Atom) -> _DNF:
    if isinstance(atom, _Values):
        return [frozenset({_Values(atom.path, not atom.include, atom.values)})]
    if isinstance(atom, _Interval):
        # Outside the bounds, still a number: null fails a comparison either way.
        out: _DNF = []
        if atom.lo is not None:
            out.append(frozenset({_Interval(atom.path, None, False, atom.lo, not atom.lo_open)}))
        if atom.hi is not None:
            out.append(frozenset({_Interval(atom.path, atom.hi, not atom.hi_open, None, False)}))
        return out
    return [frozenset({_Opaque(atom.text, not atom.positive)})]


def _and(a: _DNF, b: _DNF) -> _DNF:
    if len(a) * len(b) > _MAX_DISJUNCTS:
        raise _TooComplex
    return [x | y for x, y in product(a, b)]


def _or(a: _DNF, b: _DNF) -> _DNF:
    if len(a) + len(b) > _MAX_DISJUNCTS:
        raise _TooComplex
    return a + b


def _dnf(node: Any, negate: bool = False) -> _DNF:
    node = _unwrap(node)
    if isinstance(node, lark.Tree):
        kids = node.children
        if node.data in ("conditionalor", "conditionaland") and len(kids) == 2:
            left, right = _dnf(kids[0], negate), _dnf(kids[1], negate)
            disjunction = (node.data == "conditionalor") != negate
            return _or(left, right) if disjunction else _and(left, right)
        if (
            node.data == "unary" and len(kids) == 2
            and isinstance(kids[0], lark.Tree) and kids[0].data == "unary_not"
        ):
            return _dnf(kids[1], not negate)
        literal = _literal(node)
        if literal is not None and literal[0] == "bool":
            return [frozenset()] if literal[1] != negate else []
        atom: _Atom | None = None
        if node.data == "relation" and len(kids) == 2:
            atom = _relation_atom(node)
        else:
            path = _path(node)
            if path is not None and _field_type(path) == "bool":
                # A bare bool field is true for true; its negation for false (null fails).
                return [frozenset({_Values(path, True, frozenset({("bool", not negate)}))})]
        if atom is not None:
            return _negate(atom) if negate else [frozenset({atom})]
    return [frozenset({_Opaque(_canon(node), not negate)})]


def _atom_within(a: _Atom, b: _Atom) -> bool:
    """True when every item satisfying ``a`` satisfies ``b``."""
    if isinstance(a, _Opaque) or isinstance(b, _Opaque):
        return a == b
    if a.path != b.path:
        return False
    if isinstance(a, _Values) and isinstance(b, _Values):
        a, b = a.normal(), b.normal()
        if a.include and b.include:
            return a.values <= b.values
        if a.include:
            return not (a.values & b.values)
        return not b.include and b.values <= a.values
    if isinstance(a, _Interval) and isinstance(b, _Interval):
        return a.within(b)
    if isinstance(a, _Interval) and isinstance(b, _Values):
        b = b.normal()
        if b.include:
            return False
        return not any(v[0] == "num" and a.contains(float(v[1])) for v in b.values)
    if isinstance(a, _Values) and isinstance(b, _Interval):
        a = a.normal()
        return a.include and all(v[0] == "num" and b.contains(float(v[1])) for v in a.values)
    return False


def _unsatisfiable(conj: _Conj) -> bool:
    """A conjunction that no item satisfies (contradictory constraints on one field)."""
    positive = {a.text for a in conj if isinstance(a, _Opaque) and a.positive}
    if any(isinstance(a, _Opaque) and not a.positive and a.text in positive for a in conj):
        return True
    paths = {a.path for a in conj if not isinstance(a, _Opaque)}
    for path in paths:
        allowed: frozenset[_Value] | None = None
        excluded: set[_Value] = set()
        bounds: list[_Interval] = []
        for a in conj:
            if isinstance(a, _Values) and a.path == path:
                n = a.normal()
                if n.include:
                    allowed = n.values if allowed is None else allowed & n.values
                else:
                    excluded |= n.values
            elif isinstance(a, _Interval) and a.path == path:
                bounds.append(a)
        if allowed is not None:
            left = {v for v in allowed - excluded
                    if not bounds or (v[0] == "num" and all(b.contains(float(v[1])) for b in bounds))}
            if not left:
                return True
        if bounds:
            merged = bounds[0]
            for b in bounds[1:]:
                merged = _intersect(merged, b)
            if merged.empty():
                return True
    return False


def _intersect(a: _Interval, b: _Interval) -> _Interval:
    lo, lo_open = a.lo, a.lo_open
    if b.lo is not None and (lo is None or b.lo > lo or (b.lo == lo and b.lo_open)):
        lo, lo_open = b.lo, b.lo_open
    hi, hi_open = a.hi, a.hi_open
    if b.hi is not None and (hi is None or b.hi < hi or (b.hi == hi and b.hi_open)):
        hi, hi_open = b.hi, b.hi_open
    return _Interval(a.path, lo, lo_open, hi, hi_open)


def _conj_within(a: _Conj, b: _Conj) -> bool:
    return _unsatisfiable(a) or all(any(_atom_within(x, y) for x in a) for y in b)


def _union_values(a: _Values, b: _Values) -> _Values:
    a, b = a.normal(), b.normal()
    if a.include and b.include:
        return _Values(a.path, True, a.values | b.values)
    if not a.include and not b.include:
        return _Values(a.path, False, a.values & b.values)
    inc, exc = (a, b) if a.include else (b, a)
    return _Values(a.path, False, exc.values - inc.values)


def _merge(dnf: _DNF) -> _DNF:
    """Join disjuncts that differ only in one field's value set: (C & x in A) | (C & x in
    B) = C & x in A+B; drop disjuncts that cannot hold or that another one contains."""
    items = [c for c in dnf if not _unsatisfiable(c)]
    changed = True
    while changed:
        changed = False
        pairs = [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))]
        for i, j in pairs:
            a, b = items[i], items[j]
            only_a, only_b = a - b, b - a
            if len(only_a) == 1 and len(only_b) == 1:
                x, y = next(iter(only_a)), next(iter(only_b))
                if isinstance(x, _Values) and isinstance(y, _Values) and x.path == y.path:
                    joined = _union_values(x, y)
                    merged = a & b if _trivial(joined) else (a & b) | {joined}
                    items = [c for k, c in enumerate(items) if k not in (i, j)] + [merged]
                    changed = True
                    break
        if not changed:
            for i, c in enumerate(items):
                if any(k != i and _conj_within(c, d) and (c != d or k < i)
                       for k, d in enumerate(items)):
                    items = items[:i] + items[i + 1:]
                    changed = True
                    break
    return [frozenset(a for a in c if not _trivial(a)) for c in items]


def _trivial(atom: _Atom) -> bool:
    """An atom every item satisfies: a whole closed domain, or "not in nothing"."""
    if not isinstance(atom, _Values):
        return False
    n = atom.normal()
    if n.include:
        return n.path in _DOMAINS and n.values == _DOMAINS[n.path]
    return not n.values


def _within(a: _DNF, b: _DNF) -> bool:
    return all(any(_conj_within(x, y) for y in b) for x in a)


def normal_form(source: str | None) -> _DNF:
    """The expression's true-set as a disjunction of conjunctions (None: always true).

    Raises ExprError when the text does not parse and _TooComplex past 256 disjuncts.
    """
    from patchpolicy.expr.grammar import parse

    if source is None:
        return [frozenset()]
    return _merge(_dnf(parse(source)))


def compare_predicates(old: str | None, new: str | None) -> PredicateRelation:
    """How the items for which ``new`` is true relate to those for which ``old`` is.

    ``None`` stands for an omitted expression (true for everything). Sound, incomplete:
    WIDER, NARROWER and EQUIVALENT are proven; UNKNOWN is everything else.
    """
    if old == new:
        return PredicateRelation.EQUIVALENT
    try:
        a, b = normal_form(old), normal_form(new)
    except (_TooComplex, ExprError, RecursionError):
        return PredicateRelation.UNKNOWN
    forward, backward = _within(a, b), _within(b, a)
    if forward and backward:
        return PredicateRelation.EQUIVALENT
    if forward:
        return PredicateRelation.WIDER
    if backward:
        return PredicateRelation.NARROWER
    return PredicateRelation.UNKNOWN
