"""Benchmark `patchpolicy check` against the JSON-parse floor on one generated fleet.

Prints, in one run, for the JSON Lines and the single-document forms: wall time,
findings/second, peak RSS, and the ratio to the floor (parsing the same file with orjson:
line by line for JSON Lines, one `orjson.loads` for the document). Each measurement runs
in a fresh subprocess so peak RSS is its own.

    python benchmarks/generate_fleet.py -o benchmarks/data/fleet.jsonl
    python benchmarks/generate_fleet.py -o benchmarks/data/fleet.json
    python benchmarks/bench_check.py [--policies examples/policies] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

FLOOR_JSONL = """
import sys, orjson
n = 0
with open(sys.argv[1], "rb") as f:
    f.readline()
    for line in f:
        n += len(orjson.loads(line)["findings"])
print(n)
"""
FLOOR_JSON = """
import sys, orjson
with open(sys.argv[1], "rb") as f:
    doc = orjson.loads(f.read())
print(sum(len(h["findings"]) for h in doc["hosts"]))
"""


def measure(cmd: list[str]) -> tuple[float, int, str, int]:
    """(wall seconds, peak RSS bytes, stdout, exit code) of one fresh subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    # ru_maxrss of children is the max over all children so far: run the biggest last or
    # read it per process via /usr/bin/time where available.
    return wall, max(before, after) * 1024, proc.stdout, proc.returncode


def timed_rss(cmd: list[str]) -> tuple[float, int, str, int]:
    """Like measure, but with GNU time for a per-process peak RSS when it exists."""
    gnu_time = Path("/usr/bin/time")
    if not gnu_time.exists():
        return measure(cmd)
    fmt_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-rss-{os.getpid()}"
    t0 = time.perf_counter()
    proc = subprocess.run([str(gnu_time), "-f", "%M", "-o", str(fmt_file), *cmd],
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    rss = int(fmt_file.read_text().strip().splitlines()[-1]) * 1024
    fmt_file.unlink()
    return wall, rss, proc.stdout, proc.returncode


def best_of(cmd: list[str], repeat: int) -> tuple[float, int, str]:
    runs = [timed_rss(cmd) for _ in range(repeat)]
    wall = min(r[0] for r in runs)
    rss = max(r[1] for r in runs)
    return wall, rss, runs[0][2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", default="examples/policies")
    ap.add_argument("--jsonl", type=Path, default=Path("benchmarks/data/fleet.jsonl"))
    ap.add_argument("--json", type=Path, default=Path("benchmarks/data/fleet.json"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", default=None, help="PATCHPOLICY_CEL_ENGINE for the run")
    ap.add_argument("--jobs", default=None, help="check --jobs (default: check's own choice)")
    args = ap.parse_args()
    if args.engine:
        os.environ["PATCHPOLICY_CEL_ENGINE"] = args.engine
    py = sys.executable
    cli = [py, "-m", "patchpolicy", "check", "-p", args.policies, "--limit", "5"]
    if args.jobs:
        cli += ["--jobs", str(args.jobs)]
    rows = []
    for label, path, floor_src in (("jsonl", args.jsonl, FLOOR_JSONL), ("json", args.json, FLOOR_JSON)):
        if not path.exists():
            print(f"skip {label}: {path} missing (run benchmarks/generate_fleet.py)")
            continue
        f_wall, f_rss, f_out = best_of([py, "-c", floor_src, str(path)], args.repeat)
        findings = int(f_out.strip())
        c_wall, c_rss, c_out = best_of([*cli, "-s", str(path)], args.repeat)
        summary = c_out.splitlines()[0] if c_out else ""
        rows.append({
            "form": label, "findings": findings, "floor_s": round(f_wall, 2),
            "floor_rss_mb": round(f_rss / 2**20), "check_s": round(c_wall, 2),
            "check_rss_mb": round(c_rss / 2**20), "findings_per_s": round(findings / c_wall),
            "ratio_to_floor": round(c_wall / f_wall, 2), "summary": summary,
        })
    for r in rows:
        print(
            f"{r['form']:<6} {r['findings']:>9,} findings  floor {r['floor_s']:>6.2f}s "
            f"({r['floor_rss_mb']} MB)  check {r['check_s']:>6.2f}s ({r['check_rss_mb']} MB)  "
            f"{r['findings_per_s']:>9,} findings/s  ratio {r['ratio_to_floor']:.2f}x"
        )
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
