"""The schema is versioned and migrated forward without losing a row: a store made by
schema 1 (built here by SQL, as schema 1 made it) opens as the current schema, and so does
a store of real bundles as schema 2 kept them (a check span per scan, item spans holding
their whole state), dumping exactly what recording the bundles into schema 3 dumps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from store_helpers import StoreMaker, lifecycle_fleet, make_bundles

from patchpolicy.store import StoreError, open_store, record_bundle
from patchpolicy.store.engine import resolve_url
from patchpolicy.store.queries import dump, info
from patchpolicy.store.record import scan_of_check
from patchpolicy.store.schema import (
    ITEM_STATE,
    SCHEMA_VERSION,
    evaluation_policies,
    evaluations,
    item_keys,
    item_spans,
    item_terms,
)

#: Schema 2's item and check spans (schema 1 had them too), as schema 2 defined them.
V2 = sa.MetaData()
V2_ITEM_KEYS = sa.Table(
    "pp_item_keys", V2,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("policy", sa.String(200), nullable=False),
    sa.Column("host", sa.String(500), nullable=False),
    sa.Column("finding", sa.String(1000), nullable=False),
    sa.Column("vuln", sa.String(500), nullable=False),
    sa.Column("package", sa.String(500)),
    sa.UniqueConstraint("policy", "host", "finding", name="pp_item_keys_natural"),
)
sa.Index("pp_item_keys_host", V2_ITEM_KEYS.c.host)
V2_ITEM_SPANS = sa.Table(
    "pp_item_spans", V2,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.Integer, sa.ForeignKey("pp_item_keys.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("policy", sa.String(200), nullable=False),
    sa.Column("first_eval", sa.Integer, nullable=False),
    sa.Column("last_eval", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("severity", sa.String(20), nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("rule", sa.String(200)),
    sa.Column("clock_start", sa.String(40)),
    sa.Column("deadline", sa.String(40)),
    sa.Column("fixed_at", sa.String(40)),
    sa.Column("exception", sa.String(200)),
    sa.Column("controls", sa.Text, nullable=False),
    sa.Column("kev", sa.Integer, nullable=False),
)
sa.Index("pp_item_spans_item", V2_ITEM_SPANS.c.item_id)
sa.Index("pp_item_spans_last", V2_ITEM_SPANS.c.policy, V2_ITEM_SPANS.c.last_eval)
sa.Index("pp_item_spans_first", V2_ITEM_SPANS.c.policy, V2_ITEM_SPANS.c.first_eval)
V2_CHECK_SPANS = sa.Table(
    "pp_check_spans", V2,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("policy", sa.String(200), nullable=False),
    sa.Column("host", sa.String(500), nullable=False),
    sa.Column("check_name", sa.String(40), nullable=False),
    sa.Column("first_eval", sa.Integer, nullable=False),
    sa.Column("last_eval", sa.Integer, nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("last_scan", sa.String(40)),
)
sa.Index("pp_check_spans_last", V2_CHECK_SPANS.c.policy, V2_CHECK_SPANS.c.last_eval)

#: Schema 1's two tables that schema 2 changed: the policy list was one JSON column of the
#: evaluation, and evaluation_policies had no retention or max_scan_age.
V1_DDL = [
    "CREATE TABLE pp_schema_version (version INTEGER PRIMARY KEY)",
    """CREATE TABLE pp_evaluations (
        id INTEGER PRIMARY KEY, bundle_sha256 VARCHAR(64) NOT NULL UNIQUE,
        as_of VARCHAR(40) NOT NULL, tool_version VARCHAR(64) NOT NULL,
        snapshot_path TEXT NOT NULL, snapshot_sha256 VARCHAR(64) NOT NULL,
        snapshot_taken_at VARCHAR(40) NOT NULL, gate_result VARCHAR(8) NOT NULL,
        failing INTEGER NOT NULL, items INTEGER NOT NULL, inputs TEXT NOT NULL,
        summary TEXT NOT NULL, exceptions TEXT NOT NULL, controls TEXT NOT NULL,
        sums TEXT NOT NULL, policies_json TEXT NOT NULL)""",
    "CREATE INDEX ix_pp_evaluations_as_of ON pp_evaluations (as_of)",
    """CREATE TABLE pp_evaluation_policies (
        evaluation_id INTEGER NOT NULL REFERENCES pp_evaluations (id) ON DELETE CASCADE,
        policy VARCHAR(200) NOT NULL, version VARCHAR(64) NOT NULL, title TEXT,
        file TEXT NOT NULL, in_effect INTEGER NOT NULL,
        PRIMARY KEY (evaluation_id, policy))""",
]

SUMS = "0" * 64 + "  evidence.json\n"


def _make_v1(url: str) -> None:
    loc = resolve_url(url)
    engine = sa.create_engine(loc.url)
    with engine.begin() as conn:
        for ddl in V1_DDL:
            conn.execute(sa.text(ddl))
        # The tables schema 2 did not change, exactly as schema 1 had them.
        V2.create_all(conn)
        conn.execute(sa.text("INSERT INTO pp_schema_version (version) VALUES (1)"))
        policies = [{"name": "hipaa", "version": "1.1.0", "retention_years": 6,
                     "retention_basis": "45 CFR 164.316(b)(2)(i)"},
                    {"name": "baseline", "version": "1.2.0", "retention_years": None,
                     "retention_basis": None}]
        conn.execute(sa.text(
            "INSERT INTO pp_evaluations (id, bundle_sha256, as_of, tool_version, snapshot_path,"
            " snapshot_sha256, snapshot_taken_at, gate_result, failing, items, inputs, summary,"
            " exceptions, controls, sums, policies_json) VALUES (1, :sha, '2026-01-01T00:00:00Z',"
            " '0.1.0', 'fleet.json', :sha, '2026-01-01T00:00:00Z', 'pass', 0, 1, '{}', '{}',"
            " '[]', '[]', :sums, :pol)"), {"sha": "a" * 64, "sums": SUMS, "pol": json.dumps(policies)})
        for p in policies:
            conn.execute(sa.text(
                "INSERT INTO pp_evaluation_policies (evaluation_id, policy, version, title, file,"
                " in_effect) VALUES (1, :n, :v, NULL, 'p.yaml', 1)"), {"n": p["name"], "v": p["version"]})
        conn.execute(sa.text("INSERT INTO pp_item_keys (id, policy, host, finding, vuln, package)"
                             " VALUES (1, 'hipaa', 'h1', 'CVE-1/pkg', 'CVE-1', 'pkg')"))
        conn.execute(sa.text(
            "INSERT INTO pp_item_spans (id, item_id, policy, first_eval, last_eval, verdict,"
            " severity, status, rule, clock_start, deadline, fixed_at, exception, controls, kev)"
            " VALUES (1, 1, 'hipaa', 1, 1, 'open', 'high', 'open', 'high',"
            " '2026-01-01T00:00:00Z', '2026-03-02T00:00:00Z', NULL, NULL, '[]', 0)"))
    engine.dispose()


def test_a_schema_1_store_migrates_to_the_current_schema(store_url: str) -> None:
    _make_v1(store_url)
    store = open_store(store_url)
    i = info(store)
    assert i.schema_version == SCHEMA_VERSION == 3
    assert (i.evaluations, i.item_keys, i.item_spans) == (1, 1, 1)
    with store.read() as conn:
        rows = conn.execute(sa.select(evaluation_policies.c.policy, evaluation_policies.c.version,
                                      evaluation_policies.c.retention_years,
                                      evaluation_policies.c.retention_basis)
                            .order_by(evaluation_policies.c.policy)).all()
        cols = {c["name"] for c in sa.inspect(conn).get_columns("pp_evaluations")}
        sums = conn.execute(sa.text("SELECT sums FROM pp_evaluations")).scalar_one()
    assert [tuple(r) for r in rows] == [("baseline", "1.2.0", None, None),
                                        ("hipaa", "1.1.0", 6, "45 CFR 164.316(b)(2)(i)")]
    assert "policies_json" not in cols
    assert sums == SUMS
    store.close()


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_bundles(tmp_path_factory.mktemp("bundles"), lifecycle_fleet(), list(range(9)))


def test_a_newer_schema_is_refused(store_url: str) -> None:
    open_store(store_url, create=True).close()
    engine = sa.create_engine(resolve_url(store_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE pp_schema_version SET version = 99"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 99 is newer than this patchpolicy reads"):
        open_store(store_url)


def _v2_check_runs(bundles: list[Path]) -> list[dict[str, object]]:
    """Schema 2's check spans of bundles recorded in order (ids 1, 2, ...): maximal runs of
    one (verdict, last scan) per (policy, host, check)."""
    runs: list[dict[str, object]] = []
    open_: dict[tuple[str, str, str], dict[str, object]] = {}
    for eid, d in enumerate(bundles, 1):
        ev = json.loads((d / "evidence.json").read_text())
        now: dict[tuple[str, str, str], dict[str, object]] = {}
        for c in ev["host_checks"]:
            key = (c["policy"], c["host"], c["check"])
            scan = scan_of_check(c)[0] if c["check"] == "scan_freshness" else None
            prev = open_.get(key)
            if prev is not None and prev["last_eval"] == eid - 1 and (
                    prev["verdict"], prev["last_scan"]) == (c["verdict"], scan):
                prev["last_eval"] = eid
                now[key] = prev
            else:
                run = {"policy": key[0], "host": key[1], "check_name": key[2], "first_eval": eid,
                       "last_eval": eid, "verdict": c["verdict"], "last_scan": scan}
                runs.append(run)
                now[key] = run
        open_ = now
    return runs


def test_a_schema_2_store_of_real_bundles_migrates_to_what_schema_3_records(
        bundles: list[Path], make_store: StoreMaker) -> None:
    # The same bundles recorded by this schema ...
    current = open_store(make_store(), create=True)
    for d in bundles:
        assert record_bundle(current, d).recorded
    want = b"".join(dump(current))
    # ... and kept as schema 2 kept them: the unchanged tables copied, item spans with
    # their terms inline, a check span per scan.
    v2_url = make_store()
    engine = sa.create_engine(resolve_url(v2_url).url)
    with current.read() as src, engine.begin() as dst:
        dst.execute(sa.text("CREATE TABLE pp_schema_version (version INTEGER PRIMARY KEY)"))
        dst.execute(sa.text("INSERT INTO pp_schema_version (version) VALUES (2)"))
        metadata_unchanged = sa.MetaData()
        for t in (evaluations, evaluation_policies):
            t.to_metadata(metadata_unchanged)
        metadata_unchanged.create_all(dst)
        V2.create_all(dst)
        for t in (evaluations, evaluation_policies):
            dst.execute(t.insert(), [dict(r._mapping) for r in src.execute(sa.select(t))])
        dst.execute(V2_ITEM_KEYS.insert(),
                    [dict(r._mapping) for r in src.execute(sa.select(item_keys))])
        state = [(item_spans.c[c] if c in ("verdict", "status", "fixed_at", "exception")
                  else item_terms.c[c]) for c in ITEM_STATE]
        spans = src.execute(
            sa.select(item_spans.c.id, item_spans.c.item_id, item_keys.c.policy,
                      item_spans.c.first_eval, item_spans.c.last_eval, *state)
            .join(item_keys, item_keys.c.id == item_spans.c.item_id)
            .join(item_terms, item_terms.c.id == item_spans.c.terms_id)).all()
        dst.execute(V2_ITEM_SPANS.insert(), [
            dict(zip(("id", "item_id", "policy", "first_eval", "last_eval", *ITEM_STATE), r,
                     strict=True)) for r in spans])
        runs = _v2_check_runs(bundles)
        dst.execute(V2_CHECK_SPANS.insert(), runs)
        if dst.dialect.name == "postgresql":
            for t in ("pp_evaluations", "pp_item_keys", "pp_item_spans", "pp_check_spans"):
                dst.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                                    f"(SELECT max(id) FROM {t}))"))
    engine.dispose()
    # Schema 2 had a span per scan of h1 (scanned every day) where schema 3 has one.
    assert sum(1 for r in runs if r["host"] == "h1" and r["check_name"] == "scan_freshness") > 2
    migrated = open_store(v2_url)
    assert info(migrated).schema_version == 3
    assert b"".join(dump(migrated)) == want
    assert info(migrated).check_spans == info(current).check_spans < len(runs)
    # The migrated store records on, as the current one does.
    extra = bundles[-1].parent / "extra"
    if not extra.exists():
        extra.mkdir()
        make_bundles(extra, lifecycle_fleet(), [9])
    for s in (migrated, current):
        assert record_bundle(s, extra / "bundle-009").recorded
    assert b"".join(dump(migrated)) == b"".join(dump(current))
    migrated.close()
    current.close()
