"""Each period metric on hand-computed data (the examples of docs/history.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from patchpolicy.store.metrics import (
    ItemFacts,
    age_bucket,
    ageing,
    exception_counts,
    mttr,
    percentile_nearest_rank,
    scan_cadence,
    sla_attainment,
)
from patchpolicy.store.period import BucketBy, buckets

D = timedelta(days=1)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, tzinfo=UTC)


def item(name: str, deadline: int | None, fixed: int | None, start: int = 0,
         waived: bool = False) -> ItemFacts:
    """Days counted from 1 January 2026."""
    return ItemFacts("p", "h", name, "high", JAN + start * D,
                     None if deadline is None else JAN + deadline * D,
                     None if fixed is None else JAN + fixed * D, ("6.3.3",), waived)


def test_sla_attainment() -> None:
    items = [
        item("a", 10, 5),        # due in January, fixed before: met
        item("b", 10, 10),       # fixed at the deadline instant: met
        item("c", 20, 25),       # fixed after: late
        item("d", 30, None),     # never fixed: late
        item("e", 15, None, waived=True),  # waived at its deadline: neither
        item("f", 40, 1),        # deadline in February: not in January's count
        item("g", None, 3),      # no deadline (untracked): never counted
    ]
    a = sla_attainment(items, JAN, FEB)
    assert (a.due, a.met, a.waived) == (4, 2, 1)
    assert [x.finding for x in a.late] == ["c", "d"]
    assert a.share == 0.5
    # Evaluated only up to 12 January: the deadlines of the 15th (waived or not), 20th and
    # 30th are pending.
    early = sla_attainment(items, JAN, FEB, known_until=JAN + 12 * D)
    assert (early.due, early.met, early.pending, early.waived) == (2, 2, 3, 0)
    empty = sla_attainment(items, FEB + 30 * D, FEB + 60 * D)
    assert empty.due == 0 and empty.share is None


def test_mttr_mean_median_p90() -> None:
    # Fixed 2, 4, 6, 8 and 30 days after clock start; one fixed in February is left out.
    items = [item(str(n), None, n, 0) for n in (2, 4, 6, 8, 30)] + [item("x", None, 40, 1)]
    m = mttr(items, JAN, FEB)
    assert m.count == 5
    assert m.mean_s == 10 * 86400  # (2 + 4 + 6 + 8 + 30) / 5
    assert m.median_s == 6 * 86400
    assert m.p90_s == 30 * 86400  # nearest rank: ceil(0.9 * 5) = 5th smallest
    even = mttr(items[:4], JAN, FEB)
    assert even.median_s == 5 * 86400  # (4 + 6) / 2
    assert even.p90_s == 8 * 86400  # ceil(0.9 * 4) = 4th
    assert mttr([], JAN, FEB).count == 0


def test_percentile_nearest_rank() -> None:
    ten = list(range(1, 11))
    assert percentile_nearest_rank(ten, 90) == 9
    assert percentile_nearest_rank(ten, 50) == 5
    assert percentile_nearest_rank([7], 90) == 7


def test_ageing_buckets() -> None:
    at = JAN + 100 * D
    starts = [at - 0 * D, at - 30 * D, at - 31 * D, at - 60 * D - timedelta(hours=23),
              at - 61 * D, at - 90 * D, at - 91 * D, None]
    assert ageing(starts, at) == {"0-30d": 2, "31-60d": 2, "61-90d": 2, ">90d": 1,
                                  "no clock start": 1}
    assert age_bucket(timedelta(days=-2)) == "0-30d"  # a clock start after as-of


def test_scan_cadence() -> None:
    limit = 7 * D
    # Scans on days -3, 2, 12, 14 (day 0 = JAN); window [JAN, JAN + 20d].
    scans = [JAN - 3 * D, JAN + 2 * D, JAN + 12 * D, JAN + 14 * D]
    c = scan_cadence(scans, JAN, JAN + 20 * D, limit)
    assert c.largest_gap_s == 10 * 86400 and c.missed  # day 2 -> day 12
    ok = scan_cadence([JAN - D, JAN + 6 * D, JAN + 13 * D], JAN, JAN + 20 * D, limit)
    assert ok.largest_gap_s == 7 * 86400 and not ok.missed  # 7 days is within 7 days
    tail = scan_cadence([JAN + D], JAN, JAN + 20 * D, limit)
    assert tail.largest_gap_s == 19 * 86400 and tail.missed  # up to the window's end
    never = scan_cadence([], JAN, JAN + 20 * D, limit)
    assert never.largest_gap_s is None and never.missed
    late_start = scan_cadence([JAN + 5 * D], JAN, JAN + 6 * D, limit)
    assert late_start.largest_gap_s == 5 * 86400  # from the window's start


def test_exception_counts() -> None:
    states = [("EXC-1", "valid", 2, 2), ("EXC-1", "expired", 0, 2), ("EXC-2", "valid", 0, 0),
              ("EXC-3", "expiring_soon", 1, 1), ("EXC-4", "expired", 0, 0)]
    assert exception_counts(states) == (["EXC-1", "EXC-3"], ["EXC-1"])


def test_buckets() -> None:
    lo, hi = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 2, tzinfo=UTC)
    assert [(b.label, b.start.date().isoformat(), b.end.date().isoformat())
            for b in buckets(lo, hi, BucketBy.QUARTER)] == [
        ("2026-Q1", "2026-01-15", "2026-04-01"), ("2026-Q2", "2026-04-01", "2026-04-02")]
    assert [b.label for b in buckets(lo, hi, BucketBy.MONTH)] == ["2026-01", "2026-02", "2026-03",
                                                                  "2026-04"]
    weeks = buckets(datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 13, tzinfo=UTC),
                    BucketBy.WEEK)
    assert [(b.label, b.start.day) for b in weeks] == [("2026-W01", 31), ("2026-W02", 5),
                                                       ("2026-W03", 12)]
