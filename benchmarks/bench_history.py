"""Benchmark the evidence store: a year of daily snapshots of one fleet (10^5 findings by
default, ~1% churn a day: findings fixed, some late, some excepted, new ones appearing),
each evaluated into a bundle and recorded; prints the time to evaluate and to record
each evaluation, the store's size, and the time of a year's `report`.

    python benchmarks/bench_history.py                       # the full run (long)
    python benchmarks/bench_history.py --findings 5000 --days 60   # a quick run
    python benchmarks/bench_history.py --store postgresql://user@host/db

Evaluation dominates the run time (each day is a full `evaluate`: evaluate, plan and
every renderer, as `patchpolicy evaluate` writes it). So that a year fits in an afternoon,
`--ahead K` (default 1) worker processes evaluate the next days while this one records
(recording is order-free, but the bench records in order); each evaluation is timed in its
worker, each recording here, so the two figures are still those of one snapshot each.
Bundles are written to a temporary directory and deleted once recorded. Every 30 days it
prints the day's times and the store's size, so a run stopped early still gives the
growth curve.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: bench
  version: 1.0.0
  retention: {years: 6, basis: "45 CFR 164.316(b)(2)(i)"}
  controls:
    - {framework: PCI-DSS, version: 4.0.1, id: "6.3.3", title: Security patches installed timely}
    - {framework: PCI-DSS, version: 4.0.1, id: "11.3.1", title: Internal vulnerability scans}
spec:
  due_soon: 7d
  clock: [first_seen]
  rules:
    - {id: critical, when: 'finding.severity == "critical"', within: 15d, controls: ["6.3.3"]}
    - {id: high, when: 'finding.severity == "high"', within: 30d, controls: ["6.3.3"]}
    - {id: medium, when: 'finding.severity == "medium"', within: 90d, controls: ["6.3.3"]}
    - {id: low, when: 'finding.severity == "low"', within: 180d, controls: ["6.3.3"]}
  hygiene:
    max_scan_age: 7d
    controls: ["11.3.1"]
  exceptions:
    max_lifetime: 180d
"""

EXCEPTIONS = """\
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata: {name: bench-waivers, owner: approvers@example.com}
exceptions:
  - id: EXC-BENCH-1
    policies: [bench]
    match: 'finding.vuln.endsWith("7")'
    justification: compensated
    compensating_controls: [segmentation]
    approved_by: a@example.com
    approved_at: 2026-01-01
    expires: 2026-06-30
"""

START = datetime(2026, 1, 1, 6, tzinfo=UTC)
SEVERITIES = ["critical", "high", "high", "medium", "medium", "medium", "low", "low"]


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class Fleet:
    """Findings that live from first_seen to fixed_at, then are reported fixed for 3 days."""

    def __init__(self, n_findings: int, n_hosts: int, churn: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.hosts = [f"host-{i:05d}" for i in range(n_hosts)]
        self.churn = churn
        self.n = 0
        self.live: dict[int, tuple[str, str, str, datetime, datetime | None]] = {}
        for _ in range(n_findings):
            self._new(START - timedelta(days=self.rng.randint(0, 60)))
        self.scan_gap = {h: self.rng.choice([1, 1, 1, 2, 3, 9]) for h in self.hosts}

    def _new(self, seen: datetime) -> None:
        self.n += 1
        self.live[self.n] = (self.rng.choice(self.hosts), f"CVE-2026-{self.n:06d}",
                             self.rng.choice(SEVERITIES), seen, None)

    def advance(self, day: int) -> None:
        at = START + timedelta(days=day)
        open_ids = [k for k, v in self.live.items() if v[4] is None]
        for k in self.rng.sample(open_ids, k=int(len(open_ids) * self.churn)):
            h, v, s, seen, _ = self.live[k]
            self.live[k] = (h, v, s, seen, at - timedelta(hours=self.rng.randint(0, 20)))
        for _ in range(int(len(open_ids) * self.churn)):
            self._new(at - timedelta(hours=self.rng.randint(0, 20)))
        for k in [k for k, v in self.live.items() if v[4] is not None and at - v[4] > timedelta(days=3)]:
            del self.live[k]

    def write(self, path: Path, day: int) -> None:
        at = START + timedelta(days=day)
        by_host: dict[str, list[dict[str, object]]] = {h: [] for h in self.hosts}
        for h, v, s, seen, fixed in self.live.values():
            by_host[h].append({
                "id": f"{v}/pkg", "vuln": v, "package": {"name": "pkg", "version": "1"},
                "severity": s, "first_seen_at": _ts(seen),
                "status": "fixed" if fixed else "open", "fixed_at": _ts(fixed) if fixed else None,
            })
        with path.open("wb") as out:
            out.write(orjson.dumps({"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",
                                    "taken_at": _ts(at), "source": {"tool": "bench", "version": "1"}})
                      + b"\n")
            for h in self.hosts:
                gap = self.scan_gap[h]
                last = START + timedelta(days=(day // gap) * gap)
                out.write(orjson.dumps({"id": h, "env": "prod", "tags": [], "last_scan": _ts(last),
                                        "findings": by_host[h]}) + b"\n")


def _evaluate(pol: Path, snap: Path, out: Path, jobs: int | None, fast: bool) -> float:
    """Evaluate ``snap`` into the bundle ``out`` (a worker process); its wall time. With
    ``fast``, only what the store reads: evidence.json, items.jsonl and SHA256SUMS."""
    from patchpolicy.render.bundle import write_bundle
    from patchpolicy.verify import build_bundle

    t0 = time.perf_counter()
    if fast:
        from patchpolicy.api import evaluate_files
        from patchpolicy.model.gate import Gate
        from patchpolicy.render.bundle import render_all
        from patchpolicy.render.evidence import EvidenceJson
        from patchpolicy.render.interface import RenderContext, RenderOptions
        from patchpolicy.render.items import ItemsJsonl

        run = evaluate_files([pol], snap, jobs=jobs if jobs is not None else "auto")
        ev, inputs = run.evaluation, run.inputs
        ctx = RenderContext(ev, inputs, None, Gate().judge(ev), RenderOptions())
        files = render_all(ctx, [EvidenceJson(), ItemsJsonl()])
    else:
        _, files = build_bundle([pol], snap, jobs=jobs if jobs is not None else "auto")
    write_bundle(out, files)
    t = time.perf_counter() - t0
    snap.unlink()
    return t


def _store_bytes(url_path: Path | None) -> int:
    if url_path is None:
        return 0
    return sum(p.stat().st_size for p in (url_path, url_path.with_name(url_path.name + "-wal"))
               if p.exists())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--findings", type=int, default=100_000)
    ap.add_argument("--hosts", type=int, default=None, help="default: findings / 20")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--churn", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--store", default=None, help="store URL (default: a SQLite file in a temp dir)")
    ap.add_argument("--ahead", type=int, default=1,
                    help="worker processes evaluating the next days while one records (0: none)")
    ap.add_argument("--eval-jobs", type=int, default=None,
                    help="processes per evaluation (default: evaluate's own choice)")
    ap.add_argument("--fast", action="store_true",
                    help="each day, evaluate and render only evidence.json and items.jsonl (what "
                         "the store reads) and record them without verify; days 1, 31, 61, ... "
                         "still make and record a whole bundle, whose times are the ones printed "
                         "and summarised")
    args = ap.parse_args()

    from patchpolicy.model.common import format_timestamp
    from patchpolicy.store import open_store, record_bundle
    from patchpolicy.store.period import BucketBy, build_period
    from patchpolicy.store.queries import info
    from patchpolicy.store.record import _record_unverified
    from patchpolicy.store.report import report_files

    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        pol = work / "policies"
        pol.mkdir()
        (pol / "bench.yaml").write_text(POLICY)
        (pol / "waivers.yaml").write_text(EXCEPTIONS)
        url = args.store or str(work / "store.db")
        store = open_store(url, create=True)
        fleet = Fleet(args.findings, args.hosts or max(1, args.findings // 20), args.churn, args.seed)
        t_eval: list[float] = []
        t_rec: list[float] = []
        from concurrent.futures import Future, ProcessPoolExecutor

        pool = (ProcessPoolExecutor(args.ahead, mp_context=multiprocessing.get_context("spawn"))
                if args.ahead > 0 else None)
        pending: dict[int, Future[float]] = {}
        started = time.perf_counter()

        def sampled(day: int) -> bool:
            return day % 30 == 0 or day == args.days - 1

        def submit(day: int) -> None:
            if day:
                fleet.advance(day)
            snap = work / f"snap-{day:03d}.jsonl"
            fleet.write(snap, day)
            live[day] = len(fleet.live)
            out = work / f"bundle-{day:03d}"
            fast = args.fast and not sampled(day)
            if pool is None:
                f: Future[float] = Future()
                f.set_result(_evaluate(pol, snap, out, args.eval_jobs, fast))
                pending[day] = f
            else:
                pending[day] = pool.submit(_evaluate, pol, snap, out, args.eval_jobs, fast)

        live: dict[int, int] = {}
        nxt = 0
        try:
            for day in range(args.days):
                while nxt < args.days and nxt <= day + max(args.ahead, 0):
                    submit(nxt)
                    nxt += 1
                te = pending.pop(day).result()
                t1 = time.perf_counter()
                if args.fast and not sampled(day):
                    _record_unverified(store, work / f"bundle-{day:03d}")
                else:
                    record_bundle(store, work / f"bundle-{day:03d}")
                tr = time.perf_counter() - t1
                if not args.fast or sampled(day):
                    t_eval.append(te)
                    t_rec.append(tr)
                shutil.rmtree(work / f"bundle-{day:03d}")
                if day % 30 == 0 or day == args.days - 1:
                    print(f"day {day + 1}/{args.days}: {live[day]} findings, evaluate "
                          f"{te:.2f} s, record {tr:.2f} s, " + (
                              f"store {_store_bytes(store.location.sqlite_path) / 2**20:.1f} MiB "
                              "(file and WAL), " if store.location.sqlite_path else "")
                          + f"{time.perf_counter() - started:.0f} s elapsed",
                          flush=True)
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        if store.location.dialect == "sqlite" and store.location.sqlite_path is not None:
            import sqlite3

            store.close()  # the size of the database, not of its WAL
            with sqlite3.connect(store.location.sqlite_path) as raw:
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store = open_store(url)
        i = info(store)
        lo = START.replace(hour=0)
        hi = lo + timedelta(days=args.days)
        t0, c0 = time.perf_counter(), time.process_time()
        files = report_files(build_period(store, lo, hi, BucketBy.MONTH))
        t_report, c_report = time.perf_counter() - t0, time.process_time() - c0
        store.close()
        print(f"\nstore: {i.url} ({i.dialect})")
        print(f"evaluations: {i.evaluations}; {i.item_keys} items in {i.item_spans} spans, "
              f"{i.check_spans} check spans, {i.host_scans} scan times")
        sample = "whole bundles of days 1, 31, ...: " if args.fast else ""
        print(f"{sample}evaluate per day: mean {statistics.mean(t_eval):.2f} s, median "
              f"{statistics.median(t_eval):.2f} s")
        print(f"record per evaluation: mean {statistics.mean(t_rec):.2f} s, median "
              f"{statistics.median(t_rec):.2f} s, max {max(t_rec):.2f} s "
              f"({statistics.mean(t_rec) / statistics.mean(t_eval):.2f}x evaluate)")
        print(f"store size: {i.size_bytes / 2**20:.1f} MiB")
        print(f"report {format_timestamp(lo)} .. {format_timestamp(hi)} by month: {t_report:.2f} s "
              f"(CPU {c_report:.2f} s; {sum(len(bytes(b)) for b in files.values()) / 2**20:.1f} MiB of files)")  # type: ignore[arg-type]
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
