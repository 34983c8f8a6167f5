"""report.html: self-contained, escaped, and rendered without console errors by a real
headless Chromium (skipped, with the reason, only where no chromium binary exists)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest

from patchpolicy.render.grouping import report_view
from patchpolicy.render.html import ageing_svg, report_html
from patchpolicy.render.interface import RenderContext

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def _hostile(ctx: RenderContext) -> RenderContext:
    items = [msgspec.structs.replace(i, host=HOSTILE, message=HOSTILE, owner=HOSTILE)
             for i in ctx.evaluation.items]
    checks = [msgspec.structs.replace(c, detail=HOSTILE) for c in ctx.evaluation.checks]
    exceptions = [msgspec.structs.replace(x, justification=HOSTILE) for x in ctx.evaluation.exceptions]
    ev = dataclasses.replace(ctx.evaluation, items=items, checks=checks, exceptions=exceptions)
    return RenderContext(ev, ctx.inputs, ctx.plan)


def test_self_contained_no_fetches(ctx: RenderContext) -> None:
    page = report_html(ctx)
    assert "<script" not in page.lower()
    assert 'http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;;' in page
    # Every src/href is a data: URI or none at all; the SVG namespace is not a fetch.
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(r.startswith("data:") for r in refs), refs
    assert "@import" not in page and "url(" not in page
    assert page.count("<svg") == 1 and "Open findings by days to or past their deadline" in page


def test_user_text_is_escaped(ctx: RenderContext) -> None:
    page = report_html(_hostile(ctx))
    assert "<script>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&amp;amp;" in page


def test_ageing_chart_bars(ctx: RenderContext) -> None:
    bins = report_view(ctx.evaluation, ctx.options.report_rows).ageing
    assert sum(b.count for b in bins) == sum(
        1 for i in ctx.evaluation.items if i.verdict in ("open", "due_soon", "overdue"))
    svg = ageing_svg(bins)
    assert svg.count("<rect") == sum(1 for b in bins if b.count)
    assert ageing_svg([b for b in bins if not b.count]).count("<rect") == 0


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium binary on PATH (apt-get install -y chromium); the HTML report "
                "is not checked in a browser here")


def _browse(page: Path, tmp_path: Path, *extra: str) -> tuple[str, list[str]]:
    """Load ``page`` in headless Chromium: (serialised DOM, console messages)."""
    proc = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return proc.stdout, console


@pytest.mark.browser
def test_harness_catches_console_errors(tmp_path: Path) -> None:
    """The check below is not vacuous: a fetch blocked by our CSP shows up as a message."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                    "content=\"default-src 'none'\"></head><body>"
                    '<img src="http://example.invalid/x.png"></body></html>')
    _, console = _browse(page, tmp_path, "--dump-dom")
    assert any("Content Security Policy" in line for line in console), console


@pytest.mark.browser
def test_report_renders_in_chromium_without_console_errors(ctx: RenderContext, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report_html(_hostile(ctx)), encoding="utf-8")
    dom, console = _browse(page, tmp_path, "--dump-dom")
    assert console == []
    assert "PCI-DSS 4.0.1 6.3.3" in dom and "<svg" in dom
    # The hostile text arrived as text, not as elements.
    assert "<script>" not in dom and "<img" not in dom and "&lt;script&gt;" in dom
    shot = tmp_path / "report.png"
    _, console = _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert console == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_age_bins_are_consecutive_and_age_bin_finds_the_bin_holding_a_day() -> None:
    from patchpolicy.render._common import AGE_BINS, age_bin

    for (_, _, hi), (_, lo, _) in zip(AGE_BINS, AGE_BINS[1:], strict=False):
        assert hi is not None and lo == hi + 1
    for days in range(-400, 400):
        n = age_bin(days)
        _, lo, hi = AGE_BINS[n]
        assert (lo is None or lo <= days) and (hi is None or days <= hi), days
