"""The schema is versioned and migrated forward without losing a row: a store made by
schema 1 (built here by SQL, as schema 1 made it) opens as schema 2."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from patchpolicy.store import StoreError, open_store
from patchpolicy.store.engine import resolve_url
from patchpolicy.store.queries import info
from patchpolicy.store.schema import (
    SCHEMA_VERSION,
    check_spans,
    evaluation_policies,
    item_keys,
    item_spans,
    metadata,
)

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
        metadata.create_all(conn, tables=[item_keys, item_spans, check_spans])
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
    assert i.schema_version == SCHEMA_VERSION == 2
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


def test_a_newer_schema_is_refused(store_url: str) -> None:
    open_store(store_url, create=True).close()
    engine = sa.create_engine(resolve_url(store_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE pp_schema_version SET version = 99"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 99 is newer than this patchpolicy reads"):
        open_store(store_url)
