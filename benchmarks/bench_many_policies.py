"""Benchmark `validate` and `check` on bundles of many policy files (issue 12 #8).

Generates N policy files (each a PatchPolicy with three rules, a window and a ring; every
tenth file also an ExceptionSet) into a temporary directory, then times, each in a fresh
subprocess, `patchpolicy validate DIR` and `patchpolicy check -p DIR -s examples/fleet.json`.
The time per file should stay flat as N grows (linear, not quadratic). CPU seconds
(user + system of the subprocess) are printed beside wall time: on a shared machine they
are the figure to compare.

    python benchmarks/bench_many_policies.py                 # 1,000 and 10,000 files
    python benchmarks/bench_many_policies.py --sizes 100 1000 --profile validate
    python benchmarks/bench_many_policies.py --src /tmp/main/src   # another source tree
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLEET = ROOT / "examples" / "fleet.json"

POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: team-{i:05d}
  version: 1.0.{i}
  controls:
    - {{framework: ISO-27001, version: "2022", id: A.8.8}}
spec:
  scope: 'host.owner == "team-{i:05d}@example.com" || host.env == "prod"'
  rules:
    - id: kev
      when: finding.kev != null
      within: 14d
      controls: [A.8.8]
    - id: critical
      when: finding.severity == "critical" && finding.cvss >= {cvss}
      within: 15d
    - id: high
      when: 'finding.severity == "high" || finding.package.name == "pkg-{i}"'
      within: 30d
  windows:
    - id: sunday
      hosts: host.env == "prod"
      rrule: FREQ=WEEKLY;BYDAY=SU
      start: "02:00"
      duration: 4h
      timezone: Europe/Berlin
  rings:
    - id: canary
      hosts: '"canary" in host.tags'
      soak: 2d
"""
EXCEPTIONS = """\
---
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata:
  name: exceptions-{i:05d}
exceptions:
  - id: EXC-{i:05d}
    policies: [team-{i:05d}]
    match: 'finding.vuln == "CVE-2024-{i:05d}" && host.id == "web-{i}"'
    justification: Vendor fix pending.
    approved_by: jane.doe@example.com
    approved_at: 2026-10-01
    expires: 2026-11-30
"""


def generate(directory: Path, n: int) -> None:
    for i in range(n):
        text = POLICY.format(i=i, cvss=f"{7 + i % 3}.0")
        if i % 10 == 0:
            text += EXCEPTIONS.format(i=i)
        (directory / f"policy-{i:05d}.yaml").write_text(text, encoding="utf-8")


def run(cmd: list[str], profile: bool, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh subprocess."""
    if profile:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(out), *cmd[1:]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--profile", choices=["validate", "check"], default=None,
                        help="write a cProfile of that command per size to ./profile-CMD-N.out")
    parser.add_argument("--only", choices=["validate", "check"], default=None,
                        help="time only this command")
    parser.add_argument("--src", type=Path, default=None,
                        help="run patchpolicy from this source tree (PYTHONPATH), e.g. an "
                             "export of main for a before/after comparison")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "patchpolicy"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if args.src is not None:
        env["PYTHONPATH"] = str(args.src.resolve())
    print(f"{'files':>7} {'command':>9} {'wall s':>8} {'CPU s':>8} {'CPU ms/file':>12}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-policies-") as tmp:
            directory = Path(tmp)
            generate(directory, n)
            for name, cmd in (
                ("validate", [*cli, "validate", str(directory)]),
                ("check", [*cli, "check", "-p", str(directory), "-s", str(FLEET)]),
            ):
                if args.only is not None and name != args.only:
                    continue
                out = Path(f"profile-{name}-{n}.out")
                wall, cpu = run(cmd, args.profile == name, out, env)
                print(f"{n:>7} {name:>9} {wall:>8.1f} {cpu:>8.1f} {1000 * cpu / n:>12.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
