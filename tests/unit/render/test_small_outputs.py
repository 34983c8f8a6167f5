"""Every bundle file of a small hand-made fleet, snapshotted: three findings on two hosts
with the caps and grouping turned down, so that a renderer change shows as a small diff
and the grouped forms (one entry for a vulnerability on many hosts, a capped table) are
pinned too."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from render_helpers import ROOT
from syrupy.assertion import SnapshotAssertion

from patchpolicy.api import evaluate_files
from patchpolicy.evidence_bundle import PLAN_HORIZON
from patchpolicy.planner import plan
from patchpolicy.render import BundleOutput, renderer_for
from patchpolicy.render.interface import RenderContext, RenderOptions
from patchpolicy.snapshot import open_snapshot

FLEET = {
    "apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": "2026-11-20T06:00:00Z",
    "hosts": [
        {"id": "db-1", "env": "prod", "owner": "team-db", "last_scan": "2026-11-20T05:00:00Z",
         "findings": [
             {"id": "CVE-2026-0001/openssl", "vuln": "CVE-2026-0001", "severity": "critical",
              "package": {"name": "openssl", "version": "3.0.1"}, "fixed_version": "3.0.2",
              "fix_released_at": "2026-10-01T00:00:00Z", "status": "open"},
             {"id": "CVE-2026-0002/curl", "vuln": "CVE-2026-0002", "severity": "low",
              "package": {"name": "curl", "version": "8.0"}, "fixed_version": "8.1",
              "fix_released_at": "2026-11-10T00:00:00Z", "status": "open"},
         ]},
        {"id": "web-1", "env": "prod", "owner": "team-web", "last_scan": "2026-11-01T00:00:00Z",
         "findings": [
             {"id": "CVE-2026-0001/openssl", "vuln": "CVE-2026-0001", "severity": "critical",
              "package": {"name": "openssl", "version": "3.0.1"}, "fixed_version": "3.0.2",
              "fix_released_at": "2026-10-01T00:00:00Z", "status": "open"},
         ]},
    ],
}
SMALL = RenderOptions(sarif_group_threshold=2, junit_group_threshold=2, group_sample=1,
                      report_rows=1)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> RenderContext:
    path = tmp_path_factory.mktemp("small") / "fleet.json"
    path.write_bytes(orjson.dumps(FLEET))
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        snapshot = open_snapshot(path, retain_hosts=True)
        run = evaluate_files(["examples/policies/baseline.yaml"], snapshot)
        ev, inputs = run.evaluation, run.inputs
        tasks = plan(ev.bundle, ev, snapshot.hosts(), as_of=ev.as_of, horizon=PLAN_HORIZON)
    finally:
        os.chdir(cwd)
    # The snapshot's temporary path is not part of what is pinned.
    inputs = inputs.__class__(**{**{f: getattr(inputs, f) for f in inputs.__struct_fields__},
                                 "snapshot": inputs.snapshot.__class__(
                                     **{**{f: getattr(inputs.snapshot, f)
                                           for f in inputs.snapshot.__struct_fields__},
                                        "path": "fleet.json"})})
    return RenderContext(ev, inputs, tasks, options=SMALL)


def test_the_small_fleet_is_what_the_snapshots_show(small: RenderContext) -> None:
    t = small.evaluation.tally
    assert (t.hosts_read, t.findings_read, t.items) == (2, 3, 3)
    assert small.result.failing >= 2  # the critical is overdue on both hosts


@pytest.mark.parametrize("output", list(BundleOutput))
def test_small_bundle_file_snapshot(output: BundleOutput, small: RenderContext,
                                    snapshot: SnapshotAssertion) -> None:
    assert renderer_for(output).render(small).decode() == snapshot
