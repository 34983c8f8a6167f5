"""The store's tables, its schema version and the migrations that bring an older store
forward without losing a row.

Times are stored as canonical RFC 3339 UTC text (``2026-11-20T06:00:00Z``): the same bytes
in SQLite and PostgreSQL, ordered as instants by text comparison. Evaluations are ordered
by ``(as_of, bundle_sha256)``, never by arrival: every lifecycle span refers to
evaluations, and is a maximal run of one state over that order (see ``record``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
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

#: The schema this code writes; ``migrate`` brings any older store to it.
SCHEMA_VERSION = 2

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
Index("pp_item_keys_host", item_keys.c.host)

#: Columns of an item's state: a span is a maximal run of evaluations with equal state.
ITEM_STATE = ("verdict", "severity", "status", "rule", "clock_start", "deadline", "fixed_at",
              "exception", "controls", "kev")

item_spans = Table(
    "pp_item_spans", metadata,
    Column("id", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("pp_item_keys.id", ondelete="CASCADE"), nullable=False),
    Column("policy", String(200), nullable=False),
    Column("first_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("last_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("status", String(40), nullable=False),
    Column("rule", String(200)),
    Column("clock_start", String(40)),
    Column("deadline", String(40)),
    Column("fixed_at", String(40)),
    Column("exception", String(200)),
    Column("controls", Text, nullable=False),
    Column("kev", Integer, nullable=False),
)
Index("pp_item_spans_item", item_spans.c.item_id)
Index("pp_item_spans_last", item_spans.c.policy, item_spans.c.last_eval)
Index("pp_item_spans_first", item_spans.c.policy, item_spans.c.first_eval)

CHECK_STATE = ("verdict", "last_scan")

check_spans = Table(
    "pp_check_spans", metadata,
    Column("id", Integer, primary_key=True),
    Column("policy", String(200), nullable=False),
    Column("host", String(500), nullable=False),
    Column("check_name", String(40), nullable=False),
    Column("first_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("last_eval", Integer, ForeignKey("pp_evaluations.id"), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("last_scan", String(40)),
)
# One index only: check spans are the store's most numerous rows (a span per scan), and
# the span that a recording extends is found by its last evaluation.
Index("pp_check_spans_last", check_spans.c.policy, check_spans.c.last_eval)


def scan_times() -> Select[Any]:
    """Every (host, scan time) seen: the scan_freshness spans' last scans (a table of its
    own would repeat what the spans hold, a row per host per scan)."""
    return (select(check_spans.c.host, check_spans.c.last_scan.label("scan_at"))
            .where(check_spans.c.check_name == "scan_freshness", check_spans.c.last_scan.is_not(None))
            .distinct())


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


#: Migration from version N to N + 1, by N.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1_to_v2}


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
