"""A period report's content: the store's evaluations in [from, to), cut into buckets
(month, quarter or ISO week, UTC), turned into the metrics of ``metrics`` per policy,
severity and control; a plain JSON-ready dict, deterministic (sorted, no wall clock)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import Connection, select

from patchpolicy.model.common import format_timestamp
from patchpolicy.store.aggregate import ItemRow, item_rows, open_runs, scan_rows, span_rows
from patchpolicy.store.engine import Store, StoreError
from patchpolicy.store.metrics import (
    Attainment,
    ItemFacts,
    Mttr,
    ageing_counts,
    exception_counts,
    micros,
    scan_cadence_us,
)
from patchpolicy.store.schema import (
    check_spans,
    evaluation_policies,
    evaluations,
)
from patchpolicy.store.tally import WHOLE, Fact, Tally, dt, tally
from patchpolicy.version import __version__

#: Control counts that come from host checks: such a control gets a scan statement.
CHECK_VERDICTS = frozenset({"ok", "scan_stale", "never_scanned"})


class BucketBy(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    WEEK = "week"


@dataclass(frozen=True)
class Bucket:
    label: str
    start: datetime
    end: datetime


def buckets(lo: datetime, hi: datetime, by: BucketBy) -> list[Bucket]:
    """Calendar buckets (UTC) covering [lo, hi), each cut to it."""
    out: list[Bucket] = []
    day0 = datetime(lo.year, lo.month, lo.day, tzinfo=UTC)
    if by is BucketBy.WEEK:
        cur = day0 - timedelta(days=day0.weekday())
    elif by is BucketBy.MONTH:
        cur = datetime(lo.year, lo.month, 1, tzinfo=UTC)
    else:
        cur = datetime(lo.year, 3 * ((lo.month - 1) // 3) + 1, 1, tzinfo=UTC)
    while cur < hi:
        if by is BucketBy.WEEK:
            nxt = cur + timedelta(days=7)
            y, w, _ = cur.isocalendar()
            label = f"{y}-W{w:02d}"
        else:
            step = 1 if by is BucketBy.MONTH else 3
            m = cur.month - 1 + step
            nxt = datetime(cur.year + m // 12, m % 12 + 1, 1, tzinfo=UTC)
            label = (f"{cur.year}-{cur.month:02d}" if by is BucketBy.MONTH
                     else f"{cur.year}-Q{(cur.month - 1) // 3 + 1}")
        out.append(Bucket(label, max(cur, lo), min(nxt, hi)))
        cur = nxt
    return out


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 86400, 2)


def _pct(a: Attainment) -> float | None:
    return None if a.share is None else round(100 * a.share, 2)


@dataclass
class _Eval:
    id: int
    as_of: datetime
    as_of_text: str
    bundle: str
    exceptions: list[dict[str, Any]]
    controls: list[dict[str, Any]]


def _policy_evals(conn: Connection, evs: dict[int, _Eval]) -> dict[str, list[_Eval]]:
    by: dict[str, list[_Eval]] = defaultdict(list)
    for eid, policy in conn.execute(select(evaluation_policies.c.evaluation_id,
                                           evaluation_policies.c.policy)):
        by[policy].append(evs[eid])
    for seq in by.values():
        seq.sort(key=lambda e: (e.as_of_text, e.bundle))
    return by


@dataclass
class _Backlog:
    """The open and overdue backlog's +1/-1 at each evaluation position, and the open
    items' clock starts (with their counts) at each bucket's last evaluation."""

    open_d: list[int]
    over_d: list[int]
    open_at: dict[int, dict[str | None, int]]


def _backlog(conn: Connection, p: str | None, idx: dict[int, int], n_evals: int, ends: list[int]
             ) -> _Backlog:
    """The open spans counted by the database per (first, last evaluation, overdue, clock
    start): each count is added over its run, and to each bucket end the run covers."""
    open_d = [0] * (n_evals + 1)
    over_d = [0] * (n_evals + 1)
    open_at: dict[int, dict[str | None, int]] = defaultdict(dict)
    for first_eval, last_eval, overdue, clock_start, n in open_runs(conn, p):
        first, last = idx[first_eval], idx[last_eval]
        open_d[first] += n
        open_d[last + 1] -= n
        if overdue:
            over_d[first] += n
            over_d[last + 1] -= n
        k = bisect.bisect_left(ends, first)
        while k < len(ends) and ends[k] <= last:
            at = open_at[ends[k]]
            at[clock_start] = at.get(clock_start, 0) + n
            k += 1
    return _Backlog(open_d, over_d, open_at)


def _facts(conn: Connection, p: str | None, seq: list[_Eval], idx: dict[int, int],
           first_evals: list[int] | None) -> Iterator[Fact]:
    """Each item as known at the end of the period (its spans starting at one of
    ``first_evals``): its row of ``item_rows``, or its facts from its spans when their
    order matters."""
    ordered: list[ItemRow] = []
    for row in item_rows(conn, p, first_evals):
        if row[7]:
            ordered.append(row)
        else:
            yield row
    by_item: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for item, first, verdict, fixed, sev, cs, dl, ctl in span_rows(
            conn, [r[8] for r in ordered], first_evals):
        by_item[item].append((idx[first], verdict, fixed, sev, cs, dl, ctl))
    for r in ordered:
        yield _ordered_fact(r[0], r[1], by_item[r[8]], seq)


def _ordered_fact(host: str, finding: str, ss: list[tuple[Any, ...]], seq: list[_Eval]) -> Fact:
    """An item's facts from its spans: terms from the last, fixed_at from the latest that
    has one, waived when its state in its last evaluation at or before the deadline was
    ``excepted``."""
    ss.sort()
    _, _, _, severity, clock_start, deadline_text, ctl = ss[-1]
    fixed = next((s[2] for s in reversed(ss) if s[2]), None)
    deadline = dt(deadline_text)
    waived = False
    if deadline is not None:
        at = [s for s in ss if seq[s[0]].as_of <= deadline]
        waived = bool(at) and at[-1][1] == "excepted"
    return (host, finding, severity, clock_start, deadline_text, fixed, ctl, int(waived), 0)


def _rows_for(t: Tally, b: int, label: str, dimension: str, keys: set[str],
              sla: list[dict[str, Any]], mt: list[dict[str, Any]]) -> None:
    for key in sorted(keys):
        a, late = t.attainment(b, dimension, key)
        m: Mttr = t.mttr(b, dimension, key)
        sla.append({"bucket": label, "policy": t.policy, "dimension": dimension, "key": key,
                    "due": a.due, "met": a.met, "late": late, "waived": a.waived,
                    "pending": a.pending, "attainment_pct": _pct(a)})
        mt.append({"bucket": label, "policy": t.policy, "dimension": dimension, "key": key,
                   "fixed": m.count, "mean_days": _days(m.mean_s),
                   "median_days": _days(m.median_s), "p90_days": _days(m.p90_s)})


def _late_row(it: ItemFacts) -> dict[str, Any]:
    return {"host": it.host, "finding": it.finding, "severity": it.severity,
            "deadline": format_timestamp(it.deadline) if it.deadline else None,
            "fixed_at": format_timestamp(it.fixed_at) if it.fixed_at else None}


@dataclass
class _Out:
    """The report's row lists, filled policy by policy."""

    sla: list[dict[str, Any]] = field(default_factory=list)
    mttr: list[dict[str, Any]] = field(default_factory=list)
    backlog: list[dict[str, Any]] = field(default_factory=list)
    ageing: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    scans: list[dict[str, Any]] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    policies: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)


@dataclass
class _Policy:
    """One policy's evaluations and what the period reads of them."""

    name: str
    seq: list[_Eval]
    in_period: list[int]
    tally: Tally
    hosts_in: list[str]
    scans: dict[str, list[int]]
    limit_s: float | None

    @property
    def limit(self) -> float | None:
        """max_scan_age in seconds (None when none is recorded, or zero)."""
        return timedelta(seconds=self.limit_s).total_seconds() if self.limit_s else None

    @property
    def known(self) -> datetime:
        """The as-of of the policy's last evaluation in the period."""
        return self.seq[self.in_period[-1]].as_of


def _evaluations(conn: Connection) -> dict[int, _Eval]:
    return {
        r.id: _Eval(r.id, datetime.fromisoformat(r.as_of), r.as_of, r.bundle_sha256,
                    orjson.loads(r.exceptions), orjson.loads(r.controls))
        for r in conn.execute(select(evaluations.c.id, evaluations.c.as_of,
                                     evaluations.c.bundle_sha256, evaluations.c.exceptions,
                                     evaluations.c.controls))
    }


def _versions(conn: Connection, evs: dict[int, _Eval], lo: datetime, hi: datetime
              ) -> dict[str, set[str]]:
    versions: dict[str, set[str]] = defaultdict(set)
    for eid, p, v in conn.execute(select(evaluation_policies.c.evaluation_id,
                                         evaluation_policies.c.policy,
                                         evaluation_policies.c.version)):
        if lo <= evs[eid].as_of < hi:
            versions[p].add(v)
    return versions


def build_period(store: Store, lo: datetime, hi: datetime, by: BucketBy,
                 policy: str | None = None) -> dict[str, Any]:
    """The report's content for [lo, hi); StoreError when the period holds no evaluation
    (of ``policy``)."""
    with store.read() as conn:
        evs = _evaluations(conn)
        per_policy = _policy_evals(conn, evs)
        names = sorted(p for p, seq in per_policy.items()
                       if (policy is None or p == policy) and any(lo <= e.as_of < hi for e in seq))
        if not names:
            what = f" of policy {policy!r}" if policy else ""
            raise StoreError(f"{store.location.shown}: no evaluation{what} from "
                             f"{format_timestamp(lo)} to {format_timestamp(hi)}")
        bks = buckets(lo, hi, by)
        limits = {
            (eid, p): s for eid, p, s in conn.execute(select(
                evaluation_policies.c.evaluation_id, evaluation_policies.c.policy,
                evaluation_policies.c.max_scan_age_s))
        }
        versions = _versions(conn, evs, lo, hi)
        out = _Out()
        for p in names:
            _policy_rows(conn, out, (p, len(per_policy) > 1), per_policy[p], (lo, hi), bks,
                         limits, versions[p])
    return {
        "apiVersion": "patchpolicy/v1", "kind": "PeriodReport",
        "tool": {"name": "patchpolicy", "version": __version__},
        "period": {"from": format_timestamp(lo), "to": format_timestamp(hi), "by": by.value,
                   "policy": policy},
        "buckets": [{"label": b.label, "from": format_timestamp(b.start),
                     "to": format_timestamp(b.end)} for b in bks],
        "evaluations": sorted(out.used),
        "policies": out.policies,
        "sla": out.sla, "mttr": out.mttr, "backlog": out.backlog, "ageing": out.ageing,
        "exceptions": out.exceptions, "scan_cadence": out.scans, "controls": out.controls,
    }


def _policy_rows(conn: Connection, out: _Out, policy: tuple[str, bool], seq: list[_Eval],
                 period: tuple[datetime, datetime], bks: list[Bucket],
                 limits: dict[tuple[int, str], Any], versions: set[str]) -> None:
    """Every row of one policy (its name, and whether the store holds others), in the
    report's order."""
    p, others = policy
    only = p if others else None
    lo, hi = period
    idx = {e.id: i for i, e in enumerate(seq)}
    in_period = [i for i, e in enumerate(seq) if lo <= e.as_of < hi]
    out.used.update(seq[i].bundle for i in in_period)
    # The last evaluation of each bucket that has one (ageing is taken there).
    bucket_ends: list[tuple[Bucket, int]] = []
    for b in bks:
        b_idx = [i for i in in_period if b.start <= seq[i].as_of < b.end]
        if b_idx:
            bucket_ends.append((b, b_idx[-1]))
    bl = _backlog(conn, only, idx, len(seq), sorted(e for _, e in bucket_ends))
    hi_idx = in_period[-1] + 1
    first_evals = None if hi_idx == len(seq) else [e.id for e in seq[:hi_idx]]
    known = seq[in_period[-1]].as_of
    t = tally(p, _facts(conn, only, seq, idx, first_evals), [b.start for b in bks],
              [b.end for b in bks], known)
    limit_s = limits.get((seq[in_period[-1]].id, p))
    out.policies.append({"name": p, "versions": sorted(versions),
                         "max_scan_age_days": _days(limit_s), "evaluations": len(in_period)})
    # Open and overdue backlog at each evaluation: +1/-1 over each span's run.
    run_o = run_v = 0
    backlog = []
    for i in range(len(seq)):
        run_o += bl.open_d[i]
        run_v += bl.over_d[i]
        backlog.append((run_o, run_v))
    out.backlog.extend({"as_of": seq[i].as_of_text, "policy": p, "open": backlog[i][0],
                        "overdue": backlog[i][1]} for i in in_period)
    hosts_in, scans = _scans_in_scope(conn, p, idx, in_period)
    pol = _Policy(p, seq, in_period, t, hosts_in, scans, limit_s)
    _bucket_rows(out, pol, bks)
    # Ageing of the open backlog at each bucket's last evaluation.
    for b, e in bucket_ends:
        starts = ((dt(cs), n) for cs, n in bl.open_at.get(e, {}).items())
        out.ageing.append({"bucket": b.label, "policy": p, "as_of": seq[e].as_of_text,
                           **ageing_counts(starts, seq[e].as_of)})
    # The whole period as one more bucket, then per-control statements over it.
    _rows_for(t, WHOLE, "period", "severity", t.sev_keys, out.sla, out.mttr)
    _rows_for(t, WHOLE, "period", "control", t.ctl_keys, out.sla, out.mttr)
    _control_rows(out, pol, Bucket("period", lo, hi))


def _scans_in_scope(conn: Connection, p: str, idx: dict[int, int], in_period: list[int]
                    ) -> tuple[list[str], dict[str, list[int]]]:
    """The hosts in scope during the period (their scan_freshness check spans) and each
    one's scan times (microseconds since the epoch, in order)."""
    hosts_in = sorted({h for h, f_, l_ in conn.execute(
        select(check_spans.c.host, check_spans.c.first_eval, check_spans.c.last_eval)
        .where(check_spans.c.policy == p, check_spans.c.check_name == "scan_freshness"))
        if idx[f_] <= in_period[-1] and idx[l_] >= in_period[0]})
    wanted = set(hosts_in)
    return hosts_in, {h: ts for h, ts in scan_rows(conn) if h in wanted}


def _bucket_rows(out: _Out, pol: _Policy, bks: list[Bucket]) -> None:
    """SLA, MTTR, exceptions and scan cadence of each bucket."""
    p, seq = pol.name, pol.seq
    t = pol.tally
    for k, b in enumerate(bks):
        b_idx = [i for i in pol.in_period if b.start <= seq[i].as_of < b.end]
        _rows_for(t, k, b.label, "severity", t.sev_keys, out.sla, out.mttr)
        _rows_for(t, k, b.label, "control", t.ctl_keys, out.sla, out.mttr)
        states = [(x["id"], x["status"], int(x.get("items_covered", 0)),
                   int(x.get("items_matched", 0)))
                  for i in b_idx for x in seq[i].exceptions if p in x.get("policies", [])]
        active, expired = exception_counts(states)
        out.exceptions.append({"bucket": b.label, "policy": p, "active": active,
                               "expired_while_open": expired})
        if not b_idx or not pol.hosts_in:
            continue
        lo_us, end_us, limit = micros(b.start), micros(seq[b_idx[-1]].as_of), pol.limit
        missed = [h for h in pol.hosts_in
                  if scan_cadence_us(pol.scans.get(h, []), lo_us, end_us, limit).missed]
        out.scans.append({"bucket": b.label, "policy": p, "hosts": len(pol.hosts_in),
                          "missed": len(missed), "missed_hosts": missed,
                          "max_scan_age_days": _days(pol.limit_s)})


def _control_rows(out: _Out, pol: _Policy, whole: Bucket) -> None:
    """One statement per control of the policy's last evaluation, over the whole period."""
    last_ev = pol.seq[pol.in_period[-1]]
    for ctl in sorted((x for x in last_ev.controls if x["policy"] == pol.name),
                      key=lambda x: (x["framework"], x["control"])):
        entry: dict[str, Any] = {
            "policy": pol.name, "framework": ctl["framework"],
            "framework_version": ctl["framework_version"], "control": ctl["control"],
            "title": ctl.get("title"),
        }
        a, _ = pol.tally.attainment(WHOLE, "control", ctl["control"])
        entry["items"] = {"due": a.due, "met": a.met, "waived": a.waived, "pending": a.pending,
                          "attainment_pct": _pct(a), "late": [_late_row(x) for x in a.late]}
        if CHECK_VERDICTS & set(ctl.get("counts", {})) and pol.hosts_in:
            per_host = []
            for h in pol.hosts_in:
                cad = scan_cadence_us(pol.scans.get(h, []), micros(whole.start),
                                      micros(last_ev.as_of), pol.limit)
                per_host.append({"host": h, "largest_gap_days": _days(cad.largest_gap_s),
                                 "missed": cad.missed})
            entry["scans"] = {
                "hosts": len(pol.hosts_in), "max_scan_age_days": _days(pol.limit_s),
                "missed_hosts": [x["host"] for x in per_host if x["missed"]],
                "per_host": per_host,
            }
        entry["statement"] = statement(entry)
        out.controls.append(entry)


def _n(x: int) -> str:
    return f"{x:,}"


def statement(entry: dict[str, Any]) -> str:
    """One sentence an assessor can quote: ``PCI-DSS 4.0.1 6.3.3: 97.2% of 1,310 items
    fixed within their deadline; 36 late, listed``."""
    head = f"{entry['framework']} {entry['framework_version']} {entry['control']}"
    parts = []
    it = entry["items"]
    if it["due"] or it["waived"] or it["pending"]:
        share = f"{it['attainment_pct']:.1f}%" if it["attainment_pct"] is not None else "n/a"
        part = (f"{share} of {_n(it['due'])} items due in the period fixed within their deadline; "
                f"{_n(len(it['late']))} late" + (", listed" if it["late"] else ""))
        if it["waived"]:
            part += f"; {_n(it['waived'])} waived by an exception at their deadline"
        if it["pending"]:
            part += f"; {_n(it['pending'])} due after the last evaluation, not judged"
        parts.append(part)
    sc = entry.get("scans")
    if sc and sc["max_scan_age_days"] is None:
        parts.append(f"{_n(sc['hosts'])} hosts in scope; no max_scan_age recorded to judge "
                     "their scan cadence")
    elif sc:
        limit = sc["max_scan_age_days"]
        parts.append(f"{_n(sc['hosts'] - len(sc['missed_hosts']))} of {_n(sc['hosts'])} hosts "
                     f"scanned at least every {limit:g} days throughout"
                     + (f"; missed: {', '.join(sc['missed_hosts'])}" if sc["missed_hosts"] else ""))
    if not parts:
        parts.append("no item fell due in the period")
    return f"{head}: " + "; ".join(parts)


def late_total(report: dict[str, Any]) -> int:
    return sum(len(c["items"]["late"]) for c in report["controls"])


