"""Record an evidence bundle into a store: once (the bundle's identity is the sha256 of
its SHA256SUMS), in any order.

Per (policy, host, finding) and per (policy, host, check) the store keeps *spans*: a span
is a maximal run of consecutive evaluations of that policy (ordered by as-of, then bundle
identity) in which the key was present with one unchanged state. Recording an evaluation
between two recorded ones (a backfill) extends, splits or merges the spans of its two
neighbours so that the spans are always the maximal runs over the set of recorded
evaluations: the store depends on which bundles were recorded, never on their order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Table, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from patchpolicy.model.common import parse_timestamp
from patchpolicy.store.engine import Store, StoreError
from patchpolicy.store.schema import (
    CHECK_STATE,
    SPAN_STATE,
    TERMS_STATE,
    check_spans,
    evaluation_policies,
    evaluations,
    host_scans,
    hosts,
    item_keys,
    item_spans,
    item_terms,
    to_micros,
)

Key = Any
State = tuple[Any, ...]


@dataclass
class RecordResult:
    """What ``record_bundle`` did."""

    bundle_sha256: str
    as_of: str
    recorded: bool
    """False when the bundle was already in the store (nothing changed)."""
    items: int = 0
    checks: int = 0
    policies: list[str] = field(default_factory=list)
    backfill: bool = False
    """True when a later evaluation of one of its policies was already recorded."""
    spans_opened: int = 0
    spans_extended: int = 0
    spans_split: int = 0


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def bundle_identity(bundle_dir: Path) -> tuple[str, str]:
    """(sha256 of SHA256SUMS, its text)."""
    raw = (bundle_dir / "SHA256SUMS").read_bytes()
    return hashlib.sha256(raw).hexdigest(), raw.decode()


_LAST_SCAN = re.compile(r"^last scan (\S+) ")
_LIMIT = re.compile(r"limit ((?:\d+[dhms])+)\+?\)?$")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def scan_of_detail(detail: str) -> tuple[str | None, int | None]:
    """(last scan time, limit in seconds) stated by a scan_freshness check's detail; the
    evidence holds them only in that text (``last scan 2026-11-20T02:00:00Z (4h old,
    limit 7d)``). Limits printed to the hour beyond a day lose their minutes."""
    m = _LAST_SCAN.match(detail)
    lm = _LIMIT.search(detail)
    limit = None
    if lm:
        limit = sum(int(n) * _UNIT_S[u] for n, u in re.findall(r"(\d+)([dhms])", lm.group(1)))
    return (m.group(1) if m else None), limit


def scan_of_check(check: dict[str, Any]) -> tuple[str | None, int | None]:
    """(last scan time, limit in seconds) of a scan_freshness check: its ``observed_at`` and
    ``due`` where the evidence has them, else what its detail text states (bundles made
    before host checks carried them)."""
    observed, due = check.get("observed_at"), check.get("due")
    if observed and due:
        seconds = (parse_timestamp(due) - parse_timestamp(observed)).total_seconds()
        return observed, int(seconds)
    return scan_of_detail(check["detail"])


def _item_state(it: dict[str, Any]) -> State:
    return (
        it["verdict"], it["severity"], it["status"], it.get("binding_rule"),
        it.get("clock_start"), it.get("deadline"), it.get("fixed_at"), it.get("exception"),
        _json(list(it.get("controls") or [])), 1 if it.get("kev") else 0,
    )


class _Item(NamedTuple):
    """What the store keeps of one line of items.jsonl."""

    host: str
    finding: str
    vuln: str
    package: str | None
    state: State


def _items_by_policy(path: Path) -> Iterator[tuple[str, list[_Item]]]:
    """items.jsonl grouped by policy (it is sorted by policy, host, finding); each item cut
    to what the store keeps as it is read, so a policy's items stay small in memory."""
    current: str | None = None
    group: list[_Item] = []
    seen: set[str] = set()
    with path.open("rb") as fh:
        for n, line in enumerate(fh, 1):
            try:
                it = orjson.loads(line)
                policy = it["policy"]
                item = _Item(it["host"], it["finding"], it["vuln"], it.get("package"),
                             _item_state(it))
            except (orjson.JSONDecodeError, KeyError, TypeError) as e:
                raise StoreError(f"{path}:{n}: not an item: {e}") from e
            if policy != current:
                if current is not None:
                    yield current, group
                if policy in seen:
                    raise StoreError(f"{path}:{n}: items of policy {policy!r} are not contiguous")
                seen.add(policy)
                current, group = policy, []
            group.append(item)
    if current is not None:
        yield current, group


def _insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = conn.dialect.name
    stmt = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))
    conn.execute(stmt.on_conflict_do_nothing(), list(rows))


@dataclass
class _Neighbours:
    prev: int | None
    next: int | None
    before: list[int]
    """Evaluations of the policy ordered at or before ``prev``."""
    after: list[int]
    """Evaluations of the policy ordered at or after ``next``."""


def _neighbours(conn: Connection, policy: str, eid: int) -> _Neighbours:
    rows = conn.execute(
        select(evaluations.c.id)
        .join(evaluation_policies, evaluation_policies.c.evaluation_id == evaluations.c.id)
        .where(evaluation_policies.c.policy == policy)
        .order_by(evaluations.c.as_of, evaluations.c.bundle_sha256)
    ).scalars().all()
    i = rows.index(eid)
    before, after = list(rows[:i]), list(rows[i + 1:])
    return _Neighbours(before[-1] if before else None, after[0] if after else None,
                       before, after)


@dataclass
class _Ops:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    set_last: list[dict[str, Any]] = field(default_factory=list)
    set_first: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    opened: int = 0
    extended: int = 0
    split: int = 0


#: Positions in an item's state (schema.ITEM_STATE order) of the span's own columns and
#: of its terms (schema.SPAN_STATE, schema.TERMS_STATE).
_SPAN_AT = (0, 2, 6, 7)
_TERMS_AT = (1, 3, 4, 5, 8, 9)


@dataclass
class _Kind:
    """What ``_merge_spans`` needs of one kind of span: how to read a policy's spans and
    how to write a span's state."""

    table: Table
    key_cols: tuple[str, ...]
    scope: Any
    """The select of one policy's spans: id, first, last, key columns, state columns."""
    terms: bool
    """Item spans: the state's constant part is a row of pp_item_terms."""


def _item_kind(policy: str) -> _Kind:
    cols = [item_spans.c.id, item_spans.c.first_eval, item_spans.c.last_eval,
            item_spans.c.item_id, *(item_spans.c[c] for c in SPAN_STATE), item_spans.c.terms_id,
            *(item_terms.c[c] for c in TERMS_STATE)]
    base = (select(*cols).join(item_keys, item_keys.c.id == item_spans.c.item_id)
            .join(item_terms, item_terms.c.id == item_spans.c.terms_id)
            .where(item_keys.c.policy == policy))
    return _Kind(item_spans, ("item_id",), base, True)


def _check_kind(policy: str) -> _Kind:
    t = check_spans
    base = select(t.c.id, t.c.first_eval, t.c.last_eval, t.c.host, t.c.check_name,
                  *(t.c[c] for c in CHECK_STATE)).where(t.c.policy == policy)
    return _Kind(t, ("host", "check_name"), base, False)


class _Terms:
    """Ids of pp_item_terms rows: a span reuses its neighbour's terms when they are equal,
    else a new row is written (ids given here, under the writers' lock)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.next_id = int(conn.execute(select(func.coalesce(func.max(item_terms.c.id), 0)))
                           .scalar_one()) + 1
        self.rows: list[dict[str, Any]] = []

    def new(self, terms: State) -> int:
        i = self.next_id
        self.next_id += 1
        self.rows.append({"id": i, **dict(zip(TERMS_STATE, terms, strict=True))})
        return i

    def flush(self) -> None:
        if self.rows:
            self.conn.execute(insert(item_terms), self.rows)
            self.rows = []


# The order-free merge of one evaluation's states into the spans around it is one case
# analysis (extend, split, join, open) over the neighbours read once; the cases share them.
# Long: one case analysis over shared neighbours (above).
def _merge_spans(
    conn: Connection, kind: _Kind, policy: str, eid: int, nb: _Neighbours,
    new: dict[Key, State], terms: _Terms | None = None,
) -> _Ops:
    """Bring ``kind``'s spans of ``policy`` to the maximal runs once evaluation ``eid``
    (with the states ``new``, by key) is among them."""
    table = kind.table
    nk = len(kind.key_cols)
    # A loaded span: (id, first, last, state, terms id or None).
    Loaded = tuple[int, int, int, State, int | None]

    def load(cond: Any) -> dict[Key, Loaded]:
        out: dict[Key, Loaded] = {}
        for row in conn.execute(kind.scope.where(cond)):
            key = row[3] if nk == 1 else tuple(row[3:3 + nk])
            rest = tuple(row[3 + nk:])
            if kind.terms:
                own, tid, tv = rest[:4], rest[4], rest[5:]
                state = (own[0], tv[0], own[1], tv[1], tv[2], tv[3], own[2], own[3], tv[4], tv[5])
                out[key] = (row[0], row[1], row[2], state, tid)
            else:
                out[key] = (row[0], row[1], row[2], rest, None)
        return out

    ending = load(table.c.last_eval == nb.prev) if nb.prev is not None else {}
    starting = load(table.c.first_eval == nb.next) if nb.next is not None else {}
    covering = (
        load(and_(table.c.first_eval.in_(nb.before), table.c.last_eval.in_(nb.after)))
        if nb.prev is not None and nb.next is not None else {}
    )
    ops = _Ops()

    def terms_of(key: Key, state: State) -> int:
        assert terms is not None
        want = tuple(state[i] for i in _TERMS_AT)
        for found in (ending.get(key), starting.get(key), covering.get(key)):
            if found is not None and tuple(found[3][i] for i in _TERMS_AT) == want:
                assert found[4] is not None
                return found[4]
        return terms.new(want)

    def row(key: Key, first: int, last: int, state: State, tid: int | None = None) -> dict[str, Any]:
        keys = (key,) if nk == 1 else key
        out: dict[str, Any] = {"first_eval": first, "last_eval": last,
                               **dict(zip(kind.key_cols, keys, strict=True))}
        if kind.terms:
            out.update(zip(SPAN_STATE, (state[i] for i in _SPAN_AT), strict=True))
            out["terms_id"] = tid if tid is not None else terms_of(key, state)
        else:
            out["policy"] = policy
            out.update(zip(CHECK_STATE, state, strict=True))
        return out

    for key, state in new.items():
        c = covering.get(key)
        if c is not None:
            sid, first, last, cstate, ctid = c
            if cstate == state:
                continue
            assert nb.prev is not None and nb.next is not None
            ops.set_last.append({"b_id": sid, "b_v": nb.prev})
            ops.inserts.append(row(key, nb.next, last, cstate, ctid))
            ops.inserts.append(row(key, eid, eid, state))
            ops.split += 1
            continue
        left = ending.get(key)
        right = starting.get(key)
        left_ok = left is not None and left[3] == state
        right_ok = right is not None and right[3] == state
        if left_ok and right_ok:
            assert left is not None and right is not None
            ops.set_last.append({"b_id": left[0], "b_v": right[2]})
            ops.deletes.append(right[0])
            ops.extended += 1
        elif left_ok:
            assert left is not None
            ops.set_last.append({"b_id": left[0], "b_v": eid})
            ops.extended += 1
        elif right_ok:
            assert right is not None
            ops.set_first.append({"b_id": right[0], "b_v": eid})
            ops.extended += 1
        else:
            ops.inserts.append(row(key, eid, eid, state))
            ops.opened += 1
    for key, (sid, _first, last, cstate, ctid) in covering.items():
        if key in new:
            continue
        # Absent from this evaluation: the run is broken around it.
        assert nb.prev is not None and nb.next is not None
        ops.set_last.append({"b_id": sid, "b_v": nb.prev})
        ops.inserts.append(row(key, nb.next, last, cstate, ctid))
        ops.split += 1
    if terms is not None:
        terms.flush()
    if ops.set_last:
        conn.execute(update(table).where(table.c.id == bindparam("b_id"))
                     .values(last_eval=bindparam("b_v")), ops.set_last)
    if ops.set_first:
        conn.execute(update(table).where(table.c.id == bindparam("b_id"))
                     .values(first_eval=bindparam("b_v")), ops.set_first)
    if ops.deletes:
        for i in range(0, len(ops.deletes), 500):
            conn.execute(delete(table).where(table.c.id.in_(ops.deletes[i:i + 500])))
    if ops.inserts:
        conn.execute(insert(table), ops.inserts)
    return ops


def _record_scans(conn: Connection, as_of: str, scans: set[tuple[str, str]]) -> None:
    """Add each (host, scan time) reported, or raise its latest as-of to ``as_of``."""
    if not scans:
        return
    names = sorted({h for h, _ in scans})
    ids: dict[str, int] = {}
    for i in range(0, len(names), 500):
        chunk = names[i:i + 500]
        ids.update((n, h) for h, n in conn.execute(
            select(hosts.c.id, hosts.c.name).where(hosts.c.name.in_(chunk))))
    missing = [n for n in names if n not in ids]
    if missing:
        conn.execute(insert(hosts), [{"name": n} for n in missing])
        for i in range(0, len(missing), 500):
            ids.update((n, h) for h, n in conn.execute(
                select(hosts.c.id, hosts.c.name).where(hosts.c.name.in_(missing[i:i + 500]))))
    until = to_micros(as_of)
    rows = []
    for h, t in sorted(scans):
        try:
            at = to_micros(t)
        except ValueError as e:
            raise StoreError(f"host {h!r}: scan time {t!r} is not an RFC 3339 time: {e}") from e
        rows.append({"host_id": ids[h], "scan_at": at, "seen_until": until})
    stmt = (postgresql.insert(host_scans) if conn.dialect.name == "postgresql"
            else sqlite.insert(host_scans))
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[host_scans.c.host_id, host_scans.c.scan_at],
        set_={"seen_until": func.max(host_scans.c.seen_until, stmt.excluded.seen_until)
              if conn.dialect.name == "sqlite"
              else func.greatest(host_scans.c.seen_until, stmt.excluded.seen_until)},
    ), rows)


def _item_ids(conn: Connection, policy: str, items: Iterable[_Item]) -> dict[tuple[str, str], int]:
    """Ids of the (host, finding) keys of ``policy``, creating the missing ones."""
    ids: dict[tuple[str, str], int] = {
        (h, f): i for i, h, f in conn.execute(
            select(item_keys.c.id, item_keys.c.host, item_keys.c.finding)
            .where(item_keys.c.policy == policy))
    }
    missing = [
        {"policy": policy, "host": it.host, "finding": it.finding, "vuln": it.vuln,
         "package": it.package}
        for it in items if (it.host, it.finding) not in ids
    ]
    if missing:
        _insert_ignore(conn, item_keys, missing)
        for i, h, f in conn.execute(
            select(item_keys.c.id, item_keys.c.host, item_keys.c.finding)
            .where(item_keys.c.policy == policy)
        ):
            ids[(h, f)] = i
    return ids


def record_bundle(store: Store, bundle_dir: str | Path) -> RecordResult:
    """Verify ``bundle_dir`` (a bundle ``verify`` rejects is refused: StoreError, exit 2)
    and record it in one transaction; recording a bundle already there changes nothing."""
    from patchpolicy.verify import verify_bundle

    d = Path(bundle_dir)
    if not d.is_dir():
        raise StoreError(f"{d}: not a directory")
    v = verify_bundle(d)
    if not v.ok:
        raise StoreError(f"{d}: refusing to record a bundle that verify rejects: "
                         + "; ".join(v.lines()))
    return _record_unverified(store, d)


# One transaction's steps in order (evaluation row, policies, items, checks, scans);
# cutting it would pass the connection, ids and counters through each.
# Long: one transaction's steps in order (above).
def _record_unverified(store: Store, d: Path) -> RecordResult:
    """``record_bundle`` once verify has accepted ``d``; only its SHA256SUMS,
    evidence.json and items file are read (benchmarks/bench_history.py's ``--fast`` records
    bundles of only these files through it)."""
    if not (d / "evidence.json").is_file():
        raise StoreError(f"{d}: no evidence.json: not an evaluation's evidence bundle")
    sha, sums = bundle_identity(d)
    try:
        ev = orjson.loads((d / "evidence.json").read_bytes())
        as_of = ev["as_of"]
        snap = ev["inputs"]["snapshot"]
        items_path = d / ev["items_file"]["path"]
        summary = ev["summary"]
        row = {
            "bundle_sha256": sha, "as_of": as_of, "tool_version": ev["tool"]["version"],
            "snapshot_path": snap["path"], "snapshot_sha256": snap["sha256"],
            "snapshot_taken_at": snap["taken_at"], "gate_result": summary["gate"]["result"],
            "failing": summary["gate"]["failing"], "items": ev["items_file"]["count"],
            "inputs": _json(ev["inputs"]), "summary": _json(summary),
            "exceptions": _json(ev["exceptions"]), "controls": _json(ev["controls"]),
            "sums": sums,
        }
        policies = ev["policies"]
        checks = ev["host_checks"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as e:
        raise StoreError(f"{d / 'evidence.json'}: not the evidence this version records: "
                         f"missing or bad {e}") from e
    result = RecordResult(sha, as_of, recorded=False)
    with store.write() as conn:
        if conn.execute(select(evaluations.c.id).where(evaluations.c.bundle_sha256 == sha)).first():
            return result
        eid = conn.execute(insert(evaluations).values(**row).returning(evaluations.c.id)).scalar_one()
        checks_by_policy: dict[str, dict[Key, State]] = {}
        scan_limit: dict[str, int | None] = {}
        scans: set[tuple[str, str]] = set()
        for c in checks:
            if c["check"] == "scan_freshness":
                last_scan, limit = scan_of_check(c)
                if limit is not None:
                    scan_limit.setdefault(c["policy"], limit)
                if last_scan is not None:
                    scans.add((c["host"], last_scan))
            checks_by_policy.setdefault(c["policy"], {})[(c["host"], c["check"])] = (
                c["verdict"],)
        conn.execute(insert(evaluation_policies), [
            {"evaluation_id": eid, "policy": p["name"], "version": p["version"],
             "title": p.get("title"), "file": p["file"], "in_effect": 1 if p["in_effect"] else 0,
             "retention_years": p.get("retention_years"),
             "retention_basis": p.get("retention_basis"),
             "max_scan_age_s": scan_limit.get(p["name"])}
            for p in policies
        ])
        neighbours = {p["name"]: _neighbours(conn, p["name"], eid) for p in policies}
        result.backfill = any(nb.next is not None for nb in neighbours.values())
        result.policies = sorted(neighbours)
        seen_policies: set[str] = set()
        terms = _Terms(conn)
        for policy, items in _items_by_policy(items_path):
            if policy not in neighbours:
                raise StoreError(f"{items_path}: items of policy {policy!r}, which "
                                 "evidence.json does not list")
            seen_policies.add(policy)
            ids = _item_ids(conn, policy, items)
            new = {ids[(it.host, it.finding)]: it.state for it in items}
            ops = _merge_spans(conn, _item_kind(policy), policy, eid, neighbours[policy],
                               new, terms)
            result.items += len(items)
            result.spans_opened += ops.opened
            result.spans_extended += ops.extended
            result.spans_split += ops.split
        for policy, nb in neighbours.items():
            if policy not in seen_policies:
                # No items this time: runs of the neighbours are broken around it.
                _merge_spans(conn, _item_kind(policy), policy, eid, nb, {}, terms)
            states = checks_by_policy.get(policy, {})
            _merge_spans(conn, _check_kind(policy), policy, eid, nb, states)
            result.checks += len(states)
        _record_scans(conn, as_of, scans)
        result.recorded = True
    return result
