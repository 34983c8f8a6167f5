"""The period report, aggregated by the database and tallied in one pass, agrees with the
metrics' definitions applied item by item: a fleet whose items take every path of the
aggregation (exceptions waiving some at their deadline, severities that change, fix
times that change) is recorded, and every SLA and MTTR row of the report is recomputed
here from the store's spans with ``metrics.sla_attainment`` and ``metrics.mttr``."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import store_helpers
from sqlalchemy import select
from store_helpers import make_bundles, random_fleet

from patchpolicy.store import open_store, record_bundle
from patchpolicy.store.metrics import ItemFacts, mttr, sla_attainment
from patchpolicy.store.period import BucketBy, buckets, build_period
from patchpolicy.store.schema import (
    evaluation_policies,
    evaluations,
    item_keys,
    item_spans,
    item_terms,
)

DAYS = 30
LO = datetime(2026, 1, 1, tzinfo=UTC)
HI = datetime(2026, 1, 25, tzinfo=UTC)  # before the last evaluation: spans are cut
WAIVERS = store_helpers.EXCEPTIONS.replace(
    "match: 'finding.vuln == \"CVE-2026-0003\"'", "match: 'finding.vuln.endsWith(\"3\")'",
).replace("expires: 2026-01-06", "expires: 2026-01-15")


class _Tweaked(store_helpers.Fleet):
    """From day 12 some findings are reported critical, and some fixes a day earlier (the
    latest fix time is then not the largest)."""

    def snapshot(self, day: int) -> dict[str, object]:
        snap = super().snapshot(day)
        for h in snap["hosts"]:  # type: ignore[attr-defined]
            for f in h["findings"]:
                if day >= 12 and f["vuln"].endswith("1"):
                    f["severity"] = "critical"
                if day >= 12 and f["fixed_at"] and f["vuln"].endswith("9"):
                    earlier = datetime.fromisoformat(f["fixed_at"]) - timedelta(days=1, seconds=-1)
                    f["fixed_at"] = earlier.strftime("%Y-%m-%dT%H:%M:%SZ")
        return snap


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = random_fleet(5, DAYS, hosts=4, per_day=4)
    fleet = _Tweaked(findings=base.findings, hosts=base.hosts, scans=base.scans)
    saved, store_helpers.EXCEPTIONS = store_helpers.EXCEPTIONS, WAIVERS
    try:
        return make_bundles(tmp_path_factory.mktemp("model"), fleet, list(range(DAYS)))
    finally:
        store_helpers.EXCEPTIONS = saved


def _model_facts(conn: Any, policy: str, hi: datetime) -> list[ItemFacts]:
    """Each item as the metrics define it, from its spans starting before ``hi``."""
    order = sorted(conn.execute(
        select(evaluations.c.id, evaluations.c.as_of, evaluations.c.bundle_sha256)
        .join(evaluation_policies, evaluation_policies.c.evaluation_id == evaluations.c.id)
        .where(evaluation_policies.c.policy == policy)).all(), key=lambda r: (r[1], r[2]))
    pos = {r[0]: (i, datetime.fromisoformat(r[1])) for i, r in enumerate(order)}
    spans: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in conn.execute(
            select(item_keys.c.host, item_keys.c.finding, item_spans.c.first_eval,
                   item_spans.c.verdict, item_spans.c.fixed_at, item_terms.c.severity,
                   item_terms.c.clock_start, item_terms.c.deadline, item_terms.c.controls)
            .join(item_keys, item_keys.c.id == item_spans.c.item_id)
            .join(item_terms, item_terms.c.id == item_spans.c.terms_id)
            .where(item_keys.c.policy == policy)):
        if pos[row.first_eval][1] < hi:
            spans[(row.host, row.finding)].append(row)
    out = []
    for (host, finding), ss in spans.items():
        ss.sort(key=lambda r: pos[r.first_eval][0])
        last = ss[-1]
        ts = {k: datetime.fromisoformat(v) if v else None
              for k, v in (("cs", last.clock_start), ("dl", last.deadline))}
        fixed = next((datetime.fromisoformat(r.fixed_at) for r in reversed(ss) if r.fixed_at), None)
        at = [r for r in ss if ts["dl"] is not None and pos[r.first_eval][1] <= ts["dl"]]
        out.append(ItemFacts(policy, host, finding, last.severity, ts["cs"], ts["dl"], fixed,
                             tuple(orjson.loads(last.controls)),
                             bool(at) and at[-1].verdict == "excepted"))
    return out


def _days(s: float | None) -> float | None:
    return None if s is None else round(s / 86400, 2)


def test_report_agrees_with_the_definitions_item_by_item(bundles: list[Path],
                                                         store_url: str) -> None:
    store = open_store(store_url, create=True)
    for b in bundles:
        record_bundle(store, b)
    report = build_period(store, LO, HI, BucketBy.WEEK)
    with store.read() as conn:
        facts = _model_facts(conn, "sla", HI)
    store.close()
    # Every path of the aggregation is taken: waived at the deadline, a changed severity,
    # a changed fix time.
    assert any(f.waived_at_deadline for f in facts)
    assert any(f.finding.startswith("CVE-2026-") and f.finding.split("/")[0].endswith("1")
               and f.severity == "critical" for f in facts)
    assert any(f.fixed_at is not None and f.fixed_at.second == 1 for f in facts)
    known = max(datetime.fromisoformat(x["as_of"]) for x in report["backlog"])
    groups: dict[tuple[str, str], list[ItemFacts]] = defaultdict(list)
    for f in facts:
        groups[("severity", f.severity)].append(f)
        groups[("severity", "all")].append(f)
        for c in f.controls:
            groups[("control", c)].append(f)
    windows = {b.label: (b.start, b.end) for b in buckets(LO, HI, BucketBy.WEEK)}
    windows["period"] = (LO, HI)
    sla = {(x["bucket"], x["dimension"], x["key"]): x for x in report["sla"]}
    mt = {(x["bucket"], x["dimension"], x["key"]): x for x in report["mttr"]}
    assert set(sla) == set(mt) == {(w, *g) for w in windows for g in groups}
    for (label, dim, key), row in sla.items():
        lo, hi = windows[label]
        a = sla_attainment(groups[(dim, key)], lo, hi, known)
        assert (row["due"], row["met"], row["late"], row["waived"], row["pending"]) == (
            a.due, a.met, len(a.late), a.waived, a.pending), (label, dim, key)
        m = mttr(groups[(dim, key)], lo, hi)
        assert (mt[(label, dim, key)]["fixed"], mt[(label, dim, key)]["mean_days"],
                mt[(label, dim, key)]["p90_days"]) == (m.count, _days(m.mean_s),
                                                        _days(m.p90_s)), (label, dim, key)
    for c in report["controls"]:
        a = sla_attainment(groups[("control", c["control"])], LO, HI, known)
        assert json.dumps(c["items"]["late"]) == json.dumps(
            [{"host": x.host, "finding": x.finding, "severity": x.severity,
              "deadline": x.deadline.strftime("%Y-%m-%dT%H:%M:%SZ") if x.deadline else None,
              "fixed_at": x.fixed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if x.fixed_at else None}
             for x in a.late])
    assert sum(x["waived"] for x in report["sla"] if x["bucket"] == "period") > 0
