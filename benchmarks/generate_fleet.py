"""Generate a realistic fleet snapshot for benchmarks (not committed: written under
benchmarks/data/, which git ignores).

Realistic means: CVE popularity is skewed (Zipf-like: a few CVEs on many hosts), 1-5% of
CVEs are in KEV, 10-30% of findings are already fixed, hosts carry 0-200 findings, and
host attributes (env, tags, labels, owner) repeat as they do in real fleets. Seeded, so
the same arguments give the same bytes.

    python benchmarks/generate_fleet.py --findings 1000000 --hosts 20000 -o benchmarks/data/fleet.jsonl
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

TAKEN_AT = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SEVERITIES = ["critical", "high", "medium", "low", "none", "unknown"]
SEV_WEIGHTS = [5, 25, 45, 20, 3, 2]
ENVS = ["prod", "staging", "dev"]
PACKAGES = [f"pkg-{i}" for i in range(400)]


def _ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_catalogue(rng: random.Random, n_cves: int, kev_share: float) -> list[dict[str, object]]:
    cves = []
    for i in range(n_cves):
        published = TAKEN_AT - timedelta(days=rng.randint(1, 1500), hours=rng.randint(0, 23))
        sev = rng.choices(SEVERITIES, SEV_WEIGHTS)[0]
        cvss = {"critical": 9.5, "high": 7.8, "medium": 5.4, "low": 2.9}.get(sev)
        kev = None
        if rng.random() < kev_share:
            added = published + timedelta(days=rng.randint(0, 60))
            kev = {"date_added": added.date().isoformat(),
                   "due_date": (added + timedelta(days=21)).date().isoformat(),
                   "ransomware": rng.random() < 0.2}
        cves.append({
            "vuln": f"CVE-{published.year}-{10000 + i}",
            "package": rng.choice(PACKAGES),
            "severity": sev,
            "cvss": cvss,
            "kev": kev,
            "published_at": _ts(published),
            "fix_released_at": _ts(published + timedelta(days=rng.randint(0, 10))) if rng.random() < 0.9 else None,
        })
    return cves


def generate(path: Path, n_findings: int, n_hosts: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    catalogue = make_catalogue(rng, max(1000, n_findings // 200), rng.uniform(0.01, 0.05))
    # Zipf-like popularity: weight 1/rank.
    weights = [1.0 / (r + 1) for r in range(len(catalogue))]
    fixed_share = rng.uniform(0.10, 0.30)
    # Findings per host: 0-200, scaled so the total is close to n_findings.
    raw = [rng.randint(0, 200) for _ in range(n_hosts)]
    scale = n_findings / max(1, sum(raw))
    counts = [min(200, round(c * scale)) for c in raw]
    jsonl = path.suffix == ".jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": _ts(TAKEN_AT),
              "source": {"tool": "generate_fleet", "version": "1"}}
    with path.open("wb") as out:
        if jsonl:
            out.write(orjson.dumps(header) + b"\n")
        else:
            out.write(orjson.dumps(header)[:-1] + b',"hosts":[')
        for h in range(n_hosts):
            env = rng.choices(ENVS, [60, 25, 15])[0]
            last_scan = TAKEN_AT - timedelta(hours=rng.randint(0, 24 * 10))
            chosen: set[int] = set()
            while len(chosen) < counts[h]:
                chosen.update(rng.choices(range(len(catalogue)), weights, k=counts[h] - len(chosen)))
            findings = []
            for j in sorted(chosen):
                c = catalogue[j]
                status = "fixed" if rng.random() < fixed_share else rng.choices(
                    ["open", "pending_reboot", "failed", "not_affected"], [90, 5, 2, 3])[0]
                first_seen = datetime.fromisoformat(str(c["published_at"])) + timedelta(days=rng.randint(0, 30))
                findings.append({
                    "id": f"{c['vuln']}/{c['package']}", "vuln": c["vuln"],
                    "package": {"name": c["package"], "version": "1.0"},
                    "fixed_version": "1.1", "severity": c["severity"], "cvss": c["cvss"],
                    "kev": c["kev"], "published_at": c["published_at"],
                    "fix_released_at": c["fix_released_at"], "first_seen_at": _ts(first_seen),
                    "status": status,
                    "fixed_at": _ts(first_seen + timedelta(days=rng.randint(1, 90))) if status == "fixed" else None,
                })
            host = {
                "id": f"host-{h:06d}", "env": env,
                "tags": sorted(rng.sample(["cde", "internet-facing", "pci", "linux", "db"], rng.randint(0, 3))),
                "labels": {"ring": rng.choice(["canary", "broad", "broad", "broad"])},
                "owner": f"team-{h % 40}", "criticality": rng.choice(["low", "medium", "high", "critical"]),
                "last_scan": _ts(last_scan) if rng.random() > 0.01 else None,
                "reboot_pending_since": _ts(TAKEN_AT - timedelta(hours=rng.randint(1, 200))) if rng.random() < 0.05 else None,
                "findings": findings,
            }
            if jsonl:
                out.write(orjson.dumps(host) + b"\n")
            else:
                out.write((b"," if h else b"") + orjson.dumps(host))
        if not jsonl:
            out.write(b"]}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--findings", type=int, default=1_000_000)
    ap.add_argument("--hosts", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("-o", "--out", type=Path, default=Path("benchmarks/data/fleet.jsonl"))
    args = ap.parse_args()
    generate(args.out, args.findings, args.hosts, args.seed)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
