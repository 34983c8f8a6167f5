"""Views of the items collected while the hosts are judged (``evaluate_files(views=...)``),
in one process or in forked workers whose collectors merge, equal the views read from the
finished items.jsonl: the renderers' inputs do not depend on where they were made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from patchpolicy.api import evaluate_files
from patchpolicy.model.itemviews import View
from patchpolicy.render import bundle_renderers
from patchpolicy.render.grouping import ItemGroup, ReportView, TopN
from patchpolicy.render.interface import RenderOptions
from patchpolicy.render.views import collect

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"
# Small caps so that samples and top-N lists are full and must be merged, not just joined.
OPTIONS = RenderOptions(group_sample=2, report_rows=3, junit_group_threshold=2)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("views") / "fleet.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate_fleet.py"),
         "--findings", "3000", "--hosts", "120", "-o", str(out)],
        check=True, capture_output=True,
    )
    return out


def _views() -> list[View[Any]]:
    return [v for r in bundle_renderers() for v in r.views(OPTIONS)]


def _plain(value: Any) -> Any:
    """A view's result as plain, comparable data."""
    if isinstance(value, TopN):
        return (value.total, [(i.policy, i.host, i.finding) for i in value.values()])
    if isinstance(value, ItemGroup):
        return (value.key, value.items, value.hosts, dict(value.verdicts),
                value.earliest_deadline, _plain(value.sample))
    if isinstance(value, ReportView):
        return (_plain(value.failing), _plain(value.warnings),
                {k: _plain(t) for k, t in value.by_control.items() if t.total},
                [(b.label, b.count) for b in value.ageing])
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return dict(sorted(value.items()))
    raise TypeError(type(value))


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_views_collected_while_judging_equal_views_read_from_the_items(fleet: Path, jobs: int) -> None:
    views = _views()
    assert len(set(views)) >= 4  # JUnit, OSCAL, POA&M, the reports, SARIF's host counts
    judged = evaluate_files([POLICIES], fleet, jobs=jobs, views=views).evaluation
    assert set(judged.views) == set(views)
    read = evaluate_files([POLICIES], fleet, jobs=1).evaluation
    assert not read.views
    collect(read, views)
    for v in views:
        assert _plain(judged.views[v]) == _plain(read.views[v]), v
    groups = [g for v in views if isinstance(r := read.views[v], list) for g in r]
    assert any(g.hosts > 1 and g.items > g.sample.n for g in groups), "samples must overflow"


def test_no_views_are_collected_when_items_are_not_kept(fleet: Path) -> None:
    ev = evaluate_files([POLICIES], fleet, keep_items=False, views=_views()).evaluation
    assert ev.views == {}
