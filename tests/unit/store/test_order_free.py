"""Order-free and idempotent: recording a set of generated evaluations in any order, with
repeats, gives byte-identical dumps and period reports; two processes recording at once
lose and duplicate nothing."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_helpers import StoreMaker, make_bundles, random_fleet

from patchpolicy.store import open_store, record_bundle
from patchpolicy.store.period import BucketBy, build_period
from patchpolicy.store.queries import dump
from patchpolicy.store.report import report_files

DAYS = 10
LO = datetime(2026, 1, 1, tzinfo=UTC)
HI = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Ten daily evaluations of a fleet with churn, late fixes, an exception that expires,
    stale scans and findings a scan missed for a day."""
    return make_bundles(tmp_path_factory.mktemp("gen"), random_fleet(7, DAYS), list(range(DAYS)))


def _record_all(url: str, bundles: list[Path], order: list[int]) -> bytes:
    """The store's dump, then every byte of a weekly and a monthly period report."""
    store = open_store(url, create=True)
    try:
        for i in order:
            record_bundle(store, bundles[i])
        out = [b"".join(dump(store))]
        for by in (BucketBy.WEEK, BucketBy.MONTH):
            files = report_files(build_period(store, LO, HI, by))
            out += [name.encode() + b"\n" + bytes(files[name])  # type: ignore[arg-type]  # all bytes
                    for name in sorted(files)]
        return b"\n".join(out)
    finally:
        store.close()


@pytest.fixture(scope="module")
def expected_dump(generated: list[Path], tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _record_all(str(tmp_path_factory.mktemp("ref") / "ref.db"), generated, list(range(DAYS)))


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(order=st.permutations(list(range(DAYS))), repeats=st.lists(st.integers(0, DAYS - 1), max_size=3))
def test_any_order_gives_the_same_store(
    generated: list[Path], expected_dump: bytes, make_store: StoreMaker,
    order: list[int], repeats: list[int],
) -> None:
    got = _record_all(make_store(), generated, [*order, *repeats])
    assert got == expected_dump


def test_spans_are_split_by_a_backfill(generated: list[Path], make_store: StoreMaker) -> None:
    """A finding a scan missed for a day: recorded without that day, its run is one span;
    recording the day splits it (and the dump then equals the in-order store's)."""
    store = open_store(make_store(), create=True)
    missing_middle = [0, 2, 4, 6, 8, 9, 1, 3, 5, 7]
    results = [record_bundle(store, generated[i]) for i in missing_middle]
    assert sum(r.spans_split for r in results) > 0
    store.close()


def _recorder(url: str, bundles: list[str], q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = open_store(url, create=True)
    done = 0
    for b in bundles:
        done += record_bundle(store, b).recorded
    store.close()
    q.put(done)


def test_two_processes_recording_at_once_lose_nothing(
    generated: list[Path], expected_dump: bytes, make_store: StoreMaker,
) -> None:
    """Concurrent pipelines are PostgreSQL's job (the advisory lock); SQLite writers wait
    for each other on its lock. Either way nothing is lost or duplicated."""
    url = make_store()
    open_store(url, create=True).close()
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    # Overlapping halves in opposite orders: both write the middle bundles.
    a = [str(p) for p in generated[:7]]
    b = [str(p) for p in reversed(generated[3:])]
    procs = [ctx.Process(target=_recorder, args=(url, part, q)) for part in (a, b)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert q.get() + q.get() == DAYS  # each bundle recorded exactly once
    store = open_store(url)
    store.close()
    assert _record_all(url, generated, []) == expected_dump


def test_sqlite_waits_then_fails_clearly(generated: list[Path], tmp_path: Path) -> None:
    import sqlite3

    from patchpolicy.store import StoreError
    from patchpolicy.store import engine as engine_mod

    url = str(tmp_path / "locked.db")
    open_store(url, create=True).close()
    holder = sqlite3.connect(url, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    old = engine_mod.SQLITE_BUSY_TIMEOUT_S
    engine_mod.SQLITE_BUSY_TIMEOUT_S = 0.2
    try:
        with pytest.raises(StoreError, match="locked by another writer .* nothing was written"):
            store = open_store(url, create=True)
            record_bundle(store, generated[0])
    finally:
        engine_mod.SQLITE_BUSY_TIMEOUT_S = old
        holder.rollback()
        holder.close()
    store = open_store(url)
    assert record_bundle(store, generated[0]).recorded  # the file is intact and usable
    store.close()
