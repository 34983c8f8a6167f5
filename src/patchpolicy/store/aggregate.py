"""The period report's reads, aggregated by the database (SQLAlchemy Core: the same
statements on SQLite and PostgreSQL) so that the report reads one row per item and a few
per evaluation rather than every span of the store:

- ``open_runs``: the open spans counted by (first and last evaluation, overdue or not,
  clock start): the backlog at each evaluation and the ageing at each bucket's end are
  sums of these counts;
- ``item_rows``: one row per item, its spans reduced by GROUP BY; the few items whose
  facts depend on the order of their spans (an exception covered them, their terms or
  their fix changed) are flagged, and ``span_rows`` reads those items' spans.

Only exact values cross: counts, and the stored texts of times; every time is compared
and every metric computed in Python (``metrics``), as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, or_, select, true

from patchpolicy.store.metrics import OPEN_VERDICTS
from patchpolicy.store.schema import host_scans, hosts, item_keys, item_spans, item_terms

_OPEN = sorted(str(v) for v in OPEN_VERDICTS)
#: Item ids per statement reading the spans of chosen items (SQLite's bound-parameter limit
#: is 32,766).
_CHUNK = 10_000


def raw_rows(conn: Connection, stmt: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of ``stmt`` as plain tuples from the driver's cursor, in the connection's
    transaction: SQLAlchemy's row objects would cost about as much as the database's own
    work here."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = ([compiled.params[k] for k in compiled.positiontup or ()]
                   if compiled.positional else compiled.params)
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.execute(compiled.string, params)
        while batch := cur.fetchmany(20_000):
            yield from batch
    finally:
        cur.close()


def _of_policy(policy: str | None) -> Any:
    """The spans of ``policy``'s items; None: of every item (the store has one policy,
    so the filter would only cost a lookup per span)."""
    if policy is None:
        return true()
    return item_spans.c.item_id.in_(select(item_keys.c.id).where(item_keys.c.policy == policy))


def open_runs(conn: Connection, policy: str | None
              ) -> Iterator[tuple[int, int, int, str | None, int]]:
    """(first evaluation id, last evaluation id, 1 if overdue else 0, clock start text,
    how many spans) over the open spans (verdict open, due_soon or overdue) of ``policy``
    (None: of the store's one policy)."""
    s, t = item_spans, item_terms
    overdue = case((s.c.verdict == "overdue", 1), else_=0)
    stmt = (select(s.c.first_eval, s.c.last_eval, overdue, t.c.clock_start, func.count())
            .select_from(s.join(t, t.c.id == s.c.terms_id))
            .where(_of_policy(policy), s.c.verdict.in_(_OPEN))
            .group_by(s.c.first_eval, s.c.last_eval, overdue, t.c.clock_start))
    return raw_rows(conn, stmt)


#: An item row: (host, finding, severity, clock start, deadline, fixed_at, controls text,
#: ordered, item id), where ``ordered`` (1 or 0) says that its facts depend on the order
#: of its spans (several terms or fix times, or an exception): read them with
#: ``span_rows``; otherwise no exception waived it (``tally.Fact``'s waived is 0).
ItemRow = tuple[str, str, str, str | None, str | None, str | None, str, int, int]


def item_rows(conn: Connection, policy: str | None, first_evals: Sequence[int] | None
              ) -> Iterator[ItemRow]:
    """One row per item of ``policy`` (None: of the store's one policy) with a span
    starting at one of ``first_evals`` (None: any), from the terms of its spans (equal
    unless ``ordered``) and its one fix time."""
    s, k, t = item_spans, item_keys, item_terms
    g = (select(s.c.item_id.label("item_id"), func.min(s.c.terms_id).label("tid"),
                func.max(s.c.terms_id).label("tid_hi"),
                func.min(s.c.fixed_at).label("fixed_lo"), func.max(s.c.fixed_at).label("fixed"),
                func.max(case((s.c.verdict == "excepted", 1), else_=0)).label("exc"))
         .where(_of_policy(policy))
         .group_by(s.c.item_id))
    if first_evals is not None:
        g = g.where(s.c.first_eval.in_(first_evals))
    sub = g.subquery("g")
    ordered = case((or_(sub.c.tid != sub.c.tid_hi, sub.c.fixed_lo != sub.c.fixed,
                        sub.c.exc == 1), 1), else_=0)
    stmt = (select(k.c.host, k.c.finding, t.c.severity, t.c.clock_start, t.c.deadline,
                   sub.c.fixed, t.c.controls, ordered, sub.c.item_id)
            .select_from(sub.join(k, k.c.id == sub.c.item_id).join(t, t.c.id == sub.c.tid)))
    return raw_rows(conn, stmt)


#: A span of an ordered item: (item id, first evaluation id, verdict, fixed_at, severity,
#: clock start, deadline, controls text).
SpanRow = tuple[int, int, str, str | None, str, str | None, str | None, str]


def span_rows(conn: Connection, items: Sequence[int], first_evals: Sequence[int] | None
              ) -> Iterator[SpanRow]:
    """The spans of ``items`` starting at one of ``first_evals`` (None: any), with their
    terms."""
    s, t = item_spans, item_terms
    for at in range(0, len(items), _CHUNK):
        stmt = (select(s.c.item_id, s.c.first_eval, s.c.verdict, s.c.fixed_at, t.c.severity,
                       t.c.clock_start, t.c.deadline, t.c.controls)
                .select_from(s.join(t, t.c.id == s.c.terms_id))
                .where(s.c.item_id.in_(items[at:at + _CHUNK])))
        if first_evals is not None:
            stmt = stmt.where(s.c.first_eval.in_(first_evals))
        yield from raw_rows(conn, stmt)


def scan_rows(conn: Connection) -> Iterator[tuple[str, list[int]]]:
    """Every host with a scan time, and its scan times in microseconds, in order."""
    names = dict(raw_rows(conn, select(hosts.c.id, hosts.c.name)))
    by_id: dict[int, list[int]] = {}
    for host_id, at in raw_rows(conn, select(host_scans.c.host_id, host_scans.c.scan_at)):
        got = by_id.get(host_id)
        if got is None:
            got = by_id[host_id] = []
        got.append(at)
    for host_id, times in by_id.items():
        times.sort()
        yield names[host_id], times
