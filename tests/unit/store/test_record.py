"""Recording bundles: what is kept, idempotence, refusal of a bundle verify rejects, the
lifecycle spans, and the CLI (record, evaluate --record, PATCHPOLICY_STORE)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from store_helpers import StoreMaker, lifecycle_fleet, make_bundles, write_policies

from patchpolicy.cli import main
from patchpolicy.store import StoreError, open_store, record_bundle
from patchpolicy.store.queries import dump, history, info
from patchpolicy.store.record import scan_of_detail
from patchpolicy.store.schema import evaluation_policies, evaluations, from_micros, scan_times

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_bundles(tmp_path_factory.mktemp("bundles"), lifecycle_fleet(), list(range(9)))


def test_records_a_bundle_and_keeps_its_identity_and_policy(bundles: list[Path], store_url: str) -> None:
    import hashlib

    store = open_store(store_url, create=True)
    r = record_bundle(store, bundles[0])
    assert r.recorded and r.items == 3 and r.policies == ["sla"]
    assert r.bundle_sha256 == hashlib.sha256((bundles[0] / "SHA256SUMS").read_bytes()).hexdigest()
    with store.read() as conn:
        ev = conn.execute(select(evaluations)).one()
        assert ev.as_of == "2026-01-01T06:00:00Z"
        assert ev.sums == (bundles[0] / "SHA256SUMS").read_text()
        pol = conn.execute(select(evaluation_policies)).one()
        assert (pol.policy, pol.version, pol.retention_years, pol.max_scan_age_s) == (
            "sla", "1.0.0", 6, 3 * 86400)
    store.close()


def test_recording_twice_changes_nothing_and_says_so(bundles: list[Path], store_url: str) -> None:
    store = open_store(store_url, create=True)
    assert record_bundle(store, bundles[0]).recorded
    before = b"".join(dump(store))
    again = record_bundle(store, bundles[0])
    assert not again.recorded
    assert b"".join(dump(store)) == before
    store.close()


def test_lifecycle_spans_follow_the_verdicts(bundles: list[Path], store_url: str) -> None:
    store = open_store(store_url, create=True)
    for b in bundles:
        record_bundle(store, b)
    (late,) = history(store, "h2", "CVE-2026-0002")
    verdicts = [(c.first, c.last, c.state["verdict"]) for c in late.spans]
    # Deadline day 5 at 06:00 (not overdue at that instant); due_soon 3d: open d0-d1,
    # due_soon d2-d5, overdue d6, remediated_late from the fix on day 7.
    assert verdicts == [
        ("2026-01-01T06:00:00Z", "2026-01-02T06:00:00Z", "open"),
        ("2026-01-03T06:00:00Z", "2026-01-06T06:00:00Z", "due_soon"),
        ("2026-01-07T06:00:00Z", "2026-01-07T06:00:00Z", "overdue"),
        ("2026-01-08T06:00:00Z", "2026-01-09T06:00:00Z", "remediated_late"),
    ]
    assert late.spans[-1].state["fixed_at"] == "2026-01-08T06:00:00Z"
    (waived,) = history(store, "h1", "CVE-2026-0003")
    assert [c.state["exception"] for c in waived.spans][0] == "EXC-1"
    assert waived.spans[-1].state["exception"] is None
    with store.read() as conn:
        scans = sorted((h, from_micros(t)) for h, t in conn.execute(scan_times()).all())
    assert [s for h, s in scans if h == "h2"] == ["2026-01-01T06:00:00Z", "2026-01-05T06:00:00Z"]
    i = info(store)
    assert (i.evaluations, i.first_as_of, i.last_as_of) == (9, "2026-01-01T06:00:00Z",
                                                             "2026-01-09T06:00:00Z")
    store.close()


def test_backfill_gives_the_same_store(bundles: list[Path], make_store: StoreMaker) -> None:
    in_order = open_store(make_store(), create=True)
    for b in bundles:
        record_bundle(in_order, b)
    shuffled = open_store(make_store(), create=True)
    order = [8, 0, 4, 2, 6, 1, 7, 3, 5]
    results = [record_bundle(shuffled, bundles[i]) for i in order]
    assert any(r.backfill for r in results)
    assert b"".join(dump(shuffled)) == b"".join(dump(in_order))
    in_order.close()
    shuffled.close()


def test_refuses_a_tampered_bundle(bundles: list[Path], tmp_path: Path, store_url: str) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(bundles[0], bad)
    with (bad / "items.jsonl").open("ab") as fh:
        fh.write(b"\n")
    store = open_store(store_url, create=True)
    with pytest.raises(StoreError, match="refusing to record a bundle that verify rejects: "
                                         "changed \\(sha256 differs\\): items.jsonl"):
        record_bundle(store, bad)
    assert info(store).evaluations == 0
    store.close()


def test_scan_of_detail_reads_what_hygiene_writes() -> None:
    assert scan_of_detail("last scan 2026-11-20T02:00:00Z (4h old, limit 7d)") == (
        "2026-11-20T02:00:00Z", 7 * 86400)
    assert scan_of_detail("last scan 2026-11-01T00:00:00Z is 8d0h0m1s old, limit 7d3h") == (
        "2026-11-01T00:00:00Z", 7 * 86400 + 3 * 3600)
    assert scan_of_detail("host has no last_scan") == (None, None)


def test_cli_record_evaluate_record_and_env(bundles: list[Path], tmp_path: Path,
                                            store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["record", str(bundles[0]), "--store", store_url])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"recorded {bundles[0]} into ")
    r = runner.invoke(main, ["record", str(bundles[0]), "--store", store_url])
    assert r.exit_code == 0 and r.output.startswith("already recorded: ") and "nothing changed" in r.output
    monkeypatch.setenv("PATCHPOLICY_STORE", store_url)
    policies = write_policies(tmp_path)
    snap = bundles[0].parent / "snap-001.json"
    out = tmp_path / "ev"
    r = runner.invoke(main, ["evaluate", "-p", str(policies), "-s", str(snap), "-o", str(out),
                             "--record"])
    assert r.exit_code in (0, 1), r.output
    assert "recorded " in r.output and "as-of 2026-01-02T06:00:00Z" in r.output
    r = runner.invoke(main, ["history", "--host", "h1", "--finding", "CVE-2026-0001"])
    assert r.exit_code == 0, r.output
    assert "first seen 2026-01-01T06:00:00Z" in r.output
    r = runner.invoke(main, ["store", "info"])
    assert r.exit_code == 0 and "evaluations: 2, from 2026-01-01T06:00:00Z" in r.output


def test_cli_refuses_tampered_bundle_exit_2(bundles: list[Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(bundles[1], bad)
    (bad / "report.md").write_text("edited")
    r = CliRunner().invoke(main, ["record", str(bad), "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2
    assert "refusing to record" in r.output and "report.md" in r.output


def test_no_store_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PATCHPOLICY_STORE", raising=False)
    r = CliRunner().invoke(main, ["store", "info"])
    assert r.exit_code == 2 and "no store: give --store URL or set PATCHPOLICY_STORE" in r.output
    r = CliRunner().invoke(main, ["store", "info", "--store", str(tmp_path / "none.db")])
    assert r.exit_code == 2 and "no such store" in r.output
    r = CliRunner().invoke(main, ["store", "info", "--store", "mysql://x/y"])
    assert r.exit_code == 2 and "unsupported store 'mysql'" in r.output


def test_evaluate_record_with_a_bad_store_fails_before_writing(bundles: list[Path], tmp_path: Path) -> None:
    policies = write_policies(tmp_path)
    snap = bundles[0].parent / "snap-000.json"
    out = tmp_path / "ev"
    r = CliRunner().invoke(main, ["evaluate", "-p", str(policies), "-s", str(snap), "-o", str(out),
                                  "--record", "--store", str(tmp_path / "no" / "dir" / "s.db")])
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not out.exists()
    r = CliRunner().invoke(main, ["evaluate", "-p", str(policies), "-s", str(snap), "-o", str(out),
                                  "--store", str(tmp_path / "s.db")])
    assert r.exit_code == 2 and "--store is given without --record" in r.output
    assert not out.exists()
