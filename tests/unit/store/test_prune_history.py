"""store prune (retention refuses, a forced prune leaves exactly the store of the
evaluations kept), store info, and history's account of one finding."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from store_helpers import StoreMaker, make_bundles, random_fleet

from patchpolicy.cli import main
from patchpolicy.store import open_store, record_bundle
from patchpolicy.store.queries import dump


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_bundles(tmp_path_factory.mktemp("prune"), random_fleet(3, 8), list(range(8)))


def _store(url: str, bundles: list[Path]) -> bytes:
    store = open_store(url, create=True)
    for b in bundles:
        record_bundle(store, b)
    out = b"".join(dump(store))
    store.close()
    return out


def test_prune_refuses_what_retention_requires(bundles: list[Path], store_url: str) -> None:
    before = _store(store_url, bundles)
    r = CliRunner().invoke(main, ["store", "prune", "--store", store_url, "--before", "2026-01-05",
                                  "--today", "2027-06-01"])
    assert r.exit_code == 2, r.output
    assert "retained: evaluation 2026-01-01T06:00:00Z: policy sla keeps evidence 6 years " \
           "(45 CFR 164.316(b)(2)(i)), until 2032-01-01" in r.output
    assert "refusing to delete 4 evaluations before 2026-01-05" in r.output
    store = open_store(store_url)
    assert b"".join(dump(store)) == before
    store.close()


def test_forced_prune_leaves_the_store_of_the_evaluations_kept(
    bundles: list[Path], make_store: StoreMaker,
) -> None:
    url = make_store()
    _store(url, bundles)
    r = CliRunner().invoke(main, ["store", "prune", "--store", url, "--before", "2026-01-05",
                                  "--today", "2027-06-01", "--force-delete-retained-evidence"])
    assert r.exit_code == 0, r.output
    assert "deleted 4 evaluations before 2026-01-05 (4 still under retention, forced)" in r.output
    store = open_store(url)
    pruned = b"".join(dump(store))
    store.close()
    assert pruned == _store(make_store(), bundles[4:])


def test_prune_after_retention_needs_no_force(bundles: list[Path], store_url: str) -> None:
    _store(store_url, bundles)
    r = CliRunner().invoke(main, ["store", "prune", "--store", store_url, "--before", "2026-01-03",
                                  "--today", "2032-01-02"])
    assert r.exit_code == 0, r.output
    assert "deleted 2 evaluations" in r.output
    r = CliRunner().invoke(main, ["store", "info", "--store", store_url])
    assert "evaluations: 6, from 2026-01-03T06:00:00Z to 2026-01-08T06:00:00Z" in r.output
    assert "schema version 3" in r.output and "policy sla 1.0.0: retention 6 years" in r.output


def test_history_tells_the_lifecycle(tmp_path: Path, store_url: str) -> None:
    from store_helpers import lifecycle_fleet
    from store_helpers import make_bundles as mk

    bs = mk(tmp_path, lifecycle_fleet(), list(range(9)))
    _store(store_url, bs)
    r = CliRunner().invoke(main, ["history", "--store", store_url, "--host", "h2"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [
        "sla h2 CVE-2026-0002/pkg (CVE-2026-0002, severity critical)",
        "  first seen 2026-01-01T06:00:00Z, clock start 2026-01-01T06:00:00Z",
        "  2026-01-01T06:00:00Z: open, rule critical, deadline 2026-01-06T06:00:00Z",
        "  2026-01-03T06:00:00Z: due_soon, rule critical, deadline 2026-01-06T06:00:00Z",
        "  2026-01-07T06:00:00Z: overdue, rule critical, deadline 2026-01-06T06:00:00Z",
        "  2026-01-08T06:00:00Z: remediated_late, rule critical, deadline 2026-01-06T06:00:00Z, "
        "fixed 2026-01-08T06:00:00Z",
        "  last seen 2026-01-09T06:00:00Z",
        "  fixed 2026-01-08T06:00:00Z",
    ]
    r = CliRunner().invoke(main, ["history", "--store", store_url, "--host", "h1",
                                  "--finding", "CVE-2026-0003"])
    assert "excepted by EXC-1" in r.output and "  exceptions: EXC-1" in r.output
    assert "not fixed as of its last evaluation" in r.output
    r = CliRunner().invoke(main, ["history", "--store", store_url, "--host", "nope"])
    assert r.exit_code == 2 and "nothing recorded for host 'nope'" in r.output
