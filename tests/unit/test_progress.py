"""The progress bar: drawn on a terminal for a large input, never on a pipe, with
--quiet or PATCHPOLICY_NO_PROGRESS, and it changes nothing the evaluation produces."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from patchpolicy import progress
from patchpolicy.api import evaluate_files
from patchpolicy.snapshot import open_snapshot

ROOT = Path(__file__).resolve().parents[2]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _fleet(path: Path, hosts: int = 300) -> Path:
    lines = [orjson.dumps({"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",
                           "taken_at": "2026-11-20T06:00:00Z"})]
    lines.extend(orjson.dumps({
        "id": f"h{n:04d}", "env": "prod", "last_scan": "2026-11-20T05:00:00Z",
        "findings": [{"id": f"CVE-2026-{k}/p", "vuln": f"CVE-2026-{k}", "severity": "high",
                      "fix_released_at": "2026-11-01T00:00:00Z", "status": "open"}
                     for k in range(3)]}) for n in range(hosts))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _run(path: Path, stream: io.StringIO, **kw: bool) -> bytes:
    source = open_snapshot(path)
    with progress.snapshot_progress(source, "checking", stream=stream, **kw):
        ev = evaluate_files([ROOT / "examples" / "policies" / "baseline.yaml"], source).evaluation
    return orjson.dumps([ev.tally.items, sorted(ev.tally.by_verdict.items())])


def test_a_bar_on_a_terminal_for_a_large_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MIN_PROGRESS_BYTES", 1)
    monkeypatch.setattr(progress, "_REDRAW_SECONDS", 0.0)
    monkeypatch.delenv(progress.NO_PROGRESS_ENV, raising=False)
    fleet = _fleet(tmp_path / "f.jsonl")
    shown = Terminal()
    with_bar = _run(fleet, shown)
    assert "checking" in shown.getvalue() and "hosts" in shown.getvalue()
    assert "findings/s" in shown.getvalue()
    # Same results with or without it.
    assert with_bar == _run(fleet, io.StringIO())


def test_no_bar_on_a_pipe_when_quiet_small_or_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = _fleet(tmp_path / "f.jsonl")
    monkeypatch.delenv(progress.NO_PROGRESS_ENV, raising=False)
    pipe = io.StringIO()
    _run(fleet, pipe)
    assert pipe.getvalue() == ""  # not a terminal
    small = Terminal()
    _run(fleet, small)
    assert small.getvalue() == ""  # under MIN_PROGRESS_BYTES
    monkeypatch.setattr(progress, "MIN_PROGRESS_BYTES", 1)
    quiet = Terminal()
    _run(fleet, quiet, quiet=True)
    assert quiet.getvalue() == ""
    monkeypatch.setenv(progress.NO_PROGRESS_ENV, "1")
    off = Terminal()
    _run(fleet, off)
    assert off.getvalue() == ""


def test_import_shows_the_files_read_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "MIN_PROGRESS_BYTES", 1)
    monkeypatch.delenv(progress.NO_PROGRESS_ENV, raising=False)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text("{}"), b.write_text("{}")
    shown = Terminal()
    seen: list[Path] = []
    with progress.files_progress([a, b], "importing", stream=shown) as on_file:
        for path in (a, b):
            on_file(path)
            seen.append(path)
    assert "importing" in shown.getvalue() and "2/2 files" in shown.getvalue()
    quiet = Terminal()
    with progress.files_progress([a, b], "importing", stream=quiet, quiet=True) as on_file:
        on_file(a)
    assert quiet.getvalue() == ""


def test_forked_workers_move_the_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fleet = _fleet(tmp_path / "f.jsonl", hosts=600)
    source = open_snapshot(fleet)
    seen: list[tuple[int, int, int]] = []
    source.on_progress = lambda *totals: seen.append(totals)
    one = evaluate_files([ROOT / "examples" / "policies" / "baseline.yaml"], open_snapshot(fleet)).evaluation
    two = evaluate_files([ROOT / "examples" / "policies" / "baseline.yaml"], source, jobs=2).evaluation
    assert seen and seen[-1] == (fleet.stat().st_size, 600, 1800)  # every byte, host, finding
    assert [b for b, _, _ in seen] == sorted(b for b, _, _ in seen)
    assert two.tally.by_verdict == one.tally.by_verdict
