"""Read a store: a canonical dump (what order-free recording is tested on), the lifecycle
of one host's findings, what the store holds, and pruning old evaluations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, delete, func, or_, select, text, update

from patchpolicy.store.engine import Store, StoreError
from patchpolicy.store.schema import (
    ITEM_STATE,
    SPAN_STATE,
    TERMS_STATE,
    check_spans,
    current_version,
    evaluation_policies,
    evaluations,
    from_micros,
    host_scans,
    hosts,
    item_keys,
    item_spans,
    item_terms,
    to_micros,
)


def _state_cols() -> list[Any]:
    """An item span's whole state (schema.ITEM_STATE), from the span and its terms."""
    own = set(SPAN_STATE)
    assert own | set(TERMS_STATE) == set(ITEM_STATE)
    return [(item_spans.c[c] if c in own else item_terms.c[c]) for c in ITEM_STATE]


def _spans_with_terms() -> Any:
    return item_spans.join(item_terms, item_terms.c.id == item_spans.c.terms_id)


def _row(r: Any) -> dict[str, Any]:
    # Column names are str subclasses (quoted_name), which orjson refuses as keys.
    return {str(k): v for k, v in r._mapping.items()}


def _eval_order(conn: Connection) -> dict[int, tuple[str, str]]:
    """Evaluation id -> (as_of, bundle identity): ids depend on arrival, these do not."""
    return {i: (a, s) for i, a, s in conn.execute(
        select(evaluations.c.id, evaluations.c.as_of, evaluations.c.bundle_sha256))}


def dump(store: Store) -> Iterator[bytes]:
    """Every row of the store as JSON lines, without arrival-dependent ids, sorted: two
    stores holding the same evaluations dump the same bytes."""
    with store.read() as conn:
        order = _eval_order(conn)
        ev_cols = [c for c in evaluations.c if c.name != "id"]
        for r in conn.execute(select(*ev_cols).order_by(evaluations.c.as_of,
                                                        evaluations.c.bundle_sha256)):
            yield orjson.dumps({"evaluation": _row(r)}, option=orjson.OPT_SORT_KEYS) + b"\n"
        rows = [
            {"evaluation_policy": {**{k: v for k, v in _row(r).items() if k != "evaluation_id"},
                                   "bundle": order[r.evaluation_id][1]}}
            for r in conn.execute(select(evaluation_policies))
        ]
        for line in sorted(orjson.dumps(x, option=orjson.OPT_SORT_KEYS) for x in rows):
            yield line + b"\n"
        lines = []
        for r in conn.execute(
            select(item_keys.c.policy, item_keys.c.host, item_keys.c.finding, item_keys.c.vuln,
                   item_keys.c.package, item_spans.c.first_eval, item_spans.c.last_eval,
                   *_state_cols())
            .select_from(item_keys)
            .join(item_spans, item_spans.c.item_id == item_keys.c.id)
            .join(item_terms, item_terms.c.id == item_spans.c.terms_id)
        ):
            m = _row(r)
            m["first_eval"], m["last_eval"] = order[m["first_eval"]], order[m["last_eval"]]
            lines.append(orjson.dumps({"item_span": m}, option=orjson.OPT_SORT_KEYS))
        for r in conn.execute(select(*(c for c in check_spans.c if c.name != "id"))):
            m = _row(r)
            m["first_eval"], m["last_eval"] = order[m["first_eval"]], order[m["last_eval"]]
            lines.append(orjson.dumps({"check_span": m}, option=orjson.OPT_SORT_KEYS))
        for name, at, until in conn.execute(
            select(hosts.c.name, host_scans.c.scan_at, host_scans.c.seen_until)
            .join(hosts, hosts.c.id == host_scans.c.host_id)
        ):
            lines.append(orjson.dumps({"host_scan": {"host": name, "scan_at": from_micros(at),
                                                     "seen_until": from_micros(until)}},
                                      option=orjson.OPT_SORT_KEYS))
        for line in sorted(lines):
            yield line + b"\n"


@dataclass(frozen=True)
class Change:
    """One span of an item's lifecycle: its state from ``first`` to ``last`` (as-of)."""

    first: str
    last: str
    state: dict[str, Any]


@dataclass(frozen=True)
class Lifecycle:
    policy: str
    host: str
    finding: str
    vuln: str
    package: str | None
    spans: tuple[Change, ...]


def history(store: Store, host: str, finding: str | None = None) -> list[Lifecycle]:
    """The lifecycle of each finding of ``host`` (or only ``finding``, by finding id or
    vulnerability id), sorted by finding, then policy."""
    with store.read() as conn:
        order = _eval_order(conn)
        # By (policy, host): the prefix of the natural key's index.
        policies = sorted(conn.execute(select(evaluation_policies.c.policy).distinct()).scalars())
        cond = and_(item_keys.c.policy.in_(policies), item_keys.c.host == host)
        if finding is not None:
            cond = and_(cond, or_(item_keys.c.finding == finding, item_keys.c.vuln == finding))
        keys = conn.execute(select(item_keys).where(cond)).all()
        out = []
        for k in keys:
            spans = [
                Change(order[r[0]][0], order[r[1]][0], dict(zip(ITEM_STATE, r[2:], strict=True)))
                for r in conn.execute(
                    select(item_spans.c.first_eval, item_spans.c.last_eval, *_state_cols())
                    .select_from(_spans_with_terms()).where(item_spans.c.item_id == k.id))
            ]
            spans.sort(key=lambda c: (c.first, c.last))
            out.append(Lifecycle(k.policy, k.host, k.finding, k.vuln, k.package, tuple(spans)))
    out.sort(key=lambda lc: (lc.finding, lc.policy))
    return out


@dataclass(frozen=True)
class StoreInfo:
    url: str
    dialect: str
    schema_version: int
    size_bytes: int
    evaluations: int
    first_as_of: str | None
    last_as_of: str | None
    policies: tuple[tuple[str, str, int | None], ...]
    """(policy, latest version, retention years) per recorded policy."""
    item_keys: int
    item_spans: int
    check_spans: int
    host_scans: int


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _size(store: Store, conn: Connection) -> int:
    loc = store.location
    if loc.dialect == "sqlite":
        assert loc.sqlite_path is not None
        return sum(p.stat().st_size for p in (loc.sqlite_path, loc.sqlite_path.with_name(
            loc.sqlite_path.name + "-wal")) if p.exists())
    tables = [t.name for t in (evaluations, evaluation_policies, item_keys, item_spans,
                               item_terms, check_spans, hosts, host_scans)]
    return int(sum(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": t}).scalar_one()
                   for t in tables))


def info(store: Store) -> StoreInfo:
    with store.read() as conn:
        version = current_version(conn)
        assert version is not None
        lo, hi = conn.execute(select(func.min(evaluations.c.as_of),
                                     func.max(evaluations.c.as_of))).one()
        latest: dict[str, tuple[str, int | None]] = {}
        for name, ver, years, _a in conn.execute(
            select(evaluation_policies.c.policy, evaluation_policies.c.version,
                   evaluation_policies.c.retention_years, evaluations.c.as_of)
            .join(evaluations, evaluations.c.id == evaluation_policies.c.evaluation_id)
            .order_by(evaluations.c.as_of, evaluations.c.bundle_sha256)
        ):
            latest[name] = (ver, years)
        return StoreInfo(
            store.location.shown, store.location.dialect, version, _size(store, conn),
            _count(conn, evaluations), lo, hi,
            tuple((n, v, y) for n, (v, y) in sorted(latest.items())),
            _count(conn, item_keys), _count(conn, item_spans), _count(conn, check_spans),
            _count(conn, host_scans),
        )


@dataclass(frozen=True)
class Retained:
    """An evaluation that a policy's retention still requires."""

    as_of: str
    policy: str
    years: int
    basis: str | None
    until: str


@dataclass(frozen=True)
class PruneResult:
    evaluations: int
    retained: tuple[Retained, ...]
    """What retention still required (deleted only when forced)."""
    deleted: bool


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def prune(store: Store, before: datetime, today: date, *, force_delete_retained: bool = False,
          dry_run: bool = False) -> PruneResult:
    """Delete the evaluations with as-of before ``before`` and what only they show (spans
    shortened to the evaluations left, keys and scan times left with nothing). Refused
    (nothing deleted, ``deleted`` False) when a policy's metadata.retention recorded in
    one of them still requires it on ``today``, unless ``force_delete_retained``."""
    from patchpolicy.model.common import format_timestamp

    cut = format_timestamp(before)
    with store.write() as conn:
        doomed = conn.execute(
            select(evaluations.c.id, evaluations.c.as_of).where(evaluations.c.as_of < cut)
        ).all()
        retained: list[Retained] = []
        ids = [i for i, _ in doomed]
        for i in range(0, len(ids), 500):
            for as_of, policy, years, basis in conn.execute(
                select(evaluations.c.as_of, evaluation_policies.c.policy,
                       evaluation_policies.c.retention_years, evaluation_policies.c.retention_basis)
                .join(evaluations, evaluations.c.id == evaluation_policies.c.evaluation_id)
                .where(evaluations.c.id.in_(ids[i:i + 500]),
                       evaluation_policies.c.retention_years.is_not(None))
            ):
                until = _add_years(date.fromisoformat(as_of[:10]), int(years))
                if until > today:
                    retained.append(Retained(as_of, policy, int(years), basis, until.isoformat()))
        retained.sort(key=lambda r: (r.as_of, r.policy))
        if (retained and not force_delete_retained) or dry_run or not ids:
            return PruneResult(len(ids), tuple(retained), False)
        _delete_evaluations(conn, set(ids), cut)
        return PruneResult(len(ids), tuple(retained), True)


def _delete_evaluations(conn: Connection, doomed: set[int], cut: str) -> None:
    """Delete a prefix (by as-of, those before ``cut``) of the evaluations: spans that end
    inside it go, spans that start inside it start at their first evaluation left; scan
    times that only evaluations inside it reported go."""
    policies = [p for (p,) in conn.execute(select(evaluation_policies.c.policy).distinct())]
    for policy in policies:
        seq = conn.execute(
            select(evaluations.c.id)
            .join(evaluation_policies, evaluation_policies.c.evaluation_id == evaluations.c.id)
            .where(evaluation_policies.c.policy == policy)
            .order_by(evaluations.c.as_of, evaluations.c.bundle_sha256)
        ).scalars().all()
        gone = [i for i in seq if i in doomed]
        kept = [i for i in seq if i not in doomed]
        if not gone:
            continue
        of_policy = {
            item_spans: item_spans.c.item_id.in_(
                select(item_keys.c.id).where(item_keys.c.policy == policy)),
            check_spans: check_spans.c.policy == policy,
        }
        for table, scope in of_policy.items():
            for i in range(0, len(gone), 500):
                chunk = gone[i:i + 500]
                conn.execute(delete(table).where(scope, table.c.last_eval.in_(chunk)))
                if kept:
                    conn.execute(update(table).where(scope, table.c.first_eval.in_(chunk))
                                 .values(first_eval=kept[0]))
    live = select(item_spans.c.item_id).distinct()
    conn.execute(delete(item_keys).where(item_keys.c.id.not_in(live)))
    conn.execute(delete(item_terms).where(
        item_terms.c.id.not_in(select(item_spans.c.terms_id).distinct())))
    conn.execute(delete(host_scans).where(host_scans.c.seen_until < to_micros(cut)))
    ids = sorted(doomed)
    for i in range(0, len(ids), 500):
        conn.execute(delete(evaluation_policies).where(
            evaluation_policies.c.evaluation_id.in_(ids[i:i + 500])))
        conn.execute(delete(evaluations).where(evaluations.c.id.in_(ids[i:i + 500])))


def ensure_nonempty(store: Store) -> None:
    with store.read() as conn:
        if not _count(conn, evaluations):
            raise StoreError(f"{store.location.shown}: the store holds no evaluation")
