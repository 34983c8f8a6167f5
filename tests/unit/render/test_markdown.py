"""report.md and the PR summary: sections, control status in words, escaping."""

from __future__ import annotations

import dataclasses

import msgspec

from patchpolicy.render.interface import RenderContext
from patchpolicy.render.markdown import esc, report_markdown, summary_markdown, table


def test_report_sections_and_control_status(ctx: RenderContext) -> None:
    md = report_markdown(ctx)
    for heading in ("## Scope and inputs", "## Policies", "## Control status", "## Verdicts",
                    "## Overdue and failing items, worst first", "## Ageing of open findings",
                    "## Exceptions", "## Host hygiene"):
        assert heading in md
    assert "- PCI-DSS 4.0.1 6.3.3: not satisfied, 1 failing (policy pci-dss)" in md
    assert ctx.inputs.snapshot.sha256 in md
    overdue = md.split("## Overdue")[1].split("## Warnings")[0]
    assert overdue.index("1123d overdue") < overdue.index("824d overdue") < overdue.index("7d overdue")


def test_user_text_cannot_break_tables_or_inject_html(ctx: RenderContext) -> None:
    assert esc("a|b<script>\n[x](y)") == "a\\|b\\<script\\> \\[x\\](y)"
    hostile = [msgspec.structs.replace(i, host="evil|<b>x</b>") for i in ctx.evaluation.items]
    ev = dataclasses.replace(ctx.evaluation, items=hostile)
    md = report_markdown(RenderContext(ev, ctx.inputs))
    assert "<b>" not in md and "evil\\|\\<b\\>x\\</b\\>" in md
    assert table(["a"], [["x|y"]])[-1] == "| x\\|y |"


def test_pr_summary_is_compact(ctx: RenderContext) -> None:
    md = summary_markdown(ctx, limit=3)
    assert md.startswith("### patchpolicy check: FAIL (10 failing)")
    assert "PCI-DSS 4.0.1 6.3.3 (1 failing)" in md
    assert md.count("\n") < 25
    tightened = RenderContext(ctx.evaluation, ctx.inputs, gate=ctx.evaluation.gate({"due_soon"}))
    assert summary_markdown(tightened).startswith(
        "### patchpolicy check: FAIL (11 failing)")
