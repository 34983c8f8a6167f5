"""SLA attainment and MTTR of a policy's items, per bucket and over the whole period, in
one pass over the items: each item is judged once (``metrics.sla_outcome``,
``metrics.remediation_s``) and counted in each of its groups (its severity, ``all``, each
of its controls), so that a year's report does not walk every item once per bucket and
group. Only late items become objects (they are listed)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from patchpolicy.store.metrics import (
    Attainment,
    ItemFacts,
    Mttr,
    late_order,
    mttr_of,
    remediation_s,
    sla_outcome,
)

#: An item's facts as the report reads them: (host, finding, severity, clock start,
#: deadline, fixed_at, controls text, waived at the deadline); times as stored texts.
Fact = tuple[str, str, str, str | None, str | None, str | None, str, bool]

#: Index of each SLA outcome in a tally's counts.
_OUTCOMES = {"met": 0, "late": 1, "waived": 2, "pending": 3}
#: The bucket index of the whole period.
WHOLE = -1

_TS: dict[str, datetime] = {}


def dt(text: str | None) -> datetime | None:
    """The instant of a stored time text (cached: a store holds few distinct ones)."""
    if text is None:
        return None
    got = _TS.get(text)
    if got is None:
        got = _TS[text] = datetime.fromisoformat(text)
    return got


@dataclass
class Tally:
    """Counts per (bucket index or WHOLE, dimension, key)."""

    policy: str
    sev_keys: set[str] = field(default_factory=set)
    ctl_keys: set[str] = field(default_factory=set)
    sla: defaultdict[tuple[int, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    durations: defaultdict[tuple[int, str, str], list[int]] = field(
        default_factory=lambda: defaultdict(list))
    #: Over the whole period, per control: the late items.
    late: defaultdict[str, list[ItemFacts]] = field(default_factory=lambda: defaultdict(list))

    def attainment(self, b: int, dimension: str, key: str) -> tuple[Attainment, int]:
        """The SLA attainment and the late count of a group; the late items themselves
        over the whole period per control (the statements list them), else none."""
        met, late, waived, pending = self.sla.get((b, dimension, key), (0, 0, 0, 0))
        items = tuple(sorted(self.late.get(key, []), key=late_order)) if (
            b == WHOLE and dimension == "control") else ()
        return Attainment(met + late, met, waived, items, pending), late

    def mttr(self, b: int, dimension: str, key: str) -> Mttr:
        return mttr_of(self.durations.get((b, dimension, key), ()))


class _Buckets:
    """Which bucket an instant text falls in (cached per text)."""

    def __init__(self, starts: Sequence[datetime], ends: Sequence[datetime]) -> None:
        self.starts, self.ends = list(starts), list(ends)
        self.cache: dict[str, int | None] = {}

    def of(self, text: str) -> int | None:
        got = self.cache.get(text, -2)
        if got != -2:
            return got
        at = dt(text)
        assert at is not None
        k = bisect.bisect_right(self.starts, at) - 1
        got = self.cache[text] = k if k >= 0 and at < self.ends[k] else None
        return got


# Long: the one loop of the report over every item; kept whole so that it stays lean.
def tally(policy: str, facts: Iterable[Fact], starts: Sequence[datetime],
          ends: Sequence[datetime], known_until: datetime) -> Tally:
    """Every item of ``facts`` judged once and counted in each bucket and group it falls
    in (deadline: SLA; fix: MTTR), and over the whole period (the buckets' union)."""
    out = Tally(policy)
    bk = _Buckets(starts, ends)
    controls: dict[str, tuple[str, ...]] = {}
    sla, durations = out.sla, out.durations
    for host, finding, sev, cs_text, dl_text, fixed_text, ctl_text, waived in facts:
        ctls = controls.get(ctl_text)
        if ctls is None:
            ctls = controls[ctl_text] = tuple(orjson.loads(ctl_text))
        out.sev_keys.add(sev)
        out.ctl_keys.update(ctls)
        groups = [("severity", sev), ("severity", "all"), *(("control", c) for c in ctls)]
        fixed = dt(fixed_text)
        db = bk.of(dl_text) if dl_text is not None else None
        if db is not None:
            deadline = dt(dl_text)
            assert deadline is not None
            outcome = sla_outcome(deadline, fixed, waived, known_until)
            o = _OUTCOMES[outcome]
            for dim, key in groups:
                sla[(db, dim, key)][o] += 1
                sla[(WHOLE, dim, key)][o] += 1
            if outcome == "late":
                it = ItemFacts(policy, host, finding, sev, dt(cs_text), deadline, fixed, ctls,
                               waived)
                for c in ctls:
                    out.late[c].append(it)
        fb = bk.of(fixed_text) if fixed_text is not None and cs_text is not None else None
        if fb is not None:
            cs = dt(cs_text)
            assert fixed is not None and cs is not None
            d = remediation_s(fixed, cs)
            for dim, key in groups:
                durations[(fb, dim, key)].append(d)
                durations[(WHOLE, dim, key)].append(d)
    if out.sev_keys:
        out.sev_keys.add("all")
    return out
