"""The store's tables, its schema version and the migrations that bring an older store
forward without losing a row.

Times are stored as canonical RFC 3339 UTC text (``2026-11-20T06:00:00Z``): the same bytes
in SQLite and PostgreSQL, ordered as instants by text comparison. Evaluations are ordered
by ``(as_of, bundle_sha256)``, never by arrival: every lifecycle span refers to
evaluations, and is a maximal run of one state over that order (see ``record``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    select,
    text,
)

from patchpolicy.model.common import format_timestamp, parse_timestamp

#: The schema this code writes; ``migrate`` brings any older store to it.
SCHEMA_VERSION = 3

metadata = MetaData()

schema_version = Table(
    "pp_schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
)

evaluations = Table(
    "pp_evaluations", metadata,
    Column("id", Integer, primary_key=True),
    #: sha256 of the bundle's SHA256SUMS file: the bundle's identity.
    Column("bundle_sha256", String(64), nullable=False, unique=True),
    Column("as_of", String(40), nullable=False, index=True),
    Column("tool_version", String(64), nullable=False),
    Column("snapshot_path", Text, nullable=False),
    Column("snapshot_sha256", String(64), nullable=False),
    Column("snapshot_taken_at", String(40), nullable=False),
    Column("gate_result", String(8), nullable=False),
    Column("failing", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    #: JSON texts copied from evidence.json (compact, keys sorted).
    Column("inputs", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("exceptions", Text, nullable=False),
    Column("controls", Text, nullable=False),
    #: The bundle's SHA256SUMS, exactly.
    Column("sums", Text, nullable=False),
)

evaluation_policies = Table(
    "pp_evaluation_policies", metadata,
    Column("evaluation_id", Integer, ForeignKey("pp_evaluations.id", ondelete="CASCADE"),
           primary_key=True),
    Column("policy", String(200), primary_key=True),
    Column("version", String(64), nullable=False),
    Column("title", Text),
    Column("file", Text, nullable=False),
    Column("in_effect", Integer, nullable=False),
    # Added in schema 2 (backfilled from nothing: schema 1 did not keep them; see migrate).
    Column("retention_years", Integer),
    Column("retention_basis", Text),
    #: The policy's hygiene.max_scan_age in seconds, as its scan_freshness checks state it.
    Column("max_scan_age_s", Integer),
)

item_keys = Table(
    "pp_item_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("policy", String(200), nullable=False),
    Column("host", String(500), nullable=False),
    Column("finding", String(1000), nullable=False),
    Column("vuln", String(500), nullable=False),
    Column("package", String(500)),
    UniqueConstraint("policy", "host", "finding", name="pp_item_keys_natural"),
)
# No index on host alone (schema 3): a host's keys are found through the natural key's
# index, policy by policy.

#: Columns of an item's state: a span is a maximal run of evaluations with equal state.
ITEM_STATE = ("verdict", "severity", "status", "rule", "clock_start", "deadline", "fixed_at",
              "exception", "controls", "kev")
#: The part of an item's state kept in the span row (it changes along a lifecycle) ...
SPAN_STATE = ("verdict", "status", "fixed_at", "exception")
#: ... and the part kept once in ``pp_item_terms`` and shared by the spans of one item (it
#: changes only when the policy or the finding's severity or dates change).
TERMS_STATE = ("severity", "rule", "clock_start", "deadline", "controls", "kev")

item_terms = Table(
    "pp_item_terms", metadata,
    #: Given by the writer (max + 1 under the writers' lock), not by a sequence.
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("severity", String(20), nullable=False),
    Column("rule", String(200)),
    Column("clock_start", String(40)),
    Column("deadline", String(40)),
    Column("controls", Text, nullable=False),
    Column("kev", Integer, nullable=False),
)

# Schema 3: no policy column (the item key has it) and no index on first_eval (only a
# backfill reads spans by their first evaluation, and scans for them): item spans are the
# store's most numerous rows, a few per (policy, host, finding) over its life.
item_spans = Table(
    "pp_item_spans", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("pp_item_keys.id", ondelete="CASCADE"), nullable=False),
    Column("first_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("last_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("status", String(40), nullable=False),
    Column("fixed_at", String(40)),
    Column("exception", String(200)),
    Column("terms_id", Integer, ForeignKey("pp_item_terms.id"), nullable=False),
)
Index("pp_item_spans_item", item_spans.c.item_id)
Index("pp_item_spans_last", item_spans.c.last_eval)

#: Schema 3: a host check's span is a run of one verdict; the scan times it reported are
#: in ``pp_host_scans`` (schema 2 opened a span per scan).
CHECK_STATE = ("verdict",)

check_spans = Table(
    "pp_check_spans", metadata,
    Column("id", Integer, primary_key=True),
    Column("policy", String(200), nullable=False),
    Column("host", String(500), nullable=False),
    Column("check_name", String(40), nullable=False),
    Column("first_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("last_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("verdict", String(20), nullable=False),
)
Index("pp_check_spans_last", check_spans.c.policy, check_spans.c.last_eval)

hosts = Table(
    "pp_hosts", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(500), nullable=False, unique=True),
)

#: Every (host, scan time) seen, as microseconds since the epoch (UTC), with the latest
#: as-of (same unit) of an evaluation that reported it: pruning keeps the scans that an
#: evaluation left still shows. One small row per host per scan.
host_scans = Table(
    "pp_host_scans", metadata,
    Column("host_id", Integer, ForeignKey("pp_hosts.id"), primary_key=True, autoincrement=False),
    Column("scan_at", BigInteger, primary_key=True, autoincrement=False),
    Column("seen_until", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(text_: str) -> int:
    """Microseconds since the epoch of an RFC 3339 time (exact: the canonical text keeps
    microseconds at most)."""
    d = parse_timestamp(text_) - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def datetime_of_micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def from_micros(us: int) -> str:
    """The canonical text of ``to_micros``'s value."""
    return format_timestamp(datetime_of_micros(us))


def scan_times() -> Select[Any]:
    """Every (host name, scan time in microseconds) seen, by host and time."""
    return (select(hosts.c.name, host_scans.c.scan_at)
            .join(hosts, hosts.c.id == host_scans.c.host_id)
            .order_by(hosts.c.name, host_scans.c.scan_at))


class SchemaError(Exception):
    """The store's schema is newer than this code, or not a patchpolicy store."""


def current_version(conn: Connection) -> int | None:
    """The store's schema version; ``None`` for an empty database."""
    names = set(inspect(conn).get_table_names())
    if "pp_schema_version" not in names:
        if any(n.startswith("pp_") for n in names):
            raise SchemaError("has patchpolicy tables but no pp_schema_version: not a store "
                              "this version can read")
        return None
    v = conn.execute(select(schema_version.c.version)).scalar_one_or_none()
    if v is None:
        raise SchemaError("pp_schema_version is empty")
    return int(v)


def _v1_to_v2(conn: Connection) -> None:
    """Schema 2 keeps each policy's retention (for ``store prune``) and its max_scan_age
    (for scan cadence). Schema 1 rows keep every value they had; retention is backfilled
    from each evaluation's stored ``inputs``-side policy list where schema 1 kept it
    (``pp_evaluations.policies_json``), which schema 2 moves into columns."""
    conn.execute(text("ALTER TABLE pp_evaluation_policies ADD COLUMN retention_years INTEGER"))
    conn.execute(text("ALTER TABLE pp_evaluation_policies ADD COLUMN retention_basis TEXT"))
    conn.execute(text("ALTER TABLE pp_evaluation_policies ADD COLUMN max_scan_age_s INTEGER"))
    import orjson

    rows = conn.execute(text("SELECT id, policies_json FROM pp_evaluations")).all()
    for eid, blob in rows:
        for p in orjson.loads(blob):
            conn.execute(
                text("UPDATE pp_evaluation_policies SET retention_years = :y, retention_basis = :b "
                     "WHERE evaluation_id = :e AND policy = :p"),
                {"y": p.get("retention_years"), "b": p.get("retention_basis"), "e": eid,
                 "p": p["name"]},
            )
    conn.execute(text("ALTER TABLE pp_evaluations DROP COLUMN policies_json"))


# Long: a migration reads best as its steps in order, in one transaction.
def _v2_to_v3(conn: Connection) -> None:
    """Schema 3 makes a year of a large fleet small: scan times move from the
    scan_freshness check spans (a span per host per scan) into ``pp_host_scans``, so a
    check span is a run of one verdict (schema 2's spans that differ only in their scan
    are merged); the part of an item's state that is constant along its lifecycle moves
    into ``pp_item_terms`` (one row per schema-2 span here, shared by the spans recorded
    from now on), and item spans lose their policy column (their key has it) and their
    first_eval index; item keys lose their host index. Every value is kept: the store
    dumps the same rows before and after, but for the merged check spans."""
    metadata.create_all(conn, tables=[hosts, host_scans, item_terms])
    order: dict[int, tuple[str, str]] = {
        i: (a, s) for i, a, s in conn.execute(text(
            "SELECT id, as_of, bundle_sha256 FROM pp_evaluations"))}
    # Scan times, with the latest as-of that reported each.
    seen: dict[tuple[str, str], str] = {}
    for host, last_scan, last_eval in conn.execute(text(
            "SELECT host, last_scan, last_eval FROM pp_check_spans "
            "WHERE check_name = 'scan_freshness' AND last_scan IS NOT NULL")):
        a = order[last_eval][0]
        if seen.get((host, last_scan), "") < a:
            seen[(host, last_scan)] = a
    host_ids = {name: n for n, name in enumerate(sorted({h for h, _ in seen}), 1)}
    if host_ids:
        conn.execute(hosts.insert(), [{"id": i, "name": h} for h, i in host_ids.items()])
        conn.execute(host_scans.insert(), [
            {"host_id": host_ids[h], "scan_at": to_micros(t), "seen_until": to_micros(a)}
            for (h, t), a in sorted(seen.items())])
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('pp_hosts', 'id'), "
                              "(SELECT max(id) FROM pp_hosts))"))
    # Check spans: maximal runs of one verdict over each policy's evaluations.
    seqs: dict[str, dict[int, int]] = {}
    for policy, eid in conn.execute(text(
            "SELECT policy, evaluation_id FROM pp_evaluation_policies")):
        seqs.setdefault(policy, {})[eid] = 0
    for ids in seqs.values():
        for pos, eid in enumerate(sorted(ids, key=lambda e: order[e])):
            ids[eid] = pos
    runs: list[list[Any]] = []
    rows = list(conn.execute(text(
        "SELECT policy, host, check_name, first_eval, last_eval, verdict FROM pp_check_spans"
    )).all())
    rows.sort(key=lambda r: (r[0], r[1], r[2], seqs[r[0]][r[3]]))
    for policy, host, check, first, last, verdict in rows:
        prev = runs[-1] if runs else None
        if (prev is not None and prev[:3] == [policy, host, check] and prev[5] == verdict
                and seqs[policy][first] == seqs[policy][prev[4]] + 1):
            prev[4] = last
        else:
            runs.append([policy, host, check, first, last, verdict])
    conn.execute(text("DELETE FROM pp_check_spans"))
    conn.execute(text("ALTER TABLE pp_check_spans DROP COLUMN last_scan"))
    if runs:
        conn.execute(check_spans.insert(), [
            dict(zip(("policy", "host", "check_name", "first_eval", "last_eval", "verdict"), r,
                     strict=True)) for r in runs])
    conn.execute(text("DROP INDEX pp_item_keys_host"))
    # Item spans: the terms apart, one per span; the same ids.
    for ix in ("pp_item_spans_item", "pp_item_spans_last", "pp_item_spans_first"):
        conn.execute(text(f"DROP INDEX {ix}"))
    conn.execute(text("ALTER TABLE pp_item_spans RENAME TO pp_item_spans_v2"))
    metadata.create_all(conn, tables=[item_spans])
    conn.execute(text(
        "INSERT INTO pp_item_terms (id, severity, rule, clock_start, deadline, controls, kev) "
        "SELECT id, severity, rule, clock_start, deadline, controls, kev FROM pp_item_spans_v2"))
    conn.execute(text(
        "INSERT INTO pp_item_spans (id, item_id, first_eval, last_eval, verdict, status, "
        "fixed_at, exception, terms_id) SELECT id, item_id, first_eval, last_eval, verdict, "
        "status, fixed_at, exception, id FROM pp_item_spans_v2"))
    conn.execute(text("DROP TABLE pp_item_spans_v2"))
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT setval(pg_get_serial_sequence('pp_item_spans', 'id'), "
                          "coalesce((SELECT max(id) FROM pp_item_spans), 0) + 1, false)"))


#: Migration from version N to N + 1, by N.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2, 2: _v2_to_v3}


def migrate(conn: Connection) -> tuple[int | None, int]:
    """Create the schema in an empty database, or migrate an older one forward, in the
    caller's transaction; returns (version found, version now)."""
    found = current_version(conn)
    if found is None:
        metadata.create_all(conn)
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION))
        return None, SCHEMA_VERSION
    if found > SCHEMA_VERSION:
        raise SchemaError(f"schema version {found} is newer than this patchpolicy reads "
                          f"({SCHEMA_VERSION}): upgrade patchpolicy")
    v = found
    while v < SCHEMA_VERSION:
        MIGRATIONS[v](conn)
        v += 1
    if v != found:
        conn.execute(schema_version.update().values(version=v))
    return found, v
