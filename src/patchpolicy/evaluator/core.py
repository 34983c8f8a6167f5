"""The evaluator: judges hosts one at a time against every policy, counts everything it
judges, and finishes into an :class:`~patchpolicy.model.evaluation.Evaluation`.

Semantics are FORMATS.md section 3. Judging one (policy, host, finding) is four steps:
rule outcome (memoised CEL), deadline (:mod:`patchpolicy.clock`), verdict with exceptions
(:mod:`.exceptions`), and emit (count it, and build the item only when someone reads it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from patchpolicy.clock import Deadline, NoClockStart, days_between, deadline_for
from patchpolicy.errors import DuplicateHostError
from patchpolicy.evaluator.exceptions import exception_reports, exception_status, match_exceptions
from patchpolicy.evaluator.hygiene import host_checks
from patchpolicy.evaluator.runner import Failure, PolicyRunner
from patchpolicy.evaluator.tally import AggKey, PartialState, Worst
from patchpolicy.itemlog import ItemLog, ItemStream
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.evaluation import FAILING_REFS_KEPT, Evaluation, PolicySource, Tally
from patchpolicy.model.fleet import FindingRecord, HostRecord
from patchpolicy.model.results import (
    BUCKET_OF,
    OPEN_VERDICTS,
    VERDICT_ORDER,
    Bucket,
    CheckVerdict,
    ControlReport,
    ControlStatus,
    HostCheck,
    Item,
    PolicyInfo,
    RuleMatch,
    Verdict,
)
from patchpolicy.snapshot import no_gc

if TYPE_CHECKING:
    from patchpolicy.planner.hosts import HostPlanning

__all__ = ["Evaluator", "evaluate"]

_NOT_REMEDIATED = {
    "pending_reboot": "fix installed but awaiting reboot: not remediated",
    "failed": "fix installation failed: not remediated",
}


class Evaluator:
    """Judges hosts one at a time; feed it a stream, then call ``finish``."""

    def __init__(
        self,
        bundle: Bundle,
        as_of: datetime,
        *,
        keep_items: bool = True,
        keep_worst: int = 20,
        item_log: ItemLog | None = None,
        planning: HostPlanning | None = None,
    ) -> None:
        self.bundle = bundle
        self.as_of = as_of
        self.keep_items = keep_items
        self.items = (item_log or ItemLog()) if keep_items else None
        """Every item, in bounded memory (spilled to sorted runs), when items are kept."""
        self.planning = planning
        """The planner's first pass, fed each host's planned items (``planner.hosts``)."""
        self._planned: list[tuple[Item, FindingRecord]] = []
        self.checks: list[HostCheck] = []
        self.tally = Tally()
        self.worst = Worst(keep_worst)
        self._agg: dict[AggKey, int] = {}
        self.seen_hosts: set[str] = set()
        self.runners: list[PolicyRunner] = []
        self.exc_status: list[list[Any]] = []
        """Per runner, the status of each of its exceptions under that policy."""
        for cp in bundle.policies:
            excs = bundle.exceptions_for(cp.name)
            self.runners.append(PolicyRunner(cp, as_of, excs))
            self.exc_status.append([exception_status(e, bundle, as_of, cp.name) for e in excs])
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

    def _record(self, item: Item, controls: tuple[str, ...]) -> None:
        self._count(item.policy, item.verdict, item.bucket, controls, item.host, item.finding)
        if self.items is not None:
            self.items.add(item)
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
            raise DuplicateHostError(host.id)
        self.seen_hosts.add(host.id)
        t = self.tally
        t.hosts_read += 1
        t.findings_read += len(host.findings)
        duplicates = _duplicates(host)
        for ri, runner in enumerate(self.runners):
            scoped = runner.in_scope(host)
            if scoped is False:
                continue
            t.hosts_in_scope[runner.name] += 1
            if isinstance(scoped, Failure):
                self._record_check(self._check(runner, host, "scope", CheckVerdict.ERROR,
                                               scoped.message, runner.all_controls))
                for f in host.findings:
                    self._record(self._error(runner, host, f, scoped.message), runner.all_controls)
                continue
            hyg = runner.cp.policy.spec.hygiene
            if hyg is not None:
                for out in host_checks(hyg, host, self.as_of):
                    self._record_check(self._check(runner, host, out.check, out.verdict, out.detail,
                                                   tuple(hyg.controls), out.observed_at, out.due))
            hkey = runner.host_key(host, None)
            statuses = self.exc_status[ri]
            for i, f in enumerate(host.findings):
                if duplicates is not None and f.id in duplicates:
                    first = duplicates[f.id]
                    if first[0] == i:  # one error item for every record with this id
                        where = ", ".join(f"findings[{j}]" for j in first)
                        msg = f"duplicate finding id {f.id!r} on host {host.id!r}: {where}"
                        self._record(self._error(runner, host, f, msg), runner.all_controls)
                    continue
                self._judge(runner, statuses, host, hkey, f)
        if self._planned:
            assert self.planning is not None
            self.planning.add_host(host, self._planned)
            self._planned = []

    def _check(
        self, runner: PolicyRunner, host: HostRecord, check: str, verdict: CheckVerdict,
        detail: str, controls: tuple[str, ...], observed_at: datetime | None = None,
        due: datetime | None = None,
    ) -> HostCheck:
        bucket, before = self._bucket(runner, verdict)
        return HostCheck(runner.name, host.id, check, verdict, bucket, detail, controls, before,
                         observed_at, due)

    def _base(self, runner: PolicyRunner, host: HostRecord, f: FindingRecord) -> dict[str, Any]:
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
        self, runner: PolicyRunner, host: HostRecord, f: FindingRecord, message: str,
        controls: tuple[str, ...] | None = None,
    ) -> Item:
        bucket, before = self._bucket(runner, Verdict.ERROR)
        return Item(
            **self._base(runner, host, f), verdict=Verdict.ERROR, bucket=bucket, message=message,
            controls=runner.all_controls if controls is None else controls,
            before_effective=before,
        )

    def _fail(self, runner: PolicyRunner, host: HostRecord, f: FindingRecord, message: str,
              controls: tuple[str, ...]) -> None:
        """Record an error item; it counts against the rule's controls, else all the policy's."""
        ctl = controls or runner.all_controls
        self._record(self._error(runner, host, f, message, ctl), ctl)

    def _bucket(self, runner: PolicyRunner, verdict: Verdict | CheckVerdict) -> tuple[Bucket, bool]:
        """The gate bucket of a verdict; before effective_from, a fail is a warn (True)."""
        bucket = BUCKET_OF[verdict]
        if bucket == Bucket.FAIL and not runner.in_effect:
            return Bucket.WARN, True
        return bucket, False

    def _judge(
        self, runner: PolicyRunner, statuses: list[Any], host: HostRecord, hkey: Any,
        f: FindingRecord,
    ) -> None:
        if f.status == "not_affected":
            self._pass(runner, host, f, Verdict.NOT_AFFECTED, f.status_reason)
            return
        outcome = runner.rule_outcome(hkey, host, f)
        if isinstance(outcome, Failure):
            idx = outcome.rule_index
            self._fail(runner, host, f, outcome.message, runner.rule_controls[idx] if idx is not None else ())
            return
        if not outcome:
            self._pass(runner, host, f, Verdict.UNTRACKED, None)
            return
        # Deadlines: every matching rule gives one; the earliest binds. One rule is the
        # common case: no list to search.
        if len(outcome) == 1:
            idx = outcome[0]
            try:
                deadlines: list[tuple[int, Deadline]] = [(idx, deadline_for(runner.clocks[idx], f))]
            except NoClockStart as e:
                self._fail(runner, host, f, f'rule "{runner.cp.rules[idx].rule.id}": {e}', runner.rule_controls[idx])
                return
            best = 0
        else:
            found = self._deadlines(runner, host, f, outcome)
            if found is None:
                return
            deadlines = found
            best = 0
            for k in range(1, len(deadlines)):
                if deadlines[k][1][2] < deadlines[best][1][2]:
                    best = k
        deadline = deadlines[best][1][2]
        controls = runner.rule_controls[deadlines[best][0]]
        judged = self._verdict(runner, statuses, host, f, deadline, controls)
        if judged is None:
            return
        verdict, exception_id, expired, message = judged
        self._emit(runner, host, f, verdict, deadlines, best, controls, exception_id, expired, message)

    def _pass(self, runner: PolicyRunner, host: HostRecord, f: FindingRecord, verdict: Verdict,
              message: str | None) -> None:
        if not self.keep_items:
            self._count(runner.name, verdict, Bucket.PASS, (), "", "")
            return
        self._record(Item(**self._base(runner, host, f), verdict=verdict, bucket=Bucket.PASS,
                          message=message), ())

    def _deadlines(
        self, runner: PolicyRunner, host: HostRecord, f: FindingRecord, outcome: tuple[int, ...]
    ) -> list[tuple[int, Deadline]] | None:
        """Every matching rule's deadline (the earliest binds), or None after an error."""
        out: list[tuple[int, Deadline]] = []
        for idx in outcome:
            try:
                out.append((idx, deadline_for(runner.clocks[idx], f)))
            except NoClockStart as e:
                rule = runner.cp.rules[idx].rule.id
                self._fail(runner, host, f, f'rule "{rule}": {e}', runner.rule_controls[idx])
                return None
        return out

    def _verdict(
        self, runner: PolicyRunner, statuses: list[Any], host: HostRecord, f: FindingRecord,
        deadline: datetime, controls: tuple[str, ...],
    ) -> tuple[Verdict, str | None, list[str], str | None] | None:
        """(verdict, covering exception, expired exceptions, message), None after an error."""
        if f.status == "fixed":
            if f.fixed_at is None:
                self._fail(runner, host, f, "status is fixed but fixed_at is not set", controls)
                return None
            verdict = Verdict.REMEDIATED if f.fixed_at <= deadline else Verdict.REMEDIATED_LATE
            return verdict, None, [], None
        verdict = (
            Verdict.OVERDUE if deadline < self.as_of
            else Verdict.DUE_SOON if deadline <= runner.due_soon_limit
            else Verdict.OPEN
        )
        exception_id: str | None = None
        expired: list[str] = []
        message: str | None = None
        if runner.exceptions:
            exc_result = match_exceptions(runner, statuses, self.tally, host, f)
            if isinstance(exc_result, Failure):
                self._fail(runner, host, f, exc_result.message, controls)
                return None
            exception_id, expired = exc_result
            if exception_id is not None:
                verdict = Verdict.EXCEPTED
            elif expired:
                message = "exception " + ", ".join(expired) + " no longer covers this finding"
        if f.status in _NOT_REMEDIATED and message is None:
            message = _NOT_REMEDIATED[f.status] + (f" ({f.status_reason})" if f.status_reason else "")
        return verdict, exception_id, expired, message

    def _emit(
        self, runner: PolicyRunner, host: HostRecord, f: FindingRecord, verdict: Verdict,
        deadlines: list[tuple[int, Deadline]], best: int, controls: tuple[str, ...],
        exception_id: str | None, expired: list[str], message: str | None,
    ) -> None:
        """Count the item; build it only when it is kept or may be among the worst."""
        deadline = deadlines[best][1][2]
        bucket = BUCKET_OF[verdict]
        before = False
        if bucket is Bucket.FAIL and not runner.in_effect:
            bucket, before = Bucket.WARN, True
        # The planner plans open verdicts (planner.hosts.PLANNED_VERDICTS); this item has a deadline.
        planned = self.planning is not None and verdict in OPEN_VERDICTS
        if not self.keep_items and not planned and (
            bucket is Bucket.PASS
            or not self.worst.would_keep(
                VERDICT_ORDER[verdict], days_between(self.as_of, deadline), f.kev is None,
                f.severity, runner.name, host.id, f.id,
            )
        ):
            # Nobody will read this item: count it without building it.
            self._count(runner.name, verdict, bucket, controls, host.id, f.id)
            return
        rules = runner.cp.rules
        matches = tuple(
            RuleMatch(rules[i].rule.id, runner.within_text[i], src.value, start, dl, capped)
            for i, (src, start, dl, capped) in deadlines
        )
        binding = matches[best]
        item = Item(
                **self._base(runner, host, f),
                verdict=verdict,
                bucket=bucket,
                binding_rule=binding.rule,
                matches=matches,
                clock_source=binding.clock_source,
                clock_start=binding.clock_start,
                deadline=deadline,
                days_left=days_between(self.as_of, deadline),
                exception=exception_id,
                expired_exceptions=tuple(expired),
                controls=controls,
                before_effective=before,
                message=message,
        )
        self._record(item, controls)
        if planned:
            self._planned.append((item, f))

    # ------------------------------------------------------------ shards

    def export_partial(self) -> PartialState:
        """This evaluator's state, for another evaluator to ``absorb`` (items not kept)."""
        self.worst.prune()
        runs, count = self.items.export_runs() if self.items is not None else ([], 0)
        plan_runs, plan_count, plan_problems = (
            self.planning.export() if self.planning is not None else ([], 0, set())
        )
        return PartialState(
            plan_runs=plan_runs,
            plan_count=plan_count,
            plan_problems=plan_problems,
            item_runs=runs,
            item_count=count,
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
            raise DuplicateHostError(sorted(dup)[0])
        self.seen_hosts |= part.seen_hosts
        for agg_key, n in part.agg.items():
            self._agg[agg_key] = self._agg.get(agg_key, 0) + n
        self.checks.extend(part.checks)
        if self.items is not None:
            self.items.absorb_runs(part.item_runs, part.item_count)
        elif part.item_runs:
            raise ValueError("a partial with items absorbed by an evaluator that keeps none")
        if self.planning is not None:
            self.planning.absorb(part.plan_runs, part.plan_count, part.plan_problems)
        elif part.plan_runs:
            raise ValueError("a partial with planning runs absorbed by an evaluator that plans nothing")
        self.worst.extend(part.worst)
        self.tally.merge(part.tally)

    # ------------------------------------------------------------ finishing

    def finish(self, snapshot_taken_at: datetime) -> Evaluation:
        self._expand_counts()
        items = self.items.finish() if self.items is not None else ItemStream()
        self.checks.sort(key=lambda c: (c.policy, c.host, c.check))
        return Evaluation(
            bundle=self.bundle,
            as_of=self.as_of,
            snapshot_taken_at=snapshot_taken_at,
            tally=self.tally,
            items=items,
            checks=self.checks,
            exceptions=exception_reports(self.bundle, self.as_of, self.tally),
            controls=self._controls(),
            policies=self._policies(),
            worst=self.worst.result(),
            sources=PolicySource.of(self.bundle),
            remediation=self.planning.finish() if self.planning is not None else None,
        )

    def _policies(self) -> list[PolicyInfo]:
        out = []
        for runner in self.runners:
            meta = runner.cp.policy.metadata
            out.append(
                PolicyInfo(
                    meta.name, meta.version, meta.title, runner.cp.where.file,
                    meta.effective_from, runner.in_effect,
                    meta.retention.years if meta.retention else None,
                    meta.retention.basis if meta.retention else None,
                    meta.owner,
                )
            )
        return out

    def _controls(self) -> list[ControlReport]:
        t = self.tally
        controls = []
        for runner in self.runners:
            meta = runner.cp.policy.metadata
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
                        status=(
                            ControlStatus.NOT_SATISFIED if failing_total
                            else ControlStatus.NOT_ASSESSED if not t.hosts_in_scope.get(meta.name)
                            else ControlStatus.SATISFIED
                        ),
                        counts=dict(sorted(t.control_counts.get(key, Counter()).items())),
                        failing=tuple(sorted(t.control_failing.get(key, []))),
                        failing_total=failing_total,
                        requirement=c.requirement,
                    )
                )
        return controls


def _duplicates(host: HostRecord) -> dict[str, list[int]] | None:
    """Finding ids that occur more than once on ``host``, with every index; None if none."""
    findings = host.findings
    if len({f.id for f in findings}) == len(findings):
        return None
    where: dict[str, list[int]] = {}
    for i, f in enumerate(findings):
        where.setdefault(f.id, []).append(i)
    return {fid: ix for fid, ix in where.items() if len(ix) > 1}


def evaluate(
    bundle: Bundle,
    hosts: Iterable[HostRecord],
    *,
    as_of: datetime,
    taken_at: datetime,
    keep_items: bool = True,
    keep_worst: int = 20,
    planning: HostPlanning | None = None,
) -> Evaluation:
    """Judge every host and finding against every policy at ``as_of``; ``planning``, when
    given, is fed every host's planned items (``Evaluation.remediation``)."""
    ev = Evaluator(bundle, as_of, keep_items=keep_items, keep_worst=keep_worst, planning=planning)
    with no_gc():
        ev.add_hosts(hosts)
        return ev.finish(taken_at)
