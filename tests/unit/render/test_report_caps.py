"""report.html and report.md at fleet scale: every item table shows the worst rows and
counts the rest, so the reports stay a few MB whatever the fleet, and still render."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from render_helpers import fleet_context, fleet_finding, fleet_host
from test_html import _browse

from patchpolicy.render.html import report_html
from patchpolicy.render.interface import RenderContext, RenderOptions
from patchpolicy.render.markdown import report_markdown

HOSTS = 400


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> RenderContext:
    """400 hosts, each with 10 overdue findings (a few shared, most its own)."""
    hosts = [fleet_host(n, [fleet_finding(f"CVE-2025-{k:04d}") for k in range(3)]
                        + [fleet_finding(f"CVE-2024-{n * 10 + k:05d}", "high") for k in range(7)])
             for n in range(HOSTS)]
    return fleet_context(tmp_path_factory.mktemp("fleet"), hosts, RenderOptions(report_rows=25))


def test_html_tables_are_capped_and_say_what_they_leave_out(big: RenderContext) -> None:
    page = report_html(big)
    failing = big.evaluation.tally.by_bucket["fail"]
    assert failing == HOSTS * 10
    section = page.split("<h2>Overdue and failing items, worst first</h2>")[1].split("</section>")[0]
    assert section.count("<tr>") == 25 + 1  # the header row and the 25 worst
    assert (f"Showing the 25 worst of {failing} failing items; the other {failing - 25} are in "
            "<code>items.jsonl</code>") in section
    control = page.split('<ul class="controls">')[1].split("</ul>")[0]
    assert f"<summary>{failing} failing items, worst first" in control
    assert control.count("<tr>") == 26
    # The worst rows are the worst items: criticals first (severity order), by host.
    hosts = re.findall(r"<td>(host-\d+)</td>", section)
    assert hosts[:3] == ["host-00000"] * 3


def test_markdown_tables_are_capped_the_same_way(big: RenderContext) -> None:
    md = report_markdown(big)
    failing = HOSTS * 10
    section = md.split("## Overdue and failing items, worst first")[1].split("## Warnings")[0]
    assert sum(1 for ln in section.splitlines() if ln.startswith("| overdue")) == 25
    assert f"Showing the 25 worst of {failing} failing items; the other {failing - 25} are in `items.jsonl`" in section
    assert f"): {failing} failing items" in md


def test_report_size_does_not_follow_the_fleet(big: RenderContext) -> None:
    small = len(report_html(big).encode())
    assert small < 200_000, small
    uncapped = RenderContext(big.evaluation, big.inputs, options=RenderOptions(report_rows=10**6))
    assert len(report_html(uncapped).encode()) > 5 * small  # the cap is what keeps it small


@pytest.mark.browser
def test_capped_report_renders_in_chromium_without_console_errors(big: RenderContext, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report_html(big), encoding="utf-8")
    dom, console = _browse(page, tmp_path, "--dump-dom")
    assert console == []
    assert "<details>" in dom and "Showing the 25 worst" in dom
