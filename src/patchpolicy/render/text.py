"""Terminal text: the one-screen `check` summary and `explain`'s reasons in plain words."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from patchpolicy.model.common import format_timestamp
from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.gate import GateResult
from patchpolicy.model.results import BUCKET_OF, Bucket, ControlStatus, HostCheck, Item, Verdict
from patchpolicy.render._common import count
from patchpolicy.render.sanitize import text as t_

BUCKETS = (Bucket.FAIL, Bucket.WARN, Bucket.WAIVED, Bucket.PASS)


def _ts(dt: datetime | None) -> str:
    return format_timestamp(dt) if dt is not None else "-"


def _day(dt: datetime | None) -> str:
    return format_timestamp(dt)[:10] if dt is not None else "-"


def _when(item: Item) -> str:
    if item.days_left is None:
        return ""
    if item.verdict in (Verdict.REMEDIATED, Verdict.REMEDIATED_LATE) and item.fixed_at and item.deadline:
        late = (item.fixed_at - item.deadline).days
        return f"fixed {_day(item.fixed_at)}" + (f", {late}d late" if item.verdict == Verdict.REMEDIATED_LATE else "")
    if item.days_left < 0:
        return f"{-item.days_left}d overdue"
    return f"{item.days_left}d left"


def item_line(item: Item) -> str:
    tags = [item.severity]
    if item.kev:
        tags.append("KEV")
    parts = [
        f"{item.verdict.upper():<15}",
        t_(item.policy),
        t_(item.host),
        t_(item.finding),
        f"({t_(', '.join(tags))})",
    ]
    if item.deadline is not None:
        parts.append(f"deadline {_day(item.deadline)} [{_when(item)}]")
    if item.binding_rule:
        parts.append(f"rule {t_(item.binding_rule)}")
    if item.exception:
        parts.append(f"exception {t_(item.exception)}")
    if item.before_effective:
        parts.append("(policy not yet in effect)")
    text = "  ".join(parts)
    if item.verdict == Verdict.ERROR and item.message:
        text += f"\n{'':17}{t_(item.message)}"
    return text


def check_summary(ev: Evaluation, gate: GateResult, limit: int = 10) -> str:
    failing = gate.failing
    t = ev.tally
    lines = [
        f"patchpolicy check at {_ts(ev.as_of)}: {count(t.hosts_read, 'host')}, "
        f"{count(t.findings_read, 'finding')}, {count(len(ev.policies), 'policy', 'policies')}, "
        f"{count(t.items, 'item')} judged",
    ]
    for b in BUCKETS:
        n = t.by_bucket.get(b, 0)
        verdicts = sorted(
            (v, c) for v, c in t.by_verdict.items() if c and BUCKET_OF[v] == b
        )
        detail = ", ".join(f"{v} {c}" for v, c in verdicts)
        checks = t.checks_by_bucket.get(b, 0)
        line = f"  {b.value:<7}{n:>8} items"
        if detail:
            line += f"  ({detail})"
        if checks:
            cv = ", ".join(
                f"{v} {c}" for v, c in sorted(t.checks_by_verdict.items())
                if c and BUCKET_OF[v] == b
            )
            line += f"; host checks {checks} ({cv})"
        lines.append(line)
    if ev.controls:
        lines.append("controls:")
        for c in ev.controls:
            state = (
                "NOT ASSESSED: no host in scope" if c.status == ControlStatus.NOT_ASSESSED
                else "satisfied" if c.failing_total == 0 else f"NOT satisfied, {c.failing_total} failing"
            )
            lines.append(f"  {t_(c.framework)} {t_(c.framework_version)} {t_(c.control)} [{t_(c.policy)}]: {state}")
    expired = [e for e in ev.exceptions
               if e.status in ("expired", "expiring_soon", "error", "over_lifetime")
               or e.orphaned or e.over_lifetime_for]
    if expired:
        lines.append("exceptions:")
        for e in expired:
            notes = [e.status.value] + (["orphaned: matches no open finding"] if e.orphaned else [])
            if e.over_lifetime_for and e.status != "over_lifetime":
                notes.append("over max_lifetime of " + t_(", ".join(e.over_lifetime_for)) + ": covers nothing there")
            if e.error:
                notes.append(t_(e.error))
            lines.append(f"  {t_(e.id)} (expires {_day(e.expires)}): {', '.join(notes)}")
    failing_checks = [c for c in ev.checks if c.bucket == Bucket.FAIL][:limit]
    if failing_checks:
        lines.append("failing host checks:")
        lines.extend(f"  {check_line(c)}" for c in failing_checks)
    worst = ev.worst[:limit]
    if worst:
        lines.append(f"worst items (of {t.by_bucket.get(Bucket.FAIL, 0) + t.by_bucket.get(Bucket.WARN, 0) + t.by_bucket.get(Bucket.WAIVED, 0)} not passing):")
        lines.extend(f"  {item_line(i)}" for i in worst)
    lines.extend(empty_scope_lines(ev, gate))
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(gate.reasons.items()) if k != "fail")
    lines.append(f"result: {gate.word} ({failing} failing{'; ' + reasons if reasons else ''})")
    return "\n".join(lines) + "\n"


def empty_scope_lines(ev: Evaluation, gate: GateResult) -> list[str]:
    """The loud warning for policies that judged nothing: never a silent pass."""
    out = []
    for name in gate.empty_scope:
        tail = "allowed by --allow-empty-scope" if gate.allow_empty_scope else "this fails the gate (--allow-empty-scope to accept)"
        out.append(f"WARNING: policy {t_(name)} judged nothing: its scope matched none of the "
                   f"{ev.tally.hosts_read} hosts; its controls are not assessed; {tail}")
    return out


def check_line(c: HostCheck) -> str:
    note = " (policy not yet in effect)" if c.before_effective else ""
    return f"{c.verdict.upper():<15}{t_(c.policy)}  {t_(c.host)}  {t_(c.check)}: {t_(c.detail)}{note}"


def explain(ev: Evaluation, host: str, finding: str | None = None) -> str:
    """Why each verdict for ``host`` (and optionally one finding) is what it is."""
    lines: list[str] = [f"as of {_ts(ev.as_of)}"]
    for p in ev.policies:
        items = [i for i in ev.items if i.policy == p.name and i.host == host]
        checks = [c for c in ev.checks if c.policy == p.name and c.host == host]
        if finding is not None:
            items = [i for i in items if i.finding == finding or i.vuln == finding]
        lines.append(f"\npolicy {t_(p.name)} {t_(p.version)} ({t_(p.file)})")
        if not p.in_effect:
            lines.append(f"  not in effect until {_ts(p.effective_from)}: failures are reported as warnings")
        if not items and not checks:
            scope = ev.source(p.name).document.spec.scope
            lines.append(
                f"  host {t_(host)} is not in scope ({t_(scope)})" if scope
                else f"  host {t_(host)} has no findings here"
            )
            continue
        scope = ev.source(p.name).document.spec.scope
        lines.append(f"  host {t_(host)} is in scope" + (f" ({t_(scope)})" if scope else " (the policy covers every host)"))
        lines.extend(f"  {t_(c.check)}: {c.verdict.value} - {t_(c.detail)}" for c in checks)
        for i in items:
            lines.extend(explain_item(ev, i))
    return "\n".join(lines) + "\n"


def explain_item(ev: Evaluation, i: Item) -> Iterable[str]:
    tags = [i.severity] + (["KEV"] if i.kev else [])
    yield f"  {t_(i.finding)} ({t_(', '.join(tags))}, status {t_(i.status)}): {i.verdict.upper()} [{i.bucket.value}]"
    if i.verdict == Verdict.NOT_AFFECTED:
        yield "    the scanner or a VEX statement says the host is not affected" + (
            f": {t_(i.message)}" if i.message else ""
        )
        return
    if i.verdict == Verdict.UNTRACKED:
        yield "    no rule of the policy matches this finding, so it has no deadline (counted for coverage)"
        return
    if i.verdict == Verdict.ERROR:
        yield f"    it cannot be judged: {t_(i.message)}"
        yield "    an expression or clock that cannot be evaluated fails closed: this counts as failing"
        return
    for m in i.matches:
        cap = " (capped by the KEV due date)" if m.capped_by_kev else ""
        yield (
            f"    rule {t_(m.rule)} matches: {t_(m.within)} from {t_(m.clock_source)} {_ts(m.clock_start)}"
            f" -> deadline {_ts(m.deadline)}{cap}"
        )
    if len(i.matches) > 1:
        yield f"    the earliest deadline binds: rule {t_(i.binding_rule)}, {_ts(i.deadline)}"
    if i.verdict == Verdict.REMEDIATED:
        yield f"    fixed at {_ts(i.fixed_at)}, on or before the deadline"
    elif i.verdict == Verdict.REMEDIATED_LATE:
        yield f"    fixed at {_ts(i.fixed_at)}, after the deadline: a past breach kept as evidence"
    elif i.verdict == Verdict.EXCEPTED:
        yield f"    exception {t_(i.exception)} is valid at as-of and covers it (waived, not failing)"
    else:
        if i.status in ("pending_reboot", "failed"):
            yield f"    status {t_(i.status)} counts as not remediated"
        if i.verdict == Verdict.OVERDUE:
            yield f"    not remediated and the deadline passed: {-(i.days_left or 0)} day(s) overdue"
        elif i.verdict == Verdict.DUE_SOON:
            yield f"    not remediated; the deadline is within the due_soon horizon: {i.days_left} day(s) left"
        else:
            yield f"    not remediated; {i.days_left} day(s) left before the deadline"
    for e in i.expired_exceptions:
        yield f"    exception {t_(e)} matches but has expired: the original deadline applies"
    if i.message:
        yield f"    note: {t_(i.message)}"
    if i.before_effective:
        yield "    the policy is not yet in effect: reported as a warning, not a failure"
