"""Benchmark `patchpolicy evaluate` (the evidence bundle) against `check` and the parse floor.

For each fleet size, in one run: wall time, findings/s and peak RSS of the whole process
tree (forked workers included) of

- the parse floor: decoding the JSON Lines with msgspec only (no judging);
- `check` on the same file (the CI gate);
- the evaluation alone: `api.evaluate_files(keep_items=True)`, every item judged and kept
  in the bounded item log, nothing rendered;
- `evaluate -o DIR` (evaluate, plan, render every file, write the bundle);

then the size of every file of the bundle and the ratios evaluate/check and
evaluate/floor. Each measurement runs in a fresh subprocess. Fleets are generated with
benchmarks/generate_fleet.py when missing (benchmarks/data/fleet-N.jsonl, N/50 hosts).

    python benchmarks/bench_evaluate.py                      # 10^5 and 10^6 findings
    python benchmarks/bench_evaluate.py --sizes 10000 --jobs 2

Peak RSS is the largest sum of the resident sizes of the command and all its descendants,
sampled every 50 ms: from /proc on Linux (proportional set sizes, so pages a forked worker
shares with its parent count once), else psutil (RSS, shared pages counted in each
process); where neither works, the largest single process (getrusage RUSAGE_CHILDREN).
The output says which.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

FLOOR = """
import sys, msgspec
dec = msgspec.json.Decoder()
n = 0
with open(sys.argv[1], "rb") as f:
    f.readline()
    for line in f:
        n += len(dec.decode(line)["findings"])
print(n)
"""

EVALUATION_ONLY = """
import sys
from patchpolicy.api import evaluate_files
jobs = int(sys.argv[3]) if sys.argv[3] != "auto" else "auto"
ev = evaluate_files([sys.argv[1]], sys.argv[2], keep_items=True, jobs=jobs).evaluation
print(len(ev.items), ev.items.sha256)
"""


def _children_proc(pid: int) -> list[int]:
    """Every descendant of ``pid``, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parents.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def _rss_proc(pid: int) -> int:
    """Proportional set size (shared pages split between the processes that share them,
    so forked workers' copy-on-write pages count once), else RSS."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss_sampler() -> tuple[str, object]:
    """(how, function pid -> summed RSS of the tree now)."""
    if Path("/proc/self/smaps_rollup").exists():
        return "process tree (/proc: PSS summed over the tree)", lambda pid: _rss_proc(pid) + sum(
            _rss_proc(c) for c in _children_proc(pid))
    try:
        import psutil

        def rss_psutil(pid: int) -> int:
            try:
                proc = psutil.Process(pid)
                procs = [proc, *proc.children(recursive=True)]
            except psutil.Error:
                return 0
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            return total

        return "process tree (psutil: RSS summed over the tree)", rss_psutil
    except ImportError:
        pass
    if Path("/proc/self/statm").exists():
        return "process tree (/proc: PSS summed over the tree)", lambda pid: _rss_proc(pid) + sum(
            _rss_proc(c) for c in _children_proc(pid))
    return "largest single process (getrusage)", None


RSS_HOW, RSS_OF = tree_rss_sampler()


def run(cmd: list[str], *, ok: tuple[int, ...] = (0, 1)) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes of the process tree, stdout) of one subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    peak = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.05):
            if RSS_OF is not None:
                peak = max(peak, RSS_OF(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if RSS_OF is None or peak == 0:
        # Max over every child so far: exact only while each run is bigger than the last.
        peak = max(before, single)
    return wall, peak, out.decode()


def fleet_for(size: int, hosts: int | None) -> Path:
    path = HERE / "data" / f"fleet-{size}.jsonl"
    if not path.exists():
        n_hosts = hosts or max(10, size // 50)
        subprocess.run(
            [sys.executable, str(HERE / "generate_fleet.py"), "--findings", str(size),
             "--hosts", str(n_hosts), "-o", str(path)],
            check=True,
        )
    return path


def mb(n: int) -> float:
    return round(n / 2**20, 1)


def bench(size: int, args: argparse.Namespace) -> dict[str, object]:
    fleet = fleet_for(size, args.hosts)
    py = sys.executable
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    f_wall, f_rss, f_out = run([py, "-c", FLOOR, str(fleet)], ok=(0,))
    findings = int(f_out.strip())
    c_wall, c_rss, _ = run([py, "-m", "patchpolicy", "check", "-p", args.policies,
                            "-s", str(fleet), "--limit", "5", *jobs])
    e_wall, e_rss, e_out = run([py, "-c", EVALUATION_ONLY, args.policies, str(fleet),
                                str(args.jobs or "auto")], ok=(0,))
    out_dir = Path(tempfile.mkdtemp(prefix="bench-evaluate-")) / "bundle"
    try:
        b_wall, b_rss, b_out = run([py, "-m", "patchpolicy", "evaluate", "-p", args.policies,
                                    "-s", str(fleet), "-o", str(out_dir), *jobs])
        files = {str(p.relative_to(out_dir)): p.stat().st_size
                 for p in sorted(out_dir.rglob("*")) if p.is_file()}
    finally:
        if args.keep_output:
            print(f"bundle kept in {out_dir}")
        else:
            shutil.rmtree(out_dir.parent, ignore_errors=True)
    return {
        "findings": findings,
        "fleet_mb": mb(fleet.stat().st_size),
        "jobs": args.jobs or "auto",
        "floor": {"s": round(f_wall, 2), "rss_mb": mb(f_rss)},
        "check": {"s": round(c_wall, 2), "rss_mb": mb(c_rss),
                  "findings_per_s": round(findings / c_wall)},
        "evaluation_only": {"s": round(e_wall, 2), "rss_mb": mb(e_rss),
                            "findings_per_s": round(findings / e_wall),
                            "items": int(e_out.split()[0])},
        "evaluate": {"s": round(b_wall, 2), "rss_mb": mb(b_rss),
                     "findings_per_s": round(findings / b_wall),
                     "summary": b_out.strip().splitlines()[-1] if b_out.strip() else ""},
        "ratio": {"evaluate_to_check": round(b_wall / c_wall, 2),
                  "evaluate_to_floor": round(b_wall / f_wall, 2),
                  "evaluation_only_to_check": round(e_wall / c_wall, 2),
                  "check_to_floor": round(c_wall / f_wall, 2)},
        "files_bytes": files,
        "bundle_mb": mb(sum(files.values())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000",
                    help="Comma-separated finding counts (default: 10^5 and 10^6).")
    ap.add_argument("--hosts", type=int, default=None, help="Hosts per fleet (default N/50).")
    ap.add_argument("--policies", default=str(HERE.parent / "examples" / "policies"))
    ap.add_argument("--jobs", type=int, default=None,
                    help="--jobs for check and evaluate (default: their own choice).")
    ap.add_argument("--keep-output", action="store_true", help="Keep the bundles written.")
    ap.add_argument("--json", action="store_true", help="Print the rows as JSON too.")
    ap.add_argument("--max-rss-mb", type=float, default=None,
                    help="Exit 1 when evaluate's peak (process tree) exceeds this: the memory "
                         "bound, checked here rather than in a timed test (issue 14: 1024 "
                         "at 10^6 findings).")
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    print(f"peak RSS: {RSS_HOW}; {os.cpu_count()} cores")
    rows = []
    for size in sizes:
        r = bench(size, args)
        rows.append(r)
        fl, ck, eo, ev, ra = r["floor"], r["check"], r["evaluation_only"], r["evaluate"], r["ratio"]
        print(f"\n{r['findings']:,} findings ({r['fleet_mb']} MB JSON Lines), jobs {r['jobs']}")
        print(f"  parse floor      {fl['s']:>8.2f} s  {fl['rss_mb']:>8} MB")
        print(f"  check            {ck['s']:>8.2f} s  {ck['rss_mb']:>8} MB  "
              f"{ck['findings_per_s']:>10,} findings/s")
        print(f"  evaluation only  {eo['s']:>8.2f} s  {eo['rss_mb']:>8} MB  "
              f"{eo['findings_per_s']:>10,} findings/s  {eo['items']:,} items")
        print(f"  evaluate -o      {ev['s']:>8.2f} s  {ev['rss_mb']:>8} MB  "
              f"{ev['findings_per_s']:>10,} findings/s")
        print(f"  ratios: evaluate/check {ra['evaluate_to_check']}x, "
              f"evaluate/floor {ra['evaluate_to_floor']}x, "
              f"evaluation-only/check {ra['evaluation_only_to_check']}x, "
              f"check/floor {ra['check_to_floor']}x")
        print(f"  bundle {r['bundle_mb']} MB:")
        for name, size_b in r["files_bytes"].items():
            print(f"    {name:<40} {size_b:>14,} bytes")
    if args.json:
        print(json.dumps(rows, indent=1))
    if args.max_rss_mb is not None:
        over = [r for r in rows if r["evaluate"]["rss_mb"] > args.max_rss_mb]
        for r in over:
            print(f"FAIL: evaluate on {r['findings']:,} findings peaked at "
                  f"{r['evaluate']['rss_mb']} MB, over the bound of {args.max_rss_mb} MB")
        if over:
            sys.exit(1)


if __name__ == "__main__":
    main()
