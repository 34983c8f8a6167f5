"""Compile a CEL expression once and evaluate it memoised on what it reads.

``compile_expression`` checks the text statically (syntax, fields, result type,
duration units; see :mod:`patchpolicy.expr.analysis`) and compiles it with an engine.
The resulting :class:`CompiledExpression` evaluates against msgspec records: it projects
the values at the expression's paths into a memo key, and only on a miss builds an
activation and calls the engine. Outcomes are cached, failures included.

The memo key of a path is its value, except: lists used only order-free (``in``,
exists/all/exists_one, size) are sorted; maps become sorted item tuples; a whole
message (only ever compared with null or tested with has()) keys as "is it null"; a
path through a null message keys as a sentinel distinct from a null leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import msgspec

from patchpolicy.expr.analysis import Analysis, Read, analyse
from patchpolicy.expr.engines import get_engine
from patchpolicy.expr.interface import Engine, EvalFailure, Program
from patchpolicy.model.fleet import FindingRecord, HostRecord

__all__ = ["CacheInfo", "CompiledExpression", "compile_expression", "key_function"]

_DEFAULT_ROOTS = frozenset({"host", "finding"})
_VARS = {"host": "h", "finding": "x"}


class _Absent:
    """Memo-key marker for "the message on the way to this field is null"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<absent>"


_ABSENT = _Absent()


class CacheInfo(NamedTuple):
    hits: int
    misses: int
    size: int


def compile_expression(
    source: str,
    *,
    roots: frozenset[str] = _DEFAULT_ROOTS,
    expect_bool: bool = True,
    engine: Engine | None = None,
) -> CompiledExpression:
    """Check and compile ``source``.

    ``roots`` are the variables the expression may name (a subset of ``host`` and
    ``finding``); with ``expect_bool`` a result statically known not to be a bool is
    rejected. Raises :class:`~patchpolicy.errors.ExprError` with the 0-based offset of
    the problem inside ``source``. ``engine`` defaults to :func:`get_engine`'s.
    """
    analysis = analyse(source, roots=roots, expect_bool=expect_bool)
    engine = engine if engine is not None else get_engine()
    program = engine.compile(source)
    return CompiledExpression(analysis, program, engine.name)


class CompiledExpression:
    """A checked, compiled expression with its memo. Read-only apart from the memo.

    ``paths`` are the sorted ``host.*``/``finding.*`` paths it reads; ``warnings`` the
    validator should print (high-cardinality reads).
    """

    __slots__ = ("_analysis", "_engine_name", "_hits", "_key", "_memo", "_misses",
                 "_plan", "_program", "_reads_finding")

    def __init__(self, analysis: Analysis, program: Program, engine_name: str) -> None:
        self._analysis = analysis
        self._program = program
        self._engine_name = engine_name
        self._memo: dict[tuple[Any, ...], bool | str] = {}
        self._hits = 0
        self._misses = 0
        self._key = _key_function(analysis)
        self._reads_finding = any(p[0] == "finding" for p in analysis.paths)
        # Shorter paths first: a whole message is filled before its fields are.
        self._plan = [(p[0], p[1:]) for p in sorted(analysis.paths, key=len)]

    @property
    def source(self) -> str:
        return self._analysis.source

    @property
    def paths(self) -> tuple[tuple[str, ...], ...]:
        return self._analysis.paths

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._analysis.warnings

    @property
    def engine(self) -> str:
        return self._engine_name

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r}, engine={self._engine_name!r})"

    def evaluate(self, host: HostRecord, finding: FindingRecord | None) -> bool:
        """The expression's bool for this host and finding; memoised.

        Raises :class:`EvalFailure` when evaluation fails or returns a non-bool (cached
        too: the same key raises the same message again). Raises ValueError when the
        expression reads ``finding`` and none is given.
        """
        try:
            key = self._key(host, finding)
        except AttributeError:
            if finding is None and self._reads_finding:
                raise ValueError(f"{self.source!r} reads finding, but none was given") from None
            raise
        try:
            outcome = self._memo[key]
        except KeyError:
            outcome = self._miss(key, host, finding)
        else:
            self._hits += 1
        if isinstance(outcome, bool):
            return outcome
        raise EvalFailure(outcome)

    def key(self, host: HostRecord | None, finding: FindingRecord | None) -> tuple[Any, ...]:
        """The memo key of this host and finding: the values of every path read."""
        return self._key(host, finding)

    def evaluate_uncached(self, host: HostRecord, finding: FindingRecord | None) -> bool:
        """:meth:`evaluate` without this expression's memo, for a caller that keeps its own
        (an evaluation memoises per run, keyed by :func:`key_function`)."""
        outcome = self._outcome(host, finding)
        if isinstance(outcome, bool):
            return outcome
        raise EvalFailure(outcome)

    def evaluate_host(self, host: HostRecord) -> bool:
        """:meth:`evaluate` for host-only expressions (scopes, window selectors)."""
        return self.evaluate(host, None)

    def cache_info(self) -> CacheInfo:
        """Memo hits, misses (engine evaluations) and size."""
        return CacheInfo(self._hits, self._misses, len(self._memo))

    def _miss(self, key: tuple[Any, ...], host: HostRecord, finding: FindingRecord | None) -> bool | str:
        outcome = self._outcome(host, finding)
        self._memo[key] = outcome
        return outcome

    def _outcome(self, host: HostRecord, finding: FindingRecord | None) -> bool | str:
        """One engine evaluation: the bool, or the failure message."""
        self._misses += 1
        activation = self.activation(host, finding)
        outcome: bool | str
        try:
            value = self._program.evaluate(activation)
        except EvalFailure as e:
            outcome = e.message
        else:
            outcome = value if isinstance(value, bool) else (
                f"expression returned {_cel_type_name(value)}, not bool"
            )
        return outcome

    def activation(self, host: HostRecord, finding: FindingRecord | None) -> dict[str, Any]:
        """The minimal activation: exactly the paths read, nested as dicts.

        Every field on a read path is present (null where the record has null), so
        ``finding.kev != null`` and selections through a null message behave as in CEL;
        a whole message read (only ever null-tested) carries all its fields.
        """
        activation: dict[str, Any] = {}
        for root, names in self._plan:
            record = host if root == "host" else finding
            target = activation.get(root)
            if target is None:
                target = activation[root] = {}
            if not names:
                continue
            for name in names[:-1]:
                record = getattr(record, name)
                if record is None:
                    target[name] = None
                    break
                sub = target.get(name)
                if sub is None:
                    sub = target[name] = {}
                target = sub
            else:
                target[names[-1]] = _plain(getattr(record, names[-1]))
        return activation


_SCALARS = frozenset({str, bool, int, float, type(None)})


def _plain(value: Any) -> Any:
    """A record value as activation data: structs -> dicts, tuples -> lists, dates ->
    aware datetimes at the start of the day UTC."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, msgspec.Struct):
        return {name: _plain(getattr(value, name)) for name in value.__struct_fields__}
    raise TypeError(f"unsupported record value {type(value).__name__}")


def _cel_type_name(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "bool", int: "int", float: "double", str: "string", bytes: "bytes",
             list: "list", dict: "map"}
    for cls, name in names.items():
        if isinstance(value, cls):
            return name
    if isinstance(value, datetime):
        return "timestamp"
    return "duration" if hasattr(value, "total_seconds") else type(value).__name__


def key_function(
    expressions: Sequence[CompiledExpression], root: str | None = None
) -> Callable[[Any, Any], tuple[Any, ...]]:
    """One memo key for several expressions (the rules of a policy): every path any of them
    reads, keyed as :class:`CompiledExpression` keys it. With ``root`` (``host`` or
    ``finding``) only that root's paths, so a caller can key the host once per host.

    A list read order-free by one expression and in order by another keys in order.
    """
    reads = tuple(
        r for e in expressions for r in e._analysis.reads if root is None or r.path[0] == root
    )
    return _key_function(Analysis(source="", reads=reads, result_type="bool"))


def _key_function(analysis: Analysis) -> Callable[[Any, Any], tuple[Any, ...]]:
    """Generate ``lambda h, x: (...)`` projecting every path's memo-key value.

    Generated code keeps the hot path to one tuple build; names come only from FIELDS.
    """
    reads: dict[tuple[str, ...], list[Read]] = {}
    for read in analysis.reads:
        reads.setdefault(read.path, []).append(read)
    parts = [_key_part(path, reads[path]) for path in analysis.paths]
    body = "(" + "".join(f"{p}, " for p in parts) + ")"
    namespace: dict[str, Any] = {"_ABSENT": _ABSENT, "tuple": tuple, "sorted": sorted}
    function: Callable[[Any, Any], tuple[Any, ...]] = eval(  # noqa: S307 - FIELDS names only
        f"lambda h, x: {body}", namespace
    )
    return function


def _key_part(path: tuple[str, ...], reads: list[Read]) -> str:
    if len(path) == 1:
        return "False"  # a root compared with null: never null here
    cel_type = reads[0].cel_type
    for name in path:
        if not name.isidentifier():  # pragma: no cover - FIELDS names are identifiers
            raise ValueError(f"bad field name {name!r}")

    def leaf(expr: str) -> str:
        if cel_type == "message":
            return f"({expr} is None)"
        if cel_type.startswith("list("):
            return f"tuple(sorted({expr}))" if all(r.order_free for r in reads) else expr
        if cel_type.startswith("map("):
            return f"tuple(sorted({expr}.items()))"
        return expr

    def walk(expr: str, names: tuple[str, ...]) -> str:
        head = f"{expr}.{names[0]}"
        if len(names) == 1:
            return leaf(head)
        return f"(_ABSENT if {head} is None else {walk(head, names[1:])})"

    return walk(_VARS[path[0]], path[1:])
