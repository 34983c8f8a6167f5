"""Generated evaluations for the store tests: a small policy and a fleet whose findings
appear, change, get excepted and get fixed (some late) over a sequence of days; each day
becomes a real evidence bundle (evaluate's own code), so the store reads what it will
read in use."""

from __future__ import annotations

import json
import os
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from patchpolicy.render.bundle import write_bundle
from patchpolicy.verify import build_bundle

POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: sla
  version: 1.0.0
  title: Test SLA
  retention: {years: 6, basis: "45 CFR 164.316(b)(2)(i)"}
  controls:
    - {framework: PCI-DSS, version: 4.0.1, id: "6.3.3", title: Security patches installed timely}
    - {framework: PCI-DSS, version: 4.0.1, id: "11.3.1", title: Internal vulnerability scans}
spec:
  due_soon: 3d
  clock: [first_seen]
  rules:
    - {id: critical, when: 'finding.severity == "critical"', within: 5d, controls: ["6.3.3"]}
    - {id: high, when: 'finding.severity == "high"', within: 10d, controls: ["6.3.3"]}
  hygiene:
    max_scan_age: 3d
    controls: ["11.3.1"]
  exceptions:
    max_lifetime: 90d
"""

EXCEPTIONS = """\
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata:
  name: waivers
  owner: approvers@example.com
exceptions:
  - id: EXC-1
    policies: [sla]
    match: 'finding.vuln == "CVE-2026-0003"'
    justification: isolated
    compensating_controls: [segmentation]
    ticket: CHG-1
    approved_by: a@example.com
    approved_at: 2026-01-01
    expires: 2026-01-06
"""

PG_ENV = "PATCHPOLICY_TEST_PG_URL"


def pg_admin_url() -> str:
    """The admin URL of the test server; skips without one, fails under CI."""
    admin = os.environ.get(PG_ENV)
    if not admin:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {PG_ENV} is not: the PostgreSQL store tests must run "
                        "(.ci/run starts a server)")
        pytest.skip(f"no PostgreSQL server: set {PG_ENV} to an admin URL (.ci/with-postgres "
                    "starts a throwaway one)")
    return admin


def _pg_database() -> Iterator[str]:
    admin = pg_admin_url()
    import sqlalchemy as sa

    url = sa.engine.make_url(admin).set(drivername="postgresql+psycopg")
    name = f"pp_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


class StoreMaker:
    """Makes empty stores on one backend (``backend``), each a fresh URL, and drops the
    PostgreSQL databases afterwards."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend = backend
        self._tmp = tmp
        self._n = 0
        self._open: list[Iterator[str]] = []

    def __call__(self) -> str:
        self._n += 1
        if self.backend == "sqlite":
            return str(self._tmp / f"store-{self._n}.db")
        gen = _pg_database()
        url = next(gen)
        self._open.append(gen)
        return url

    def close(self) -> None:
        for gen in self._open:
            for _ in gen:
                pass


START = datetime(2026, 1, 1, 6, tzinfo=UTC)


def ts(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_policies(root: Path) -> Path:
    d = root / "policies"
    d.mkdir(parents=True, exist_ok=True)
    (d / "sla.yaml").write_text(POLICY)
    (d / "waivers.yaml").write_text(EXCEPTIONS)
    return d


@dataclass
class Finding:
    host: str
    vuln: str
    severity: str
    first_seen: datetime
    fixed_at: datetime | None = None
    missed: frozenset[int] = frozenset()
    """Days the scanner did not report it (it reappears after)."""


@dataclass
class Fleet:
    """Findings over days: ``snapshot(day)`` is the fleet as a scanner saw it that day."""

    findings: list[Finding] = field(default_factory=list)
    hosts: tuple[str, ...] = ("h1", "h2", "h3")
    scans: dict[str, list[int]] = field(default_factory=dict)
    """Per host, the days it was scanned (its last scan is the latest day <= the day)."""

    def snapshot(self, day: int) -> dict[str, object]:
        at = START + timedelta(days=day)
        hosts = []
        for h in self.hosts:
            scanned = [d for d in self.scans.get(h, range(day + 1)) if d <= day]
            fs = []
            for f in self.findings:
                if f.host != h or f.first_seen > at or day in f.missed:
                    continue
                fixed = f.fixed_at is not None and f.fixed_at <= at
                fs.append({
                    "id": f"{f.vuln}/pkg", "vuln": f.vuln,
                    "package": {"name": "pkg", "version": "1"},
                    "severity": f.severity, "first_seen_at": ts(f.first_seen),
                    "status": "fixed" if fixed else "open",
                    "fixed_at": ts(f.fixed_at) if fixed and f.fixed_at else None,
                })
            hosts.append({
                "id": h, "env": "prod", "tags": [],
                "last_scan": ts(START + timedelta(days=max(scanned))) if scanned else None,
                "findings": fs,
            })
        return {"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": ts(at),
                "source": {"tool": "test", "version": "1"}, "hosts": hosts}


def random_fleet(seed: int, days: int, hosts: int = 3, per_day: int = 2) -> Fleet:
    rnd = random.Random(seed)
    fleet = Fleet(hosts=tuple(f"h{i}" for i in range(1, hosts + 1)))
    n = 0
    for day in range(days):
        for _ in range(per_day):
            n += 1
            seen = START + timedelta(days=day, hours=-rnd.randint(0, 30))
            f = Finding(rnd.choice(fleet.hosts), f"CVE-2026-{n:04d}",
                        rnd.choice(["critical", "high", "high", "low"]), seen)
            if rnd.random() < 0.7:
                f.fixed_at = seen + timedelta(days=rnd.randint(1, 12), hours=rnd.randint(0, 5))
            if rnd.random() < 0.3:
                f.missed = frozenset({day + rnd.randint(1, 3)})
            fleet.findings.append(f)
    fleet.scans = {h: sorted(rnd.sample(range(days), k=max(1, days * 2 // 3))) for h in fleet.hosts}
    return fleet


def make_bundles(root: Path, fleet: Fleet, days: list[int]) -> list[Path]:
    """One evidence bundle per day, evaluated at the snapshot's taken_at."""
    policies = write_policies(root)
    out = []
    for day in days:
        snap = root / f"snap-{day:03d}.json"
        snap.write_text(json.dumps(fleet.snapshot(day), indent=1))
        _, files = build_bundle([policies], snap)
        d = root / f"bundle-{day:03d}"
        write_bundle(d, files)
        out.append(d)
    return out


def lifecycle_fleet() -> Fleet:
    """h1: a high finding seen day 0 (deadline day 10), fixed on day 3 (in time); h2: a
    critical seen day 0 (deadline day 5), fixed day 7 (late); h1: CVE-2026-0003 excepted
    by EXC-1 until it expires on day 5."""
    from datetime import timedelta

    d = timedelta(days=1)
    return Fleet(
        findings=[
            Finding("h1", "CVE-2026-0001", "high", START, START + 3 * d),
            Finding("h2", "CVE-2026-0002", "critical", START, START + 7 * d),
            Finding("h1", "CVE-2026-0003", "high", START),
        ],
        hosts=("h1", "h2"),
        scans={"h1": [0, 1, 2, 3, 4, 5, 6, 7], "h2": [0, 4]},
    )
