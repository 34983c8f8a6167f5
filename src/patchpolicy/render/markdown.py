"""Markdown: ``report.md`` for auditors and the compact ``check --format markdown`` summary.

Every piece of user text (hosts, findings, justifications, titles) is escaped, so a
snapshot cannot inject links, HTML or table cells into the report. GitHub-flavoured
tables; no raw HTML except ``<details>`` in the PR summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import Item
from patchpolicy.render import sanitize
from patchpolicy.render._common import (
    BUCKET_ORDER,
    control_label,
    control_state,
    count,
    day,
    days_text,
    failing_checks,
    failing_checks_too,
    ran_by,
    result_word,
    ts,
    verdict_rows,
)
from patchpolicy.render.grouping import ReportRows, ReportView, TopN, report_view
from patchpolicy.render.interface import RenderContext, Renderer, RenderOptions
from patchpolicy.render.views import View


def _retention(ev: Evaluation) -> list[str]:
    """A paragraph per policy that states how long its evidence must be kept."""
    lines = [
        f"Evidence retention for {esc(p.name)}: keep this bundle at least "
        f"{p.retention_years} years ({esc(p.retention_basis or '')})."
        for p in ev.policies
        if p.retention_years
    ]
    return [*lines, ""] if lines else []


def esc(text: object) -> str:
    """Markdown-escape one inline value: line breaks to spaces, controls visible, specials backslashed."""
    return sanitize.markdown(text)


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """A GitHub table; cells are escaped here (pass raw values)."""
    out = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    out.extend("| " + " | ".join(esc(c) for c in row) + " |" for row in rows)
    return out


def _intro_scope_policies(ctx: RenderContext) -> list[str]:
    """The title and result line, the input files with their hashes, and the policies."""
    ev, inputs = ctx.evaluation, ctx.inputs
    t = ev.tally
    failing = ctx.result.failing
    snap = inputs.snapshot
    return [
        "# Patch compliance evidence report",
        "",
        f"Result: **{result_word(failing)}** ({failing} failing) as of {esc(ts(ev.as_of))}, "
        f"evaluated by patchpolicy {esc(inputs.tool_version)}{esc(ran_by(ctx))}.",
        "",
        "## Scope and inputs",
        "",
        f"Snapshot taken at {esc(ts(snap.taken_at))} by {esc(snap.source_tool or 'unknown tool')}"
        f" {esc(snap.source_version or '')}: {t.hosts_read} hosts, {t.findings_read} findings read; "
        f"{t.items} items judged.",
        "",
        *table(
            ["input", "path", "sha256", "bytes"],
            [("snapshot", snap.path, snap.sha256, snap.size)]
            + [("snapshot shard", f.path, f.sha256, f.size) for f in snap.shards]
            + [("policy file", f.path, f.sha256, f.size) for f in inputs.policies],
        ),
        "",
        "## Policies",
        "",
        *table(
            ["policy", "version", "title", "file", "effective from", "hosts in scope"],
            [
                (p.name, p.version, p.title or "-", p.file,
                 (day(p.effective_from) + ("" if p.in_effect else " (not yet)"))
                 if p.effective_from else "always",
                 t.hosts_in_scope.get(p.name, 0))
                for p in ev.policies
            ],
        ),
        "",
        *_retention(ev),
    ]


def _controls(ev: Evaluation) -> list[str]:
    """The control status section: one line per control, then the same as a table."""
    lines = ["## Control status", ""]
    if ev.controls:
        lines += [f"- {esc(control_label(c))}: {control_state(c)} (policy {esc(c.policy)})"
                  for c in ev.controls]
        lines += ["", *table(
            ["framework", "version", "control", "title", "policy", "status", "failing"],
            [(c.framework, c.framework_version, c.control, c.title or "-", c.policy,
              c.status.value, c.failing_total) for c in ev.controls],
        )]
    else:
        lines.append("No policy names a control.")
    return lines


def _verdicts_and_items(ev: Evaluation, view: ReportView) -> list[str]:
    """The verdict counts, the failing and warning items, and the failing items per control."""
    t = ev.tally
    names = [p.name for p in ev.policies]
    lines = [
        "",
        "## Verdicts",
        "",
        *table(["verdict", "bucket", "total", *names],
               [(v, b, n, *per.values()) for v, b, n, per in verdict_rows(ev)]),
        "",
        "Host checks: " + esc(", ".join(f"{v} {n}" for v, n in sorted(t.checks_by_verdict.items())
                                        if n) or "none") + ".",
        "",
        "## Overdue and failing items, worst first",
        "",
    ]
    lines += _items_table(view.failing.values()) or ["None."]
    lines += _left_out(view.failing, "failing items")
    lines += ["", "## Warnings (due soon, fixed late, before a policy takes effect)", ""]
    lines += _items_table(view.warnings.values()) or ["None."]
    lines += _left_out(view.warnings, "warnings")
    drill = [(c, top) for c in ev.controls
             if (top := view.by_control.get((c.policy, c.control))) is not None and top.total]
    if drill:
        lines += ["", "## Failing items per control", ""]
        for c, top in drill:
            lines += [f"### {esc(control_label(c))} (policy {esc(c.policy)}): "
                      f"{count(top.total, 'failing item')}{failing_checks_too(c, top.total)}",
                      "", *_items_table(top.values()), *_left_out(top, "failing items of this control"), ""]
        lines.pop()
    return lines


def _ageing_and_exceptions(ev: Evaluation, view: ReportView) -> list[str]:
    """The ageing table of open findings and the exceptions table."""
    lines = [
        "",
        "## Ageing of open findings",
        "",
        "Open findings (not remediated, not waived) by days to or past their deadline.",
        "",
        *table(["days to deadline", "findings"], [(b.label, b.count) for b in view.ageing]),
        "",
        "## Exceptions",
        "",
    ]
    if ev.exceptions:
        lines += table(
            ["id", "status", "expires", "policies", "approved by", "approved", "ticket", "items",
             "justification", "compensating controls"],
            [(e.id, e.status.value + (", orphaned" if e.orphaned else ""), ts(e.expires),
              ", ".join(e.policies), e.approved_by, day(e.approved_at), e.ticket or "-",
              e.items_covered, e.justification, "; ".join(e.compensating_controls) or "-")
             for e in ev.exceptions],
        )
    else:
        lines.append("None.")
    return lines


def _hygiene_and_verify(ev: Evaluation, rows: int) -> list[str]:
    """The host checks that are not ok (capped at ``rows``) and how to verify the bundle."""
    checks = failing_checks(ev)
    ok = len(ev.checks) - len(checks)
    lines = ["", "## Host hygiene", "", f"{ok} host checks ok, {len(checks)} not ok.", ""]
    if checks:
        lines += table(["policy", "host", "check", "verdict", "bucket", "detail"],
                       [(c.policy, c.host, c.check, c.verdict.value, c.bucket.value, c.detail)
                        for c in checks[:rows]])
        if len(checks) > rows:
            lines += ["", f"{len(checks) - rows} more host checks not ok are not shown: every host "
                          "check is in `evidence.json`."]
    lines += [
        "",
        "## Verify this evidence",
        "",
        "`patchpolicy verify DIR` re-hashes every file against `SHA256SUMS`; with `-p` and "
        "`-s` naming the inputs above it re-evaluates them and compares every byte.",
    ]
    return lines


def report_markdown(ctx: RenderContext) -> str:
    """The full auditor report (``report.md``); sections match ``report.html``."""
    ev = ctx.evaluation
    rows = ctx.options.report_rows
    view = report_view(ev, rows)
    lines = [
        *_intro_scope_policies(ctx),
        *_controls(ev),
        *_verdicts_and_items(ev, view),
        *_ageing_and_exceptions(ev, view),
        *_hygiene_and_verify(ev, rows),
    ]
    return "\n".join(lines) + "\n"


def _left_out(top: TopN[Item], what: str) -> list[str]:
    """The line under a capped table: how many rows it leaves out and where they are."""
    if not top.left_out:
        return []
    return ["", f"Showing the {min(top.total, top.n)} worst of {top.total} {what}; the other "
                f"{top.left_out} are in `items.jsonl` (every item, one per line) and, while open, "
                "in `tasks.csv`."]


def _items_table(items: Sequence[Item]) -> list[str]:
    rows = [
        (i.verdict.value, days_text(i), day(i.deadline), i.policy, i.host, i.finding,
         i.severity + (", KEV" if i.kev else ""), i.binding_rule or "-", i.owner or "-",
         i.message or (f"exception {i.exception}" if i.exception else "-"))
        for i in items
    ]
    if not rows:
        return []
    return table(["verdict", "days", "deadline", "policy", "host", "finding", "severity", "rule",
                  "owner", "note"], rows)


def summary_markdown(ctx: RenderContext, *, limit: int = 10) -> str:
    """A compact summary for a pull-request comment: gate result, counts, controls that
    are not satisfied, and the ``limit`` worst items in a collapsed table."""
    ev = ctx.evaluation
    t = ev.tally
    failing = ctx.result.failing
    lines = [
        f"### patchpolicy check: {result_word(failing)} ({failing} failing)",
        "",
        f"As of {esc(ts(ev.as_of))}: {count(t.hosts_read, 'host')}, "
        f"{count(t.findings_read, 'finding')}, {count(len(ev.policies), 'policy', 'policies')} ("
        + ", ".join(f"{esc(p.name)} {esc(p.version)}" for p in ev.policies) + f"), {t.items} items.",
        "",
        *table(
            [b.value for b in BUCKET_ORDER],
            [[str(t.by_bucket.get(b, 0))
              + (f" (+{t.checks_by_bucket[b]} host checks)" if t.checks_by_bucket.get(b) else "")
              for b in BUCKET_ORDER]],
        ),
    ]
    bad = [c for c in ev.controls if c.failing_total]
    if bad:
        lines += ["", "**Controls not satisfied:** " + "; ".join(
            f"{esc(control_label(c))} ({c.failing_total} failing)" for c in bad)]
    worst = ev.worst[:limit]
    if worst:
        lines += ["", f"<details><summary>{len(worst)} worst items</summary>", ""]
        lines += table(
            ["verdict", "days", "policy", "host", "finding", "severity"],
            [(i.verdict.value, days_text(i), i.policy, i.host, i.finding,
              i.severity + (", KEV" if i.kev else "")) for i in worst],
        )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


class MarkdownReport(Renderer):
    """``report.md``: the auditor report in Markdown."""

    filename = "report.md"

    def views(self, options: RenderOptions) -> list[View[Any]]:
        return [ReportRows(options.report_rows)]

    def render(self, ctx: RenderContext) -> bytes:
        return report_markdown(ctx).encode()


class MarkdownSummary(Renderer):
    """``check --format markdown``: a one-screen summary for pull-request comments."""

    filename = "summary.md"

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit

    def render(self, ctx: RenderContext) -> bytes:
        return summary_markdown(ctx, limit=self.limit).encode()
