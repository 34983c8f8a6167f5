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

The jobs live in their own modules: :mod:`~patchpolicy.expr.grammar` (the parser, its
cached tables, syntax errors), :mod:`~patchpolicy.expr.typecheck` (the walk),
:mod:`~patchpolicy.expr.celtypes` (static types and overloads) and
:mod:`~patchpolicy.expr.literals` (literal arguments); this module keeps the entry points
and the limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lark

from patchpolicy.errors import ExprError
from patchpolicy.expr.celtypes import ANY
from patchpolicy.expr.grammar import parse
from patchpolicy.expr.typecheck import Read, Walker
from patchpolicy.model.fleet import FIELDS

__all__ = [
    "HIGH_CARDINALITY",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
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
    walker = Walker(source, roots)
    result = walker.visit(tree, frozenset())
    if expect_bool and result not in ("bool", ANY):
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
    walker = Walker(source, frozenset(FIELDS), lenient=True)
    walker.visit(tree, frozenset())
    return sorted(
        (r.start, r.end) for r in walker.reads if r.cel_type == "timestamp" and not r.in_has
    )
