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
#: deadline, fixed_at, controls text, 1 if waived at the deadline else 0, and a last
#: field the tally does not read); times as stored texts.
Fact = tuple[str, str, str, str | None, str | None, str | None, str, int, int]

#: Index of each SLA outcome in a tally's counts.
_OUTCOMES = {"met": 0, "late": 1, "waived": 2, "pending": 3}
#: The bucket index of the whole period.
WHOLE = -1

_TS: dict[str, datetime] = {}


def dt(text: str | None) -> datetime | None:
    """The instant of a stored time text (cached: the same texts recur across items)."""
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
    _sorted_late: dict[str, tuple[ItemFacts, ...]] = field(default_factory=dict)

    def attainment(self, b: int, dimension: str, key: str) -> tuple[Attainment, int]:
        """The SLA attainment and the late count of a group; the late items themselves
        over the whole period per control (the statements list them), else none."""
        met, late, waived, pending = self.sla.get((b, dimension, key), (0, 0, 0, 0))
        items: tuple[ItemFacts, ...] = ()
        if b == WHOLE and dimension == "control":
            items = self._sorted_late.get(key) or self._sorted_late.setdefault(
                key, tuple(sorted(self.late.get(key, []), key=late_order)))
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


def tally(policy: str, facts: Iterable[Fact], starts: Sequence[datetime],
          ends: Sequence[datetime], known_until: datetime) -> Tally:
    """Every item of ``facts`` judged once and counted in each bucket and group it falls
    in (deadline: SLA; fix: MTTR), and over the whole period (the buckets' union). Items
    are first counted per (severity, controls), then those counts per group."""
    bk = _Buckets(starts, ends)
    sla_sig: defaultdict[tuple[str, str, int, str], int] = defaultdict(int)
    dur_sig: defaultdict[tuple[str, str, int], list[int]] = defaultdict(list)
    late: list[Fact] = []
    seen: set[tuple[str, str]] = set()
    for fact in facts:
        _, _, sev, cs_text, dl_text, fixed_text, ctl_text, waived, _ = fact
        seen.add((sev, ctl_text))
        fixed = dt(fixed_text)
        db = bk.of(dl_text) if dl_text is not None else None
        if db is not None:
            deadline = _TS[dl_text]  # type: ignore[index]  # bk.of cached it
            outcome = sla_outcome(deadline, fixed, bool(waived), known_until)
            sla_sig[(sev, ctl_text, db, outcome)] += 1
            if outcome == "late":
                late.append(fact)
        if fixed is not None and cs_text is not None:
            fb = bk.of(fixed_text)  # type: ignore[arg-type]  # fixed is its instant
            if fb is not None:
                dur_sig[(sev, ctl_text, fb)].append(remediation_s(fixed, dt(cs_text)))  # type: ignore[arg-type]
    return _spread(policy, seen, sla_sig, dur_sig, late)


def _groups(sev: str, ctls: tuple[str, ...]) -> list[tuple[str, str]]:
    """The groups an item counts in: its severity, ``all``, each of its controls."""
    return [("severity", sev), ("severity", "all"), *(("control", c) for c in ctls)]


def _spread(policy: str, seen: set[tuple[str, str]],
            sla_sig: dict[tuple[str, str, int, str], int],
            dur_sig: dict[tuple[str, str, int], list[int]], late: list[Fact]) -> Tally:
    """The counts per (severity, controls, bucket) added to each group, per bucket and
    over the whole period."""
    out = Tally(policy)
    controls = {ctl: tuple(orjson.loads(ctl)) for _, ctl in seen}
    for sev, ctl in seen:
        out.sev_keys.update((sev, "all"))
        out.ctl_keys.update(controls[ctl])
    for (sev, ctl, b, outcome), n in sla_sig.items():
        o = _OUTCOMES[outcome]
        for dim, key in _groups(sev, controls[ctl]):
            out.sla[(b, dim, key)][o] += n
            out.sla[(WHOLE, dim, key)][o] += n
    for (sev, ctl, b), ds in dur_sig.items():
        for dim, key in _groups(sev, controls[ctl]):
            out.durations[(b, dim, key)].extend(ds)
            out.durations[(WHOLE, dim, key)].extend(ds)
    for host, finding, sev, cs, dl, fixed, ctl, waived, _ in late:
        it = ItemFacts(policy, host, finding, sev, dt(cs), dt(dl), dt(fixed), controls[ctl],
                       bool(waived))
        for c in it.controls:
            out.late[c].append(it)
    return out
