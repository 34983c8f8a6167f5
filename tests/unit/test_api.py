"""The public API's results and promises: ``evaluate_files`` returns a named, frozen
``EvaluationRun``; a library call forks no process unless asked (``jobs``)."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest

import patchpolicy
from patchpolicy import parallel

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "policies" / "baseline.yaml"
FLEET = ROOT / "examples" / "fleet.json"


def test_evaluate_files_returns_a_named_frozen_run() -> None:
    run = patchpolicy.evaluate_files([ROOT / "examples" / "policies"], FLEET)
    assert isinstance(run, patchpolicy.EvaluationRun)
    assert [f.name for f in dataclasses.fields(run)] == ["evaluation", "inputs"]
    assert isinstance(run.evaluation, patchpolicy.Evaluation)
    assert isinstance(run.inputs, patchpolicy.RunInputs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.evaluation = run.evaluation  # type: ignore[misc]
    with pytest.raises(TypeError):
        evaluation, inputs = run  # type: ignore[misc]  # a record, not a tuple
    # The fields say what they hold: the snapshot's digest, every policy file read.
    assert run.inputs.snapshot.sha256 == hashlib.sha256(FLEET.read_bytes()).hexdigest()
    assert len(run.inputs.policies) == len(list((ROOT / "examples" / "policies").glob("*.yaml")))
    assert run.inputs.tool_version == patchpolicy.__version__
    # The same evaluation as the two steps it stands for.
    snapshot = patchpolicy.open_snapshot(FLEET)
    by_hand = patchpolicy.evaluate(patchpolicy.load_bundle([ROOT / "examples" / "policies"]),
                                   snapshot.hosts(), as_of=snapshot.header.taken_at,
                                   taken_at=snapshot.header.taken_at)
    assert run.evaluation.tally.by_verdict == by_hand.tally.by_verdict
    assert run.evaluation.gate().failing == by_hand.gate().failing


def _jsonl_fleet(path: Path, hosts: int = 40) -> Path:
    lines = [orjson.dumps({"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",
                           "taken_at": "2026-11-20T06:00:00Z"})]
    lines.extend(orjson.dumps({
        "id": f"h{n:04d}", "env": "prod", "last_scan": "2026-11-20T05:00:00Z",
        "findings": [{"id": "CVE-2026-1/p", "vuln": "CVE-2026-1", "severity": "high",
                      "fix_released_at": "2026-11-01T00:00:00Z", "status": "open"}],
    }) for n in range(hosts))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.fixture()
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every input counts as large on a machine of four cores, so that ``"auto"`` would
    fork; the forks asked for are recorded (and run in this process)."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 1)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 4)
    asked: list[int] = []
    real = parallel.evaluate_parallel

    def recording(*args: Any, jobs: int, **kw: Any) -> Any:
        asked.append(jobs)
        return real(*args, jobs=1, **kw)

    monkeypatch.setattr(parallel, "evaluate_parallel", recording)
    return asked


def test_library_calls_fork_no_process_unless_asked(tmp_path: Path, forks: list[int]) -> None:
    fleet = _jsonl_fleet(tmp_path / "fleet.jsonl")
    assert parallel.default_jobs(patchpolicy.open_snapshot(fleet)) == 4  # "auto" would fork
    one = patchpolicy.evaluate_files([POLICY], fleet)
    patchpolicy.write_evidence(tmp_path / "evidence", [POLICY], fleet)
    assert forks == []
    auto = patchpolicy.evaluate_files([POLICY], fleet, jobs="auto")
    asked = patchpolicy.evaluate_files([POLICY], fleet, jobs=3)
    assert forks == [4, 3]
    assert auto.evaluation.tally.by_verdict == asked.evaluation.tally.by_verdict == one.evaluation.tally.by_verdict


def test_the_command_line_still_uses_every_core_for_a_large_file(
    tmp_path: Path, forks: list[int]
) -> None:
    """The CLI asks for ``"auto"`` when no ``-j`` is given (its documented default)."""
    from click.testing import CliRunner

    from patchpolicy.cli import main

    fleet = str(_jsonl_fleet(tmp_path / "fleet.jsonl"))
    runner = CliRunner()
    for args in (["check"], ["evaluate", "-o", str(tmp_path / "ev")], ["plan", "-o", str(tmp_path / "plan")],
                 ["check", "-j", "2"]):
        result = runner.invoke(main, [*args, "-p", str(POLICY), "-s", fleet])
        assert result.exit_code in (0, 1), result.output
    assert forks == [4, 4, 4, 2]


def _expressions(bundle: patchpolicy.Bundle) -> list[Any]:
    out: list[Any] = [x.match for x in bundle.exceptions]
    for p in bundle.policies:
        out += [p.scope, *(r.when for r in p.rules), *(w.hosts for w in p.windows),
                *(r.hosts for r in p.rings), *(f.hosts for f in p.freezes), *(f.allow for f in p.freezes)]
    return [e for e in out if e is not None]


def test_the_cel_memo_lives_per_evaluation_not_on_the_bundle() -> None:
    """Evaluating and planning twice on one loaded bundle leaves nothing in the compiled
    expressions' own memos (a long-lived bundle would grow with every fleet it saw), and
    the second run judges exactly as the first."""
    from datetime import timedelta

    bundle = patchpolicy.load_bundle([ROOT / "examples" / "policies"])
    expressions = _expressions(bundle)
    assert any(e.source.startswith("finding.kev") for e in expressions)  # the freeze's allow
    results = []
    for _ in range(2):
        snapshot = patchpolicy.open_snapshot(FLEET, retain_hosts=True)
        as_of = snapshot.header.taken_at
        ev = patchpolicy.evaluate(bundle, snapshot.hosts(), as_of=as_of, taken_at=as_of)
        tasks = patchpolicy.plan(bundle, ev, snapshot.hosts(), as_of=as_of, horizon=timedelta(days=90))
        results.append((ev.tally.by_verdict, tasks.counts))
    assert results[0] == results[1]
    assert tasks.counts.tasks > 0
    assert [e.cache_info().size for e in expressions] == [0] * len(expressions)
