"""``report.html``: the auditor report as one self-contained page.

Contract: a few MB at any fleet size (every item table shows the ``report_rows`` worst and
counts the rest, which are in ``items.jsonl``); no script, no external resource of any kind (inline CSS, inline SVG charts; a
Content-Security-Policy of ``default-src 'none'`` makes any fetch a browser error), and
every piece of user text passes through ``html.escape``. Sections match ``report.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import ControlStatus, Item
from patchpolicy.render import sanitize
from patchpolicy.render._common import (
    BUCKET_ORDER,
    AgeBin,
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

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root { --fail:#b3261e; --warn:#b86e00; --waived:#5b5fc7; --pass:#2e7d32; --ink:#1d1d1f;
        --muted:#5f6368; --line:#dadce0; --bg:#f8f9fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1180px; padding: 24px 32px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
p.lead { color: var(--muted); margin: 0 0 16px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600;
         font-size: 12px; color: #fff; white-space: nowrap; }
.fail { background: var(--fail); } .warn { background: var(--warn); }
.waived { background: var(--waived); } .pass { background: var(--pass); }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 130px;
        background: var(--bg); }
.card .n { font-size: 24px; font-weight: 700; }
.card .l { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
              overflow-wrap: anywhere; }
table.items td:nth-child(-n+3) { white-space: nowrap; }
ul.controls { list-style: none; padding: 0; }
ul.controls li { margin: 4px 0; }
figure { margin: 8px 0; }
figcaption { color: var(--muted); font-size: 12px; }
.empty { color: var(--muted); font-style: italic; }
.more { color: var(--muted); font-size: 12px; }
details { margin: 4px 0 10px 24px; } summary { cursor: pointer; color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
@media print { body { padding: 0; } h2 { break-after: avoid; } }
"""


def e(value: object) -> str:
    """Escape one value for HTML text or a quoted attribute (``None`` -> ``-``; controls visible)."""
    return sanitize.html(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]],
           numeric: Iterable[int] = (), raw: Iterable[int] = (), css: str = "") -> str:
    """A table; cells are escaped unless their column index is in ``raw`` (trusted HTML)."""
    num, trusted = set(numeric), set(raw)
    head = "".join(f'<th{" class=num" if i in num else ""}>{e(h)}</th>' for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = "".join(
            f'<td{" class=num" if i in num else ""}>{c if i in trusted else e(c)}</td>'
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    if not body:
        return '<p class="empty">None.</p>'
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _badge(bucket: str, text: str | None = None) -> str:
    return f'<span class="badge {e(bucket)}">{e(text or bucket)}</span>'


def ageing_svg(bins: Sequence[AgeBin]) -> str:
    """A horizontal bar chart (inline SVG) of open findings by days to/past deadline."""
    label_w, bar_w, row_h, top = 170, 420, 30, 10
    width = label_w + bar_w + 60
    height = top * 2 + row_h * len(bins)
    peak = max((b.count for b in bins), default=0) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="ageing-title">',
        '<title id="ageing-title">Open findings by days to or past their deadline</title>',
        f'<line x1="{label_w}" y1="{top - 4}" x2="{label_w}" y2="{height - top + 4}" '
        'stroke="#9aa0a6" stroke-width="1"/>',
    ]
    for n, b in enumerate(bins):
        y = top + n * row_h
        w = round(bar_w * b.count / peak) if b.count else 0
        colour = "#b3261e" if b.overdue else ("#b86e00" if b.lo == 0 else "#2e7d32")
        parts.append(
            f'<text x="{label_w - 8}" y="{y + row_h / 2 + 4:.0f}" text-anchor="end" '
            f'font-size="12" fill="#1d1d1f" font-family="system-ui, sans-serif">{e(b.label)}</text>'
        )
        if w:
            parts.append(
                f'<rect x="{label_w}" y="{y + 5}" width="{w}" height="{row_h - 10}" rx="2" '
                f'fill="{colour}"><title>{e(b.label)}: {b.count}</title></rect>'
            )
        parts.append(
            f'<text x="{label_w + w + 6}" y="{y + row_h / 2 + 4:.0f}" font-size="12" '
            f'fill="#5f6368" font-family="system-ui, sans-serif">{b.count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _items(items: Sequence[Item]) -> str:
    return _table(
        ["verdict", "days", "deadline", "policy", "host", "finding", "severity", "rule", "owner",
         "note"],
        [(_badge(i.bucket.value, i.verdict.value), e(days_text(i)), e(day(i.deadline)), e(i.policy),
          e(i.host), f'<span class="mono">{e(i.finding)}</span>',
          e(i.severity + (", KEV" if i.kev else "")), e(i.binding_rule), e(i.owner),
          e(i.message or (f"exception {i.exception}" if i.exception else None)))
         for i in items],
        raw=range(10), css="items",
    )


def _left_out(top: TopN[Item], what: str) -> str:
    """The note under a capped table: how many rows it leaves out and where they are."""
    if not top.left_out:
        return ""
    return (f'<p class="more">Showing the {min(top.total, top.n)} worst of {top.total} {e(what)}; '
            f"the other {top.left_out} are in <code>items.jsonl</code> (every item, one per "
            "line) and, while open, in <code>tasks.csv</code>.</p>")


def _head(ctx: RenderContext) -> list[str]:
    """The document head and the header: verdict badge and one card per bucket."""
    ev, inputs = ctx.evaluation, ctx.inputs
    t = ev.tally
    failing = ctx.result.failing
    verdict = "fail" if failing else "pass"
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>Patch compliance evidence report, {e(ts(ev.as_of))}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>Patch compliance evidence report</h1>",
        f'<p class="lead">{_badge(verdict, result_word(failing))} {failing} failing, as of '
        f"<strong>{e(ts(ev.as_of))}</strong>; evaluated by patchpolicy {e(inputs.tool_version)}"
        f"{e(ran_by(ctx))}.</p>",
        '<div class="cards">',
    ]
    for b in BUCKET_ORDER:
        checks = t.checks_by_bucket.get(b, 0)
        extra = f" + {checks} host checks" if checks else ""
        out.append(f'<div class="card"><div class="l">{_badge(b.value)}</div>'
                   f'<div class="n">{t.by_bucket.get(b, 0)}</div><div class="l">items{e(extra)}</div></div>')
    out.append("</div></header>")
    return out


def _scope_and_policies(ctx: RenderContext) -> list[str]:
    """The input files with their hashes, then the policies and their retention."""
    ev, inputs = ctx.evaluation, ctx.inputs
    t, snap = ev.tally, inputs.snapshot
    return [
        "<section><h2>Scope and inputs</h2>",
        f"<p>Snapshot taken at {e(ts(snap.taken_at))} by {e(snap.source_tool or 'unknown tool')} "
        f"{e(snap.source_version or '')}: {t.hosts_read} hosts, {t.findings_read} findings read; "
        f"{t.items} items judged.</p>",
        _table(["input", "path", "sha256", "bytes"],
               [(e("snapshot"), f'<code>{e(snap.path)}</code>', f'<code>{e(snap.sha256)}</code>',
                 e(snap.size))]
               + [(e("snapshot shard"), f"<code>{e(f.path)}</code>", f"<code>{e(f.sha256)}</code>",
                   e(f.size)) for f in snap.shards]
               + [(e("policy file"), f"<code>{e(f.path)}</code>", f"<code>{e(f.sha256)}</code>",
                   e(f.size)) for f in inputs.policies],
               numeric=[3], raw=range(4)),
        "</section>",
        "<section><h2>Policies</h2>",
        _table(["policy", "version", "title", "file", "effective from", "hosts in scope"],
               [(p.name, p.version, p.title, p.file,
                 (day(p.effective_from) + ("" if p.in_effect else " (not yet)"))
                 if p.effective_from else "always", t.hosts_in_scope.get(p.name, 0))
                for p in ev.policies], numeric=[5]),
        *(
            f"<p>Evidence retention for {e(p.name)}: keep this bundle at least "
            f"{e(p.retention_years)} years ({e(p.retention_basis or '')}).</p>"
            for p in ev.policies if p.retention_years
        ),
        "</section>",
    ]


def _controls(ev: Evaluation, view: ReportView) -> list[str]:
    """One line per control with its status and, if it fails, its worst items folded in."""
    out = ["<section><h2>Control status</h2>"]
    if ev.controls:
        out.append('<ul class="controls">')
        for c in ev.controls:
            bucket = "pass" if c.status == ControlStatus.SATISFIED else "fail"
            label = {ControlStatus.SATISFIED: "satisfied",
                     ControlStatus.NOT_ASSESSED: "not assessed"}.get(c.status, "not satisfied")
            top = view.by_control.get((c.policy, c.control))
            drill = ""
            if top is not None and top.total:
                drill = (f"<details><summary>{count(top.total, 'failing item')}, worst first"
                         f"{e(failing_checks_too(c, top.total))}</summary>"
                         f"{_items(top.values())}{_left_out(top, 'failing items of this control')}"
                         "</details>")
            out.append(f"<li>{_badge(bucket, label)} "
                       f"<strong>{e(control_label(c))}</strong> {e(c.title or '')}: "
                       f"{e(control_state(c))} <span class=\"mono\">[{e(c.policy)}]</span>{drill}</li>")
        out.append("</ul>")
    else:
        out.append('<p class="empty">No policy names a control.</p>')
    out.append("</section>")
    return out


def _verdicts_and_items(ev: Evaluation, view: ReportView) -> list[str]:
    """The verdict counts, the failing and warning items, the ageing chart and the exceptions."""
    t = ev.tally
    names = [p.name for p in ev.policies]
    return [
        "<section><h2>Verdicts</h2>",
        _table(["verdict", "bucket", "total", *names],
               [(e(v), _badge(b), e(n), *(e(x) for x in per.values()))
                for v, b, n, per in verdict_rows(ev)],
               numeric=range(2, 3 + len(names)), raw=range(3 + len(names))),
        "<p>Host checks: " + e(", ".join(f"{v} {n}" for v, n in sorted(t.checks_by_verdict.items())
                                       if n) or "none") + ".</p>",
        "</section>",
        "<section><h2>Overdue and failing items, worst first</h2>",
        _items(view.failing.values()),
        _left_out(view.failing, "failing items"),
        "</section>",
        "<section><h2>Warnings</h2><p>Due soon, fixed late, or failing before a policy takes "
        "effect.</p>",
        _items(view.warnings.values()),
        _left_out(view.warnings, "warnings"),
        "</section>",
        "<section><h2>Ageing of open findings</h2>",
        f"<figure>{ageing_svg(view.ageing)}<figcaption>Open findings (not remediated, not "
        "waived) by days to or past their deadline.</figcaption></figure>",
        "</section>",
        "<section><h2>Exceptions</h2>",
        _table(["id", "status", "expires", "policies", "approved by", "approved", "ticket", "items",
                "justification", "compensating controls"],
               [(x.id, x.status.value + (", orphaned" if x.orphaned else ""), ts(x.expires),
                 ", ".join(x.policies), x.approved_by, day(x.approved_at), x.ticket, x.items_covered,
                 x.justification, "; ".join(x.compensating_controls) or None) for x in ev.exceptions],
               numeric=[7]),
        "</section>",
    ]


def _hygiene_and_footer(ev: Evaluation, rows: int) -> list[str]:
    """The host checks that are not ok (capped at ``rows``), the verify note, and the end tags."""
    bad_checks = failing_checks(ev)
    return [
        "<section><h2>Host hygiene</h2>",
        f"<p>{len(ev.checks) - len(bad_checks)} host checks ok, {len(bad_checks)} not ok.</p>",
        _table(["policy", "host", "check", "verdict", "detail"],
               [(e(c.policy), e(c.host), e(c.check), _badge(c.bucket.value, c.verdict.value),
                 e(c.detail)) for c in bad_checks[:rows]], raw=range(5)),
        *([f'<p class="more">{len(bad_checks) - rows} more host checks not ok are not shown: '
           "every host check is in <code>evidence.json</code>.</p>"] if len(bad_checks) > rows else []),
        "</section>",
        "<footer><p><code>patchpolicy verify DIR</code> re-hashes every file of this bundle "
        "against SHA256SUMS; with <code>-p</code> and <code>-s</code> naming the inputs above it "
        "re-evaluates them and compares every byte.</p></footer>",
        "</body></html>",
    ]


def report_html(ctx: RenderContext) -> str:
    """The full report page (``report.html``)."""
    ev = ctx.evaluation
    rows = ctx.options.report_rows
    view = report_view(ev, rows)
    out = [
        *_head(ctx),
        *_scope_and_policies(ctx),
        *_controls(ev, view),
        *_verdicts_and_items(ev, view),
        *_hygiene_and_footer(ev, rows),
    ]
    return "\n".join(out) + "\n"


class HtmlReport(Renderer):
    """``report.html``: the auditor report, self-contained."""

    filename = "report.html"

    def views(self, options: RenderOptions) -> list[View[Any]]:
        return [ReportRows(options.report_rows)]

    def render(self, ctx: RenderContext) -> bytes:
        return report_html(ctx).encode()
