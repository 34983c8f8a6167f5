"""A snapshot in shards (several JSON Lines files, or a directory of them) is one snapshot:
the same bundle in one process, ``--jobs 2`` and on Dask; the same bundle as the shards
concatenated into one file, but for the inputs it records; verified, recorded; and bad
shards are errors that name the shard, its line and column (exit 2)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from conftest import files_of, fleet_workdir
from patchpolicy.cli import main

#: Lines of hosts per shard: uneven, so that no cut falls where ranges would.
CUTS = (0.25, 0.7)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/, the generated fleet (``fleet.jsonl``) and the same hosts cut into three
    shards, each with the fleet's header line (``shards/part-{0,1,2}.jsonl``)."""
    d = fleet_workdir(tmp_path_factory, "shards", findings=3000, hosts=90)
    cut_into_shards(d / "fleet.jsonl", d / "shards")
    return d


def cut_into_shards(fleet: Path, out: Path) -> list[Path]:
    header, *hosts = fleet.read_bytes().splitlines(keepends=True)
    bounds = [0, *(int(len(hosts) * c) for c in CUTS), len(hosts)]
    out.mkdir()
    paths = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        p = out / f"part-{i}.jsonl"
        p.write_bytes(header + b"".join(hosts[a:b]))
        paths.append(p)
    return paths


def run(workdir: Path, *args: str, code: tuple[int, ...] = (0, 1)) -> Result:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        result = CliRunner().invoke(main, list(args))
    assert result.exit_code in code, result.output
    return result


def evaluate(workdir: Path, snapshot: list[str], out: str, *extra: str) -> dict[str, bytes]:
    args = ["evaluate", "-p", "examples/policies", "-o", out, *extra]
    for s in snapshot:
        args += ["-s", s]
    run(workdir, *args)
    return files_of(workdir / out)


@pytest.fixture(scope="module")
def one_process(workdir: Path) -> dict[str, bytes]:
    return evaluate(workdir, ["shards"], "one", "--jobs", "1")


def test_a_directory_of_shards_gives_one_bundle_in_one_process_two_and_on_dask(
    workdir: Path, one_process: dict[str, bytes], cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchpolicy.parallel as parallel

    ranges: list[list[int]] = []
    real = parallel.plan_ranges

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        ranges.append([r.part for r in out])
        return out

    monkeypatch.setattr(parallel, "plan_ranges", spy)
    two = evaluate(workdir, ["shards"], "two", "--jobs", "2")
    import patchpolicy.dask_cluster as dc

    monkeypatch.setattr(dc, "plan_ranges", spy)
    dask = evaluate(workdir, ["shards"], "dask", "--dask", cluster.scheduler_address)
    # Every shard judged in its own ranges, in file order, by the workers.
    assert ranges == [[0, 1, 2], [0, 1, 2]]
    one = one_process
    assert len(one["items.jsonl"].splitlines()) > 1000
    assert sorted(one) == sorted(two) == sorted(dask)
    for name in one:
        assert one[name] == two[name], name
        assert one[name] == dask[name], name


def test_workers_that_cannot_read_the_shards_get_their_bytes(
    workdir: Path, cluster: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import distributed

    import patchpolicy.dask_cluster as dc
    from patchpolicy.evaluator import evaluate
    from patchpolicy.loader import load_bundle
    from patchpolicy.snapshot import open_snapshots

    seen: list[str] = []
    monkeypatch.setattr(dc, "_size_seen", lambda path: seen.append(path) or f"{path}: not here")
    bundle = load_bundle([workdir / "examples" / "policies"])
    snap = open_snapshots([workdir / "shards"])
    as_of = snap.header.taken_at
    with distributed.Client(cluster) as client:
        shipped = dc.evaluate_on_dask(bundle, snap, scheduler=client, as_of=as_of,
                                      keep_items=True, memory_items=300)
    # Each shard's range was asked for by path, then sent as bytes.
    assert sorted(Path(p).name for p in seen) == ["part-0.jsonl", "part-1.jsonl", "part-2.jsonl"]
    one = evaluate(bundle, open_snapshots([workdir / "shards"]).hosts(), as_of=as_of,
                   taken_at=as_of)
    assert b"".join(shipped.items.chunks()) == b"".join(one.items.chunks())
    assert shipped.worst == one.worst and shipped.checks == one.checks
    assert snap.sha256 == hashlib.sha256(b"".join(
        p.read_bytes() for p in sorted((workdir / "shards").glob("*.jsonl")))).hexdigest()


def test_the_evidence_records_every_shard_and_the_reports_list_them(
    workdir: Path, one_process: dict[str, bytes]
) -> None:
    shards = sorted((workdir / "shards").glob("*.jsonl"))
    snap = json.loads(one_process["evidence.json"])["inputs"]["snapshot"]
    whole = b"".join(p.read_bytes() for p in shards)  # cat shards/*.jsonl
    assert (snap["path"], snap["sha256"], snap["size"]) == (
        "shards", hashlib.sha256(whole).hexdigest(), len(whole))
    assert snap["shards"] == [
        {"path": f"shards/{p.name}", "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
         "size": p.stat().st_size} for p in shards
    ]
    for report in ("report.md", "report.html"):
        text = one_process[report].decode()
        for shard in snap["shards"]:
            assert shard["path"] in text and shard["sha256"] in text, report


def test_the_shards_bundle_is_the_concatenated_files_bundle_but_for_its_inputs(
    workdir: Path, one_process: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import patchpolicy.api as api
    from patchpolicy.snapshot import open_snapshots

    # fleet.jsonl is the shards' hosts in order under one header: one file, one digest.
    whole = evaluate(workdir, ["fleet.jsonl"], "whole", "--jobs", "1")
    for name in ("items.jsonl", "tasks.json", "tasks.csv", "junit.xml"):
        assert whole[name] == one_process[name], name
    a, b = json.loads(whole["evidence.json"]), json.loads(one_process["evidence.json"])
    assert a.pop("inputs")["snapshot"]["path"] == "fleet.jsonl"
    b.pop("inputs")
    assert a == b
    # The strong form: the same run with the shards' inputs recorded is the same bytes,
    # every file: nothing but the recorded inputs differs.
    real = api.run_inputs
    monkeypatch.chdir(workdir)  # the shards' paths as recorded: relative to the workdir
    monkeypatch.setattr(api, "run_inputs", lambda bundle, _snapshot: real(
        bundle, open_snapshots(["shards"])))
    relabelled = evaluate(workdir, ["fleet.jsonl"], "relabelled", "--jobs", "1")
    assert sorted(relabelled) == sorted(one_process)
    for name in one_process:
        assert relabelled[name] == one_process[name], name


def test_verify_re_evaluates_the_shards(workdir: Path, one_process: dict[str, bytes]) -> None:
    ok = run(workdir, "verify", "one", "-p", "examples/policies", "-s", "shards", "--jobs", "2")
    assert ok.exit_code == 0 and "reproduced" in ok.output
    # Two of the three shards: not the snapshot the evidence names.
    short = run(workdir, "verify", "one", "-p", "examples/policies",
                "-s", "shards/part-0.jsonl", "-s", "shards/part-1.jsonl")
    assert short.exit_code == 1
    assert "not reproduced (differs from a re-evaluation): evidence.json" in short.output


def test_the_store_records_a_bundle_made_from_shards(
    workdir: Path, one_process: dict[str, bytes], tmp_path: Path
) -> None:
    from sqlalchemy import select

    from patchpolicy.store import open_store, record_bundle
    from patchpolicy.store.schema import evaluations

    store = open_store(str(tmp_path / "history.db"), create=True)
    try:
        assert record_bundle(store, workdir / "one").recorded
        with store.read() as conn:
            row = conn.execute(select(evaluations)).one()
    finally:
        store.close()
    snap = json.loads(one_process["evidence.json"])["inputs"]["snapshot"]
    assert (row.snapshot_path, row.snapshot_sha256) == ("shards", snap["sha256"])
    assert json.loads(row.inputs)["snapshot"]["shards"] == snap["shards"]


# ---------------------------------------------------------------- bad shards


@pytest.fixture()
def shards(workdir: Path, tmp_path: Path) -> list[Path]:
    """A fresh copy of the three shards in ``tmp_path/s`` (the working directory)."""
    shutil.copytree(workdir / "examples", tmp_path / "examples")
    out = tmp_path / "s"
    out.mkdir()
    for p in sorted((workdir / "shards").glob("*.jsonl")):
        shutil.copy(p, out / p.name)
    return sorted(out.glob("*.jsonl"))


def check(where: Path, *args: str) -> Result:
    return run(where, "check", "-p", "examples/policies", *args, code=(2,))


def error_of(result: Result) -> str:
    return result.output.strip().splitlines()[-1]


def test_a_directory_without_shards_is_an_error(tmp_path: Path, workdir: Path) -> None:
    shutil.copytree(workdir / "examples", tmp_path / "examples")
    (tmp_path / "empty").mkdir()
    assert error_of(check(tmp_path, "-s", "empty")) == (
        "error: empty: no JSON Lines shards (*.jsonl, *.ndjson) in this directory")
    (tmp_path / "empty" / "README.md").write_text("not a shard\n")
    (tmp_path / "empty" / ".hidden.jsonl").write_text("{}\n")
    assert "no JSON Lines shards" in error_of(check(tmp_path, "-s", "empty"))
    (tmp_path / "empty" / "part-3.jsonl.gz").write_bytes(b"\x1f\x8b")
    assert error_of(check(tmp_path, "-s", "empty")) == (
        "error: empty/part-3.jsonl.gz: a compressed shard: decompress it first (a directory "
        "of shards is read as *.jsonl files)")


def test_shards_whose_headers_differ_are_an_error_at_the_field(shards: list[Path]) -> None:
    where = shards[0].parent.parent
    original = shards[1].read_bytes()
    header, rest = original.split(b"\n", 1)
    shards[1].write_bytes(header.replace(b'"taken_at":"2026-11-20T06:00:00Z"',
                                         b'"taken_at":"2026-11-21T06:00:00Z"') + b"\n" + rest)
    col = header.index(b'"taken_at"') + 1
    assert error_of(check(where, "-s", "s")) == (
        f'error: s/part-1.jsonl:1:{col}: $.taken_at: "2026-11-21T06:00:00Z" differs from '
        '"2026-11-20T06:00:00Z" in s/part-0.jsonl line 1: the shards of one snapshot share '
        "their header (taken_at and source)")
    header, rest = shards[2].read_bytes().split(b"\n", 1)
    doc = json.loads(header)
    doc["source"] = {"tool": "another-scanner"}
    shards[1].write_bytes(original)  # part-1 mended; part-2 differs now
    shards[2].write_bytes(json.dumps(doc).encode() + b"\n" + rest)
    assert "s/part-2.jsonl:1:" in (msg := error_of(check(where, "-s", "s")))
    assert '$.source: {"tool":"another-scanner","version":null} differs from' in msg


@pytest.mark.parametrize("how", [["--jobs", "1"], ["--jobs", "2"]])
def test_a_host_in_two_shards_names_both_places(shards: list[Path], how: list[str]) -> None:
    where = shards[0].parent.parent
    first = shards[0].read_bytes().splitlines(keepends=True)[3]  # line 4 of part-0
    lines = shards[2].read_bytes().splitlines(keepends=True)
    shards[2].write_bytes(b"".join([*lines, first]))
    host = json.loads(first)["id"]
    assert error_of(check(where, "-s", "s", *how)) == (
        f"error: s/part-2.jsonl:{len(lines) + 1}:2: $.id: duplicate host id {host!r} "
        "(first at s/part-0.jsonl:4)")


@pytest.mark.parametrize("how", ["one", "jobs", "dask"])
def test_a_bad_line_in_shard_two_names_shard_two_its_line_and_column(
    shards: list[Path], how: str, cluster: Any
) -> None:
    where = shards[0].parent.parent
    lines = shards[1].read_bytes().splitlines(keepends=True)
    host = json.loads(lines[5])
    host["findings"][0]["severity"] = "SEVERE"
    lines[5] = json.dumps(host).encode() + b"\n"
    shards[1].write_bytes(b"".join(lines))
    col = lines[5].index(b'"severity": "SEVERE"') + 1  # the key of the bad value
    extra = {"one": ["--jobs", "1"], "jobs": ["--jobs", "2"],
             "dask": ["--dask", cluster.scheduler_address]}[how]
    assert error_of(check(where, "-s", "s", *extra)) == (
        f"error: s/part-1.jsonl:6:{col}: $.findings[0].severity: invalid enum value 'SEVERE' "
        "(expected one of critical, high, medium, low, none, unknown)")


def test_shards_given_one_by_one_are_read_in_that_order(shards: list[Path]) -> None:
    where = shards[0].parent.parent
    names = [str(p.relative_to(where)) for p in shards]
    args = [a for n in names for a in ("-s", n)]
    out = run(where, "check", "-p", "examples/policies", "--format", "json", *args).output
    snap = json.loads(out)["inputs"]["snapshot"]
    assert snap["path"] == ", ".join(names)
    assert [s["path"] for s in snap["shards"]] == names
    twice = check(where, "-s", names[0], "-s", "s")
    assert error_of(twice) == (f"error: {names[0]}: given twice (a shard read twice would "
                               "judge its hosts twice)")
    assert "a JSON document cannot be a shard" in error_of(
        check(where, "-s", names[0], "-s", "examples/fleet.json"))
