"""(bundle, snapshot, as-of) -> verdicts. No I/O beyond reading the snapshot, no printing,
never the wall clock.

Semantics are FORMATS.md section 3. The hot path is one per (policy, finding): the rule
outcomes of a policy are memoised on the tuple of finding attributes its rules read
(plus the host's projection), so a fleet of 10^6 findings costs a few hundred CEL
evaluations; clock and deadline arithmetic is plain Python on msgspec structs.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from patchpolicy.errors import SnapshotError
from patchpolicy.expr import EvalFailure
from patchpolicy.expr.guards import equality_guards
from patchpolicy.model.bundle import Bundle, CompiledException, CompiledPolicy
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import FindingRecord, HostRecord
from patchpolicy.model.policy import ClockSource
from patchpolicy.model.results import (
    BUCKET_OF,
    SEVERITY_ORDER,
    VERDICT_ORDER,
    Bucket,
    CheckVerdict,
    ControlReport,
    ControlStatus,
    ExceptionReport,
    ExceptionStatus,
    HostCheck,
    Item,
    PolicyInfo,
    RuleMatch,
    Verdict,
)
from patchpolicy.snapshot import no_gc

DAY = timedelta(days=1)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def _kev_added(f: FindingRecord) -> datetime | None:
    return _day_start(f.kev.date_added) if f.kev is not None else None


CLOCK_GETTERS: dict[ClockSource, Callable[[FindingRecord], datetime | None]] = {
    ClockSource.FIX_RELEASED: operator.attrgetter("fix_released_at"),
    ClockSource.PUBLISHED: operator.attrgetter("published_at"),
    ClockSource.FIRST_SEEN: operator.attrgetter("first_seen_at"),
    ClockSource.KEV_ADDED: _kev_added,
}
CLOCK_FIELDS = {
    ClockSource.FIX_RELEASED: "finding.fix_released_at",
    ClockSource.PUBLISHED: "finding.published_at",
    ClockSource.FIRST_SEEN: "finding.first_seen_at",
    ClockSource.KEV_ADDED: "finding.kev.date_added",
}


def kev_due_instant(due: date) -> datetime:
    """A KEV due date is met through the end of that day UTC: the exclusive bound."""
    return _day_start(due) + DAY


def days_between(as_of: datetime, deadline: datetime) -> int:
    """Whole days from as-of to the deadline, truncated toward zero.

    6d18h left is 6; overdue by 7d6h is -7 ("7 days overdue"); 0 means less than a day
    either way (the verdict says which side).
    """
    return int((deadline - as_of) / DAY)


class _Failure:
    """A memoised evaluation failure (fail closed: never 'no match')."""

    __slots__ = ("message", "rule_index")

    def __init__(self, message: str, rule_index: int | None = None) -> None:
        self.message = message
        self.rule_index = rule_index


def _hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted(value.items()))
    if isinstance(value, list):
        return tuple(value)
    return value


def _projector(fields: list[str]) -> Callable[[Any], Any]:
    """A C-speed key function reading the given top-level attributes."""
    if not fields:
        return lambda _obj: ()
    getter = operator.attrgetter(*fields)
    needs_fix = any(f in ("labels", "provenance") for f in fields)
    if len(fields) == 1:
        if needs_fix:
            return lambda obj: _hashable(getter(obj))
        return getter
    if needs_fix:
        return lambda obj: tuple(_hashable(v) for v in getter(obj))
    return getter


def _top_fields(paths: Iterable[tuple[str, ...]], root: str) -> list[str]:
    return sorted({p[1] for p in paths if p and p[0] == root and len(p) > 1} | (
        # A bare `finding` or `host` reference reads everything.
        {"__all__"} if any(p == (root,) for p in paths) else set()
    ))


def _expr_paths(expr: Any) -> list[tuple[str, ...]]:
    return [tuple(p) for p in getattr(expr, "paths", ())]


def _record_fields(cls: Any) -> list[str]:
    return [f for f in cls.__struct_fields__ if f != "findings"]


_Guards = tuple[tuple[Callable[[Any], Any], frozenset[str]], ...]


@dataclass
class _PolicyRunner:
    """A policy prepared for the hot path."""

    cp: CompiledPolicy
    as_of: datetime
    exceptions: list[CompiledException]
    host_key: Callable[[HostRecord], Any] = field(init=False)
    finding_key: Callable[[FindingRecord], Any] = field(init=False)
    memo: dict[Any, Any] = field(default_factory=dict)
    in_effect: bool = True
    rule_controls: list[tuple[str, ...]] = field(default_factory=list)
    all_controls: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.name = self.cp.name
        self.exception_plan: list[tuple[CompiledException, _Guards, _Guards]] = []
        # Index exceptions by the values of their first finding guard (usually
        # finding.vuln), so a finding looks up its few candidates instead of testing all.
        index: dict[str, dict[str, list[int]]] = {}
        unguarded: list[int] = []
        for i, exc in enumerate(self.exceptions):
            guards = equality_guards(exc.match.source)
            host_guards = [g for g in guards if g.root == "host"]
            finding_guards = [g for g in guards if g.root == "finding"]
            self.exception_plan.append((
                exc,
                tuple((operator.attrgetter(g.field), g.values) for g in host_guards),
                tuple((operator.attrgetter(g.field), g.values) for g in finding_guards),
            ))
            if not finding_guards:
                unguarded.append(i)
                continue
            table = index.setdefault(finding_guards[0].field, {})
            for value in finding_guards[0].values:
                table.setdefault(value, []).append(i)
        self.unguarded: tuple[int, ...] = tuple(unguarded)
        self.exception_index = [
            (operator.attrgetter(field), {v: tuple(ix) for v, ix in table.items()})
            for field, table in sorted(index.items())
        ]
        spec = self.cp.policy.spec
        paths: list[tuple[str, ...]] = []
        for r in self.cp.rules:
            paths.extend(_expr_paths(r.when))
        hfields = _top_fields(paths, "host")
        ffields = _top_fields(paths, "finding")
        if "__all__" in hfields:
            hfields = _record_fields(HostRecord)
        if "__all__" in ffields:
            ffields = _record_fields(FindingRecord)
        self.host_key = _projector(hfields)
        self.finding_key = _projector(ffields)
        eff = self.cp.policy.metadata.effective_from
        self.in_effect = eff is None or self.as_of >= eff
        self.all_controls = tuple(c.id for c in self.cp.policy.metadata.controls)
        self.rule_controls = [tuple(r.rule.controls) for r in self.cp.rules]
        self.clocks = [tuple(r.rule.clock or spec.clock) for r in self.cp.rules]
        self.within_text = [_age(r.rule.within) for r in self.cp.rules]
        # Per rule, what the hot loop needs: clock (source, getter) pairs, within, cap.
        self.rule_info = [
            (
                tuple((src, CLOCK_GETTERS[src]) for src in self.clocks[i]),
                r.rule.within,
                r.rule.cap_by_kev_due_date,
            )
            for i, r in enumerate(self.cp.rules)
        ]
        self.due_soon_limit = self.as_of + spec.due_soon

    def exception_candidates(self, finding: FindingRecord) -> tuple[int, ...]:
        """Plan indices of the exceptions that may match ``finding``, in plan order."""
        found: tuple[int, ...] = self.unguarded
        for get, table in self.exception_index:
            hit = table.get(get(finding))
            if hit:
                found = tuple(sorted({*found, *hit})) if found else hit
        return found

    def rule_outcome(self, host: HostRecord, hkey: Any, finding: FindingRecord) -> Any:
        """Indices of matching rules, or a _Failure; memoised on what the rules read."""
        key = (hkey, self.finding_key(finding))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        matched: list[int] = []
        outcome: Any
        try:
            for i, r in enumerate(self.cp.rules):
                if r.when.evaluate(host, finding):
                    matched.append(i)
            outcome = tuple(matched)
        except EvalFailure as e:
            outcome = _Failure(f'rule "{r.rule.id}": when: {e}', i)
        self.memo[key] = outcome
        return outcome


@dataclass
class Tally:
    """Counts that never drop anything: what was read, what was judged, by verdict."""

    hosts_read: int = 0
    findings_read: int = 0
    items: int = 0
    by_verdict: Counter[str] = field(default_factory=Counter)
    by_bucket: Counter[str] = field(default_factory=Counter)
    by_policy: dict[str, Counter[str]] = field(default_factory=dict)
    hosts_in_scope: Counter[str] = field(default_factory=Counter)
    checks_by_verdict: Counter[str] = field(default_factory=Counter)
    checks_by_bucket: Counter[str] = field(default_factory=Counter)
    control_counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    control_failing: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    control_failing_total: Counter[tuple[str, str]] = field(default_factory=Counter)
    exception_hits: Counter[str] = field(default_factory=Counter)
    exception_matched: set[str] = field(default_factory=set)


FAILING_REFS_KEPT = 100


@dataclass
class PartialState:
    """An unfinished evaluator's state (see Evaluator.export_partial / absorb)."""

    agg: dict[tuple[str, Verdict, Bucket, tuple[str, ...]], int]
    tally: Tally
    checks: list[HostCheck]
    worst: list[tuple[tuple[Any, ...], Item]]
    seen_hosts: set[str]


@dataclass
class Evaluation:
    """The result of one evaluation; `items` is empty when items were not kept."""

    bundle: Bundle
    as_of: datetime
    snapshot_taken_at: datetime
    tally: Tally
    items: list[Item]
    checks: list[HostCheck]
    exceptions: list[ExceptionReport]
    controls: list[ControlReport]
    policies: list[PolicyInfo]
    worst: list[Item]

    def failing(self, fail_on: frozenset[str] = frozenset()) -> int:
        """Entries that fail the gate: fail buckets, plus the verdicts named in fail_on.

        ``fail_on`` may hold ``due_soon``, ``remediated_late`` and ``expired_exception``.
        """
        t = self.tally
        n = t.by_bucket.get(Bucket.FAIL, 0) + t.checks_by_bucket.get(Bucket.FAIL, 0)
        for verdict in ("due_soon", "remediated_late"):
            if verdict in fail_on:
                n += self._in_effect_count(verdict)
        if "expired_exception" in fail_on:
            n += sum(1 for e in self.exceptions if e.status == ExceptionStatus.EXPIRED)
        return n

    def _in_effect_count(self, verdict: str) -> int:
        in_effect = {p.name for p in self.policies if p.in_effect}
        return sum(
            counts.get(verdict, 0)
            for policy, counts in self.tally.by_policy.items()
            if policy in in_effect
        )

    def exit_code(self, fail_on: frozenset[str] = frozenset()) -> int:
        """0 when nothing fails the gate, 1 otherwise (2 is for bad input, raised earlier)."""
        return 1 if self.failing(fail_on) else 0


def worst_key(item: Item) -> tuple[Any, ...]:
    """Worst first: verdict, most days overdue, KEV, severity, then ids.

    Keep in step with _Worst.would_keep, which compares these parts lazily.
    """
    return (
        VERDICT_ORDER[item.verdict],
        item.days_left if item.days_left is not None else -(10**9),
        0 if item.kev else 1,
        SEVERITY_ORDER.get(item.severity, 9),
        item.policy,
        item.host,
        item.finding,
    )


class _Worst:
    """Keeps the N worst non-passing items without holding all of them.

    Candidates are appended and pruned to N by sorting whenever 4N accumulate: amortised
    O(log N) per item with no per-item heap objects.
    """

    def __init__(self, n: int) -> None:
        self.n = max(0, n)
        self.entries: list[tuple[tuple[Any, ...], Item]] = []
        self.threshold: tuple[Any, ...] | None = None
        """Key of the N-th worst item kept so far (after a prune)."""

    def would_keep(
        self, rank: int, days: int, no_kev: bool, severity: str, policy: str, host: str,
        finding: str,
    ) -> bool:
        """False when an item with these key parts cannot be among the N worst.

        Compares the cheap leading parts first; builds the full key only on a tie.
        """
        t = self.threshold
        if t is None:
            return True
        if rank != t[0]:
            return bool(rank < t[0])
        if days != t[1]:
            return bool(days < t[1])
        key = (rank, days, 1 if no_kev else 0, SEVERITY_ORDER.get(severity, 9), policy, host, finding)
        return key < t

    def add(self, item: Item) -> None:
        if self.n == 0:
            return
        self.entries.append((worst_key(item), item))
        if len(self.entries) >= 4 * self.n + 64:
            self.prune()

    def prune(self) -> None:
        self.entries.sort(key=lambda e: e[0])
        del self.entries[self.n :]
        if len(self.entries) == self.n and self.n:
            self.threshold = self.entries[-1][0]

    def result(self) -> list[Item]:
        self.prune()
        return [item for _, item in self.entries]


def exception_status(exc: CompiledException, bundle: Bundle, as_of: datetime) -> ExceptionStatus:
    e = exc.exception
    names = e.policies if e.policies is not None else [p.name for p in bundle.policies]
    lifetime = e.expires - e.approved_at
    due_soon = timedelta(0)
    for name in names:
        try:
            spec = bundle.policy(name).policy.spec
        except KeyError:
            continue
        due_soon = max(due_soon, spec.due_soon)
        limit = spec.exceptions.max_lifetime if spec.exceptions else None
        if limit is not None and lifetime > limit:
            return ExceptionStatus.OVER_LIFETIME
    if as_of < e.approved_at:
        return ExceptionStatus.NOT_YET_VALID
    if as_of >= e.expires:
        return ExceptionStatus.EXPIRED
    if e.expires - as_of <= due_soon:
        return ExceptionStatus.EXPIRING_SOON
    return ExceptionStatus.VALID


class Evaluator:
    """Judges hosts one at a time; feed it a stream, then call ``finish``."""

    def __init__(
        self,
        bundle: Bundle,
        as_of: datetime,
        *,
        keep_items: bool = True,
        keep_worst: int = 20,
    ) -> None:
        self.bundle = bundle
        self.as_of = as_of
        self.keep_items = keep_items
        self.items: list[Item] = []
        self.checks: list[HostCheck] = []
        self.tally = Tally()
        self.worst = _Worst(keep_worst)
        self._agg: dict[tuple[str, Verdict, Bucket, tuple[str, ...]], int] = {}
        self.seen_hosts: set[str] = set()
        self.exc_status = {e.id: exception_status(e, bundle, as_of) for e in bundle.exceptions}
        self.runners = []
        for cp in bundle.policies:
            excs = [
                e for e in bundle.exceptions
                if e.exception.policies is None or cp.name in e.exception.policies
            ]
            self.runners.append(_PolicyRunner(cp, as_of, excs))
            self.tally.by_policy[cp.name] = Counter()

    # ------------------------------------------------------------ recording

    def _count(
        self, policy: str, verdict: Verdict, bucket: Bucket, controls: tuple[str, ...],
        host: str, finding: str,
    ) -> None:
        """Count one item (built or not): one dict increment, expanded in ``finish``."""
        key = (policy, verdict, bucket, controls)
        agg = self._agg
        agg[key] = agg.get(key, 0) + 1
        if bucket is Bucket.FAIL and controls:
            refs_by_control = self.tally.control_failing
            for c in controls:
                refs = refs_by_control.setdefault((policy, c), [])
                if len(refs) < FAILING_REFS_KEPT:
                    refs.append(f"{policy}/{host}/{finding}")

    def _expand_counts(self) -> None:
        """Fold the per-(policy, verdict, bucket, controls) counts into the tally."""
        t = self.tally
        for (policy, verdict, bucket, controls), n in sorted(self._agg.items()):
            t.items += n
            t.by_verdict[verdict] += n
            t.by_bucket[bucket] += n
            t.by_policy[policy][verdict] += n
            for c in controls:
                t.control_counts.setdefault((policy, c), Counter())[verdict] += n
                if bucket is Bucket.FAIL:
                    t.control_failing_total[(policy, c)] += n
        self._agg.clear()

    def _count_pass(self, policy: str, verdict: Verdict, controls: tuple[str, ...]) -> None:
        self._count(policy, verdict, Bucket.PASS, controls, "", "")

    def _record(self, item: Item, controls: tuple[str, ...]) -> None:
        self._count(item.policy, item.verdict, item.bucket, controls, item.host, item.finding)
        if self.keep_items:
            self.items.append(item)
        if item.bucket != Bucket.PASS:
            self.worst.add(item)

    def _record_check(self, check: HostCheck) -> None:
        t = self.tally
        t.checks_by_verdict[check.verdict] += 1
        t.checks_by_bucket[check.bucket] += 1
        for c in check.controls:
            key = (check.policy, c)
            t.control_counts.setdefault(key, Counter())[check.verdict] += 1
            if check.bucket == Bucket.FAIL:
                t.control_failing_total[key] += 1
                refs = t.control_failing.setdefault(key, [])
                if len(refs) < FAILING_REFS_KEPT:
                    refs.append(f"{check.policy}/{check.host}#{check.check}")
        self.checks.append(check)

    # ------------------------------------------------------------ judging

    def add_hosts(self, hosts: Iterable[HostRecord]) -> None:
        for host in hosts:
            self.add_host(host)

    def add_host(self, host: HostRecord) -> None:
        if host.id in self.seen_hosts:
            raise SnapshotError(f"duplicate host id {host.id!r} in the snapshot")
        self.seen_hosts.add(host.id)
        t = self.tally
        t.hosts_read += 1
        t.findings_read += len(host.findings)
        seen: set[str] = set()
        duplicates: set[int] = set()
        for i, f in enumerate(host.findings):
            if f.id in seen:
                duplicates.add(i)
            seen.add(f.id)
        for runner in self.runners:
            cp = runner.cp
            scope_error: str | None = None
            if cp.scope is not None:
                try:
                    if not cp.scope.evaluate_host(host):
                        continue
                except EvalFailure as e:
                    scope_error = f"scope: {e}"
            t.hosts_in_scope[cp.name] += 1
            if scope_error is not None:
                self._record_check(self._check(runner, host, "scope", CheckVerdict.ERROR, scope_error, runner.all_controls))
            else:
                self._hygiene(runner, host)
            hkey = runner.host_key(host)
            for i, f in enumerate(host.findings):
                if scope_error is not None:
                    msg: str | None = scope_error
                elif i in duplicates:
                    msg = f"duplicate finding id {f.id!r} on host {host.id!r}"
                else:
                    msg = None
                if msg is not None:
                    self._record(self._error(runner, host, f, msg), runner.all_controls)
                    continue
                self._judge(runner, host, hkey, f)

    def _check(
        self, runner: _PolicyRunner, host: HostRecord, check: str, verdict: CheckVerdict,
        detail: str, controls: tuple[str, ...],
    ) -> HostCheck:
        bucket, before = self._bucket(runner, verdict)
        return HostCheck(runner.name, host.id, check, verdict, bucket, detail, controls, before)

    def _hygiene(self, runner: _PolicyRunner, host: HostRecord) -> None:
        hyg = runner.cp.policy.spec.hygiene
        if hyg is None:
            return
        controls = tuple(hyg.controls)
        as_of = self.as_of
        if hyg.max_scan_age is not None:
            limit = hyg.max_scan_age
            if host.last_scan is None:
                v, d = CheckVerdict.NEVER_SCANNED, "host has no last_scan"
            else:
                age = as_of - host.last_scan
                if age > limit:
                    v, d = CheckVerdict.SCAN_STALE, (
                        f"last scan {format_timestamp(host.last_scan)} is {_age(age)} old, limit {_age(limit)}"
                    )
                else:
                    v, d = CheckVerdict.OK, f"last scan {format_timestamp(host.last_scan)} ({_age(age)} old, limit {_age(limit)})"
            self._record_check(self._check(runner, host, "scan_freshness", v, d, controls))
        if hyg.max_reboot_pending is not None:
            limit = hyg.max_reboot_pending
            since = host.reboot_pending_since
            if since is None:
                v, d = CheckVerdict.OK, "no reboot pending"
            elif as_of - since > limit:
                v, d = CheckVerdict.REBOOT_OVERDUE, (
                    f"reboot pending since {format_timestamp(since)} ({_age(as_of - since)}), limit {_age(limit)}"
                )
            else:
                v, d = CheckVerdict.OK, f"reboot pending since {format_timestamp(since)}, within {_age(limit)}"
            self._record_check(self._check(runner, host, "reboot", v, d, controls))

    def _base(self, runner: _PolicyRunner, host: HostRecord, f: FindingRecord) -> dict[str, Any]:
        return {
            "policy": runner.name,
            "host": host.id,
            "finding": f.id,
            "vuln": f.vuln,
            "package": f.package.name if f.package is not None else None,
            "severity": f.severity,
            "status": f.status,
            "fixed_at": f.fixed_at,
            "kev": f.kev is not None,
            "owner": host.owner,
            "fixed_version": f.fixed_version,
            "patch": f.patch,
        }

    def _error(
        self, runner: _PolicyRunner, host: HostRecord, f: FindingRecord, message: str,
        controls: tuple[str, ...] | None = None,
    ) -> Item:
        bucket, before = self._bucket(runner, Verdict.ERROR)
        return Item(
            **self._base(runner, host, f), verdict=Verdict.ERROR, bucket=bucket, message=message,
            controls=runner.all_controls if controls is None else controls,
            before_effective=before,
        )

    def _bucket(self, runner: _PolicyRunner, verdict: Verdict | CheckVerdict) -> tuple[Bucket, bool]:
        """The gate bucket of a verdict; before effective_from, a fail is a warn (True)."""
        bucket = BUCKET_OF[verdict]
        if bucket == Bucket.FAIL and not runner.in_effect:
            return Bucket.WARN, True
        return bucket, False

    def _judge(self, runner: _PolicyRunner, host: HostRecord, hkey: Any, f: FindingRecord) -> None:
        if f.status == "not_affected":
            if not self.keep_items:
                self._count_pass(runner.name, Verdict.NOT_AFFECTED, ())
                return
            self._record(
                Item(**self._base(runner, host, f), verdict=Verdict.NOT_AFFECTED,
                     bucket=Bucket.PASS, message=f.status_reason),
                (),
            )
            return
        outcome = runner.rule_outcome(host, hkey, f)
        if isinstance(outcome, _Failure):
            idx = outcome.rule_index
            controls = runner.rule_controls[idx] if idx is not None else ()
            self._record(
                self._error(runner, host, f, outcome.message, controls or runner.all_controls),
                controls or runner.all_controls,
            )
            return
        if not outcome:
            if not self.keep_items:
                self._count_pass(runner.name, Verdict.UNTRACKED, ())
                return
            self._record(
                Item(**self._base(runner, host, f), verdict=Verdict.UNTRACKED, bucket=Bucket.PASS),
                (),
            )
            return
        # Deadlines: every matching rule gives one; the earliest binds.
        rules = runner.cp.rules
        rule_info = runner.rule_info
        raw: list[tuple[int, ClockSource, datetime, datetime, bool]] = []
        best = -1
        best_deadline: datetime | None = None
        for idx in outcome:
            clocks, within, cap = rule_info[idx]
            source = start = None
            for src, getter in clocks:
                start = getter(f)
                if start is not None:
                    source = src
                    break
            if start is None or source is None:
                fields = ", ".join(CLOCK_FIELDS[s] for s, _ in clocks)
                ctl = runner.rule_controls[idx] or runner.all_controls
                msg = f'rule "{rules[idx].rule.id}": no clock start: none of {fields} is set'
                self._record(self._error(runner, host, f, msg, ctl), ctl)
                return
            if start.tzinfo is not UTC:
                start = start.astimezone(UTC)
            deadline = start + within
            capped = False
            if cap:
                kev = f.kev
                if kev is not None and kev.due_date is not None:
                    due = kev_due_instant(kev.due_date)
                    if due < deadline:
                        deadline, capped = due, True
            raw.append((idx, source, start, deadline, capped))
            if best_deadline is None or deadline < best_deadline:
                best, best_deadline = len(raw) - 1, deadline
        deadline = raw[best][3]
        controls = runner.rule_controls[raw[best][0]]
        as_of = self.as_of
        exception_id: str | None = None
        expired: list[str] = []
        message: str | None = None
        if f.status == "fixed":
            if f.fixed_at is None:
                ctl = controls or runner.all_controls
                self._record(self._error(runner, host, f, "status is fixed but fixed_at is not set", ctl), ctl)
                return
            verdict = Verdict.REMEDIATED if f.fixed_at <= deadline else Verdict.REMEDIATED_LATE
        else:
            verdict = (
                Verdict.OVERDUE if deadline < as_of
                else Verdict.DUE_SOON if deadline <= runner.due_soon_limit
                else Verdict.OPEN
            )
            if runner.exceptions:
                exc_result = self._exceptions(runner, host, f)
                if isinstance(exc_result, _Failure):
                    ctl = controls or runner.all_controls
                    self._record(self._error(runner, host, f, exc_result.message, ctl), ctl)
                    return
                exception_id, expired = exc_result
                if exception_id is not None:
                    verdict = Verdict.EXCEPTED
                elif expired:
                    message = "exception " + ", ".join(expired) + " no longer covers this finding"
            if f.status in ("pending_reboot", "failed") and message is None:
                message = {
                    "pending_reboot": "fix installed but awaiting reboot: not remediated",
                    "failed": "fix installation failed: not remediated",
                }[f.status] + (f" ({f.status_reason})" if f.status_reason else "")
        # _bucket, inlined: this runs once per item.
        bucket = BUCKET_OF[verdict]
        before = False
        if bucket is Bucket.FAIL and not runner.in_effect:
            bucket, before = Bucket.WARN, True
        if not self.keep_items and (
            bucket is Bucket.PASS
            or not self.worst.would_keep(
                VERDICT_ORDER[verdict], days_between(as_of, deadline), f.kev is None, f.severity,
                runner.name, host.id, f.id,
            )
        ):
            # Nobody will read this item: count it without building it.
            self._count(runner.name, verdict, bucket, controls, host.id, f.id)
            return
        matches = tuple(
            RuleMatch(rules[i].rule.id, runner.within_text[i], src.value, st, dl, cap)
            for i, src, st, dl, cap in raw
        )
        binding = matches[best]
        self._record(
            Item(
                **self._base(runner, host, f),
                verdict=verdict,
                bucket=bucket,
                binding_rule=binding.rule,
                matches=matches,
                clock_source=binding.clock_source,
                clock_start=binding.clock_start,
                deadline=deadline,
                days_left=days_between(as_of, deadline),
                exception=exception_id,
                expired_exceptions=tuple(expired),
                controls=controls,
                before_effective=before,
                message=message,
            ),
            controls,
        )

    def _exceptions(
        self, runner: _PolicyRunner, host: HostRecord, f: FindingRecord
    ) -> tuple[str | None, list[str]] | _Failure:
        covering: str | None = None
        expired: list[str] = []
        candidates = runner.exception_candidates(f)
        if not candidates:
            return None, expired
        plan = runner.exception_plan
        for i in candidates:
            exc, host_guards, finding_guards = plan[i]
            # Equality guards are necessary conditions: skip the engine when one fails.
            if any(get(f) not in values for get, values in finding_guards) or any(
                get(host) not in values for get, values in host_guards
            ):
                continue
            try:
                hit = exc.match.evaluate(host, f)
            except EvalFailure as e:
                return _Failure(f'exception "{exc.id}": match: {e}')
            if not hit:
                continue
            self.tally.exception_matched.add(exc.id)
            status = self.exc_status[exc.id]
            if covering is None and status in (ExceptionStatus.VALID, ExceptionStatus.EXPIRING_SOON):
                covering = exc.id
                self.tally.exception_hits[exc.id] += 1
            elif status == ExceptionStatus.EXPIRED:
                expired.append(exc.id)
                self.tally.exception_hits[exc.id] += 1
        return covering, expired

    # ------------------------------------------------------------ shards

    def export_partial(self) -> PartialState:
        """This evaluator's state, for another evaluator to ``absorb`` (items not kept)."""
        self.worst.prune()
        return PartialState(
            agg=self._agg,
            tally=self.tally,
            checks=self.checks,
            worst=self.worst.entries,
            seen_hosts=self.seen_hosts,
        )

    def absorb(self, part: PartialState) -> None:
        """Fold in the state of an evaluator that judged LATER hosts of the same snapshot.

        Counts add up; failing references keep file order (this one's first).
        """
        dup = self.seen_hosts & part.seen_hosts
        if dup:
            raise SnapshotError(f"duplicate host id {sorted(dup)[0]!r} in the snapshot")
        self.seen_hosts |= part.seen_hosts
        for agg_key, n in part.agg.items():
            self._agg[agg_key] = self._agg.get(agg_key, 0) + n
        self.checks.extend(part.checks)
        self.worst.entries.extend(part.worst)
        self.worst.prune()
        mine, theirs = self.tally, part.tally
        mine.hosts_read += theirs.hosts_read
        mine.findings_read += theirs.findings_read
        mine.hosts_in_scope.update(theirs.hosts_in_scope)
        mine.checks_by_verdict.update(theirs.checks_by_verdict)
        mine.checks_by_bucket.update(theirs.checks_by_bucket)
        # Before finish, control counts hold host checks only (items are in _agg).
        for key, counts in theirs.control_counts.items():
            mine.control_counts.setdefault(key, Counter()).update(counts)
        mine.control_failing_total.update(theirs.control_failing_total)
        for key, refs in theirs.control_failing.items():
            kept = mine.control_failing.setdefault(key, [])
            kept.extend(refs[: max(0, FAILING_REFS_KEPT - len(kept))])
        mine.exception_hits.update(theirs.exception_hits)
        mine.exception_matched |= theirs.exception_matched

    # ------------------------------------------------------------ finishing

    def finish(self, snapshot_taken_at: datetime) -> Evaluation:
        self._expand_counts()
        self.items.sort(key=lambda i: (i.policy, i.host, i.finding))
        self.checks.sort(key=lambda c: (c.policy, c.host, c.check))
        t = self.tally
        exceptions = []
        for exc in self.bundle.exceptions:
            e = exc.exception
            exceptions.append(
                ExceptionReport(
                    id=e.id,
                    exception_set=exc.exception_set.metadata.name,
                    policies=tuple(e.policies) if e.policies is not None else tuple(p.name for p in self.bundle.policies),
                    status=self.exc_status[e.id],
                    approved_by=e.approved_by,
                    approved_at=e.approved_at,
                    expires=e.expires,
                    ticket=e.ticket,
                    justification=e.justification,
                    compensating_controls=tuple(e.compensating_controls),
                    items_covered=t.exception_hits.get(e.id, 0),
                    orphaned=e.id not in t.exception_matched,
                )
            )
        controls = []
        policies = []
        for runner in self.runners:
            meta = runner.cp.policy.metadata
            policies.append(
                PolicyInfo(
                    meta.name, meta.version, meta.title, runner.cp.where.file,
                    meta.effective_from, runner.in_effect,
                    meta.retention.years if meta.retention else None,
                    meta.retention.basis if meta.retention else None,
                )
            )
            for c in meta.controls:
                key = (meta.name, c.id)
                failing_total = t.control_failing_total.get(key, 0)
                controls.append(
                    ControlReport(
                        policy=meta.name,
                        framework=c.framework,
                        framework_version=c.version,
                        control=c.id,
                        title=c.title,
                        status=ControlStatus.NOT_SATISFIED if failing_total else ControlStatus.SATISFIED,
                        counts=dict(sorted(t.control_counts.get(key, Counter()).items())),
                        failing=tuple(sorted(t.control_failing.get(key, []))),
                        failing_total=failing_total,
                        requirement=c.requirement,
                    )
                )
        return Evaluation(
            bundle=self.bundle,
            as_of=self.as_of,
            snapshot_taken_at=snapshot_taken_at,
            tally=t,
            items=self.items,
            checks=self.checks,
            exceptions=exceptions,
            controls=controls,
            policies=policies,
            worst=self.worst.result(),
        )


def evaluate(
    bundle: Bundle,
    hosts: Iterable[HostRecord],
    *,
    as_of: datetime,
    taken_at: datetime,
    keep_items: bool = True,
    keep_worst: int = 20,
) -> Evaluation:
    """Judge every host and finding against every policy at ``as_of``."""
    ev = Evaluator(bundle, as_of, keep_items=keep_items, keep_worst=keep_worst)
    with no_gc():
        ev.add_hosts(hosts)
        return ev.finish(taken_at)


def _age(td: timedelta) -> str:
    """A human duration: ``19d2h``, ``6h50m``, ``30d``; minutes dropped beyond a day."""
    secs = max(0, int(td.total_seconds()))
    days, rest = divmod(secs, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [(days, "d"), (hours, "h")] + ([] if days else [(minutes, "m")])
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    return text or "0m"
