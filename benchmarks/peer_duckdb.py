"""The peer a team would write instead: DuckDB SQL over the JSON Lines fleet, implementing
the example bundle's rules (examples/policies), timed side by side with `check`.

The SQL implements, for the policies baseline and pci-dss and the exception set
payments-2026q4: scope (pci-dss: hosts tagged "cde"), every rule's `when`, clock sources
with their fallbacks (the first set of fix_released, published, first_seen; kev_added,
first_seen for the KEV rules), `within`, the KEV due-date cap (through the end of the due
day UTC), the earliest deadline of all matching rules binding, the verdict order
(not_affected, untracked, error without a clock start or a fixed_at, remediated /
remediated_late, excepted, overdue, due_soon, open), the one valid exception, and the
hygiene host checks (scan age, pending reboot). It asserts that its counts per policy and
verdict, and per host-check verdict, equal those of `check --format json` on the same
file (above --json-up-to findings, where the JSON holds every item and costs more than
the check itself, the per-verdict and host-check totals of `check`'s summary are
compared instead), then prints the times side by side.

    pip install -e '.[bench]'        # duckdb: a benchmark-only extra
    python benchmarks/peer_duckdb.py                  # 10^6 findings
    python benchmarks/peer_duckdb.py --sizes 100000 --jobs 2

Fleets are generated with benchmarks/generate_fleet.py when missing (N/50 hosts).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import msgspec

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parent / "examples" / "policies"

# The host columns read; DuckDB skips the rest of each line.
COLUMNS = """{
  id: 'VARCHAR', tags: 'VARCHAR[]', last_scan: 'TIMESTAMPTZ',
  reboot_pending_since: 'TIMESTAMPTZ',
  findings: 'STRUCT(id VARCHAR, vuln VARCHAR, severity VARCHAR, cvss DOUBLE,
     kev STRUCT(date_added DATE, due_date DATE), published_at TIMESTAMPTZ,
     fix_released_at TIMESTAMPTZ, first_seen_at TIMESTAMPTZ, status VARCHAR,
     fixed_at TIMESTAMPTZ)[]'
}"""

SQL = """
WITH hosts AS (
  SELECT * FROM read_json($path, format = 'newline_delimited', columns = {columns})
  WHERE id IS NOT NULL                                   -- line 1 is the header
),
f AS (
  SELECT id AS host, list_contains(tags, 'cde') AS cde, unnest(findings) AS f FROM hosts
),
g AS (
  SELECT host, cde, f.status AS status, f.fixed_at AS fixed_at,
    f.vuln AS vuln, f.severity AS severity, f.cvss AS cvss, f.kev IS NOT NULL AS is_kev,
    -- clock fallbacks: the first source set starts the clock
    coalesce(f.fix_released_at, f.published_at, f.first_seen_at) AS std_start,
    coalesce(f.kev.date_added::TIMESTAMPTZ, f.first_seen_at) AS kev_start,
    -- a KEV due date is met through the end of that day UTC
    (f.kev.due_date + INTERVAL 1 DAY)::TIMESTAMPTZ AS kev_due,
    (f.vuln = 'CVE-2024-6387' AND host = 'pos-gw-01'
       AND $as_of::TIMESTAMPTZ < TIMESTAMPTZ '2026-12-29 00:00:00+00') AS excepted -- EXC-2026-014
  FROM f
),
rules AS (
  SELECT *,
    -- baseline: kev 14d (capped), critical 15d, high (or cvss >= 7) 30d, medium 90d, low 180d
    is_kev AS b_kev, severity = 'critical' AS b_crit,
    coalesce(severity = 'high' OR cvss >= 7.0, false) AS b_high,
    severity = 'medium' AS b_med, severity = 'low' AS b_low,
    -- pci-dss: kev 14d (capped), critical 30d, high 30d
    severity = 'high' AS p_high
  FROM g
),
judged AS (
  SELECT 'baseline' AS policy, status, fixed_at, excepted,
    b_kev OR b_crit OR b_high OR b_med OR b_low AS matched,
    (b_kev AND kev_start IS NULL) OR ((b_crit OR b_high OR b_med OR b_low) AND std_start IS NULL)
      AS no_start,
    least(                                               -- NULLs ignored: the earliest binds
      CASE WHEN b_kev THEN least(kev_start + INTERVAL 14 DAY, kev_due) END,
      CASE WHEN b_crit THEN std_start + INTERVAL 15 DAY END,
      CASE WHEN b_high THEN std_start + INTERVAL 30 DAY END,
      CASE WHEN b_med THEN std_start + INTERVAL 90 DAY END,
      CASE WHEN b_low THEN std_start + INTERVAL 180 DAY END) AS deadline
  FROM rules
  UNION ALL
  SELECT 'pci-dss', status, fixed_at, excepted,
    is_kev OR b_crit OR p_high,
    (is_kev AND kev_start IS NULL) OR ((b_crit OR p_high) AND std_start IS NULL),
    least(
      CASE WHEN is_kev THEN least(kev_start + INTERVAL 14 DAY, kev_due) END,
      CASE WHEN b_crit OR p_high THEN std_start + INTERVAL 30 DAY END)
  FROM rules WHERE cde
),
verdicts AS (
  SELECT policy, CASE
    WHEN status = 'not_affected' THEN 'not_affected'
    WHEN NOT matched THEN 'untracked'
    WHEN no_start THEN 'error'
    WHEN status = 'fixed' AND fixed_at IS NULL THEN 'error'
    WHEN status = 'fixed' AND fixed_at <= deadline THEN 'remediated'
    WHEN status = 'fixed' THEN 'remediated_late'
    WHEN excepted THEN 'excepted'
    WHEN deadline < $as_of::TIMESTAMPTZ THEN 'overdue'
    WHEN deadline <= $as_of::TIMESTAMPTZ + INTERVAL 7 DAY THEN 'due_soon'
    ELSE 'open' END AS verdict
  FROM judged
),
checks AS (
  SELECT CASE WHEN last_scan IS NULL THEN 'never_scanned'
              WHEN $as_of::TIMESTAMPTZ - last_scan > INTERVAL 7 DAY THEN 'scan_stale' ELSE 'ok' END AS v
  FROM hosts
  UNION ALL
  SELECT CASE WHEN reboot_pending_since IS NOT NULL
               AND $as_of::TIMESTAMPTZ - reboot_pending_since > INTERVAL 72 HOUR
              THEN 'reboot_overdue' ELSE 'ok' END FROM hosts
  UNION ALL
  SELECT CASE WHEN last_scan IS NULL THEN 'never_scanned'
              WHEN $as_of::TIMESTAMPTZ - last_scan > INTERVAL 90 DAY THEN 'scan_stale' ELSE 'ok' END
  FROM hosts WHERE list_contains(tags, 'cde')
)
SELECT 'item' AS kind, policy, verdict, count(*) AS n FROM verdicts GROUP BY ALL
UNION ALL
SELECT 'check', '', v, count(*) FROM checks GROUP BY ALL
""".replace("{columns}", COLUMNS)


class _Summary(msgspec.Struct):
    by_policy: dict[str, dict[str, int]]
    host_checks: dict[str, dict[str, int]]


class _Evidence(msgspec.Struct):
    """The part of `check --format json` compared; msgspec skips the rest unbuilt."""

    summary: _Summary
    as_of: str


def peer(path: Path, as_of: str, threads: int | None) -> tuple[float, Counter[tuple[str, str, str]]]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    rows = con.execute(SQL, {"path": str(path), "as_of": as_of}).fetchall()
    wall = time.perf_counter() - t0
    con.close()
    return wall, Counter({(k, p, v): n for k, p, v, n in rows})


def timed(cmd: list[str], stdout: object = subprocess.DEVNULL) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, check=False)  # type: ignore[arg-type]
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr.decode()}")
    return wall


def timed_out(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return wall, proc.stdout


def fleet_for(size: int) -> Path:
    path = HERE / "data" / f"fleet-{size}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, str(HERE / "generate_fleet.py"), "--findings", str(size),
                        "--hosts", str(max(10, size // 50)), "-o", str(path)], check=True)
    return path


def engine_counts(path: Path, jobs: list[str]) -> tuple[float, Counter[tuple[str, str, str]], str]:
    """`check --format json` on ``path``: (its time, its counts, its as-of)."""
    with tempfile.TemporaryFile() as out:
        wall = timed([sys.executable, "-m", "patchpolicy", "check", "-p", str(POLICIES),
                      "-s", str(path), "--format", "json", *jobs], stdout=out)
        out.seek(0)
        ev = msgspec.json.decode(out.read(), type=_Evidence)
    counts: Counter[tuple[str, str, str]] = Counter()
    for policy, verdicts in ev.summary.by_policy.items():
        for verdict, n in verdicts.items():
            counts["item", policy, verdict] += n
    for verdict, n in ev.summary.host_checks["by_verdict"].items():
        counts["check", "", verdict] += n
    return wall, +counts, ev.as_of


_BUCKET_LINE = re.compile(r"^  (fail|warn|waived|pass)\s+\d+ items(?:\s+\(([^)]*)\))?"
                          r"(?:; host checks \d+ \(([^)]*)\))?")


def text_counts(out: str) -> Counter[tuple[str, str, str]]:
    """Per-verdict item totals (all policies) and host-check totals from `check`'s summary."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in out.splitlines():
        m = _BUCKET_LINE.match(line)
        if m is None:
            continue
        for kind, part in (("item", m.group(2)), ("check", m.group(3))):
            for pair in (part or "").split(","):
                if pair.strip():
                    verdict, n = pair.split()
                    counts[kind, "*", verdict] += int(n)
    return +counts


def by_verdict(counts: Counter[tuple[str, str, str]]) -> Counter[tuple[str, str, str]]:
    out: Counter[tuple[str, str, str]] = Counter()
    for (kind, _, verdict), n in counts.items():
        out[kind, "*", verdict] += n
    return +out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000", help="Comma-separated finding counts.")
    ap.add_argument("--jobs", type=int, default=None, help="check --jobs (default: its own).")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all).")
    ap.add_argument("--json-up-to", type=int, default=200_000,
                    help="Compare with check --format json up to this many findings.")
    args = ap.parse_args()
    jobs = ["--jobs", str(args.jobs)] if args.jobs else []
    ok = True
    for size in (int(float(s)) for s in args.sizes.split(",") if s.strip()):
        path = fleet_for(size)
        check_s, out = timed_out([sys.executable, "-m", "patchpolicy", "check", "-p",
                                  str(POLICIES), "-s", str(path), "--limit", "5", *jobs])
        m = re.search(r" at (\S+): ", out)
        assert m is not None, out
        as_of = m.group(1)
        peer_s, got = peer(path, as_of, args.threads)
        json_note = ""
        if size <= args.json_up_to:
            json_s, expected, _ = engine_counts(path, jobs)
            json_note = f" | check --format json {json_s:.2f} s ({json_s / peer_s:.2f}x)"
            compared = "per policy and verdict, with check --format json"
        else:
            got, expected = by_verdict(got), text_counts(out)
            compared = "per verdict, with check's summary"
        same = +got == expected
        ok &= same
        print(f"{size:,} findings ({path.stat().st_size / 2**20:.0f} MB): "
              f"duckdb {peer_s:.2f} s | check {check_s:.2f} s ({check_s / peer_s:.2f}x)"
              f"{json_note} | counts {'equal' if same else 'DIFFER'} ({compared})")
        if not same:
            for key in sorted(set(got) | set(expected)):
                if got[key] != expected[key]:
                    print(f"  {key}: duckdb {got[key]}, check {expected[key]}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
