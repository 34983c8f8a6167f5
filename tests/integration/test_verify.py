"""patchpolicy verify: any edit to a bundle fails; given the inputs, a re-evaluation must
reproduce every byte; bad input exits 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.outdir import OUTPUT_MARKER
from patchpolicy.render import BundleOutput

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("-p", "examples/policies", "-s", "examples/fleet.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("evaluate", *INPUTS, "-o", "out")
    assert code == 1, out
    return tmp_path / "out"


def test_untouched_bundle_verifies(bundle: Path) -> None:
    code, out, _ = run("verify", "out")
    assert code == 0, out
    assert out.startswith(f"ok: {len(BundleOutput)} files re-hashed")
    code, out, _ = run("verify", "out", *INPUTS)
    assert code == 0, out
    assert "re-hashed and reproduced" in out


@pytest.mark.parametrize("name", [o.value for o in BundleOutput])
def test_editing_one_byte_of_any_file_fails(bundle: Path, name: str) -> None:
    path = bundle / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, out, _ = run("verify", "out")
    assert code == 1
    assert f"changed (sha256 differs): {name}" in out and "FAIL" in out


def test_editing_the_sums_too_is_caught_by_reproducing(bundle: Path) -> None:
    """Someone who edits a file and fixes SHA256SUMS passes the re-hash, not the re-run."""
    import hashlib

    report = bundle / "report.md"
    report.write_bytes(report.read_bytes().replace(b"FAIL", b"PASS"))
    sums = (bundle / "SHA256SUMS").read_text().splitlines()
    fixed = [f"{hashlib.sha256(report.read_bytes()).hexdigest()}  report.md" if line.endswith("  report.md")
             else line for line in sums]
    (bundle / "SHA256SUMS").write_text("\n".join(fixed) + "\n")
    assert run("verify", "out")[0] == 0
    code, out, _ = run("verify", "out", *INPUTS)
    assert code == 1
    assert "not reproduced (differs from a re-evaluation): report.md" in out
    assert "not reproduced (differs from a re-evaluation): SHA256SUMS" in out


def test_missing_and_extra_files_fail(bundle: Path) -> None:
    (bundle / "oscal" / "poam.json").unlink()
    (bundle / "notes.txt").write_text("added later\n")
    code, out, _ = run("verify", "out")
    assert code == 1
    assert "missing: oscal/poam.json" in out
    assert "extra (not in SHA256SUMS): notes.txt" in out


def test_changed_inputs_do_not_reproduce(bundle: Path) -> None:
    fleet = bundle.parent / "examples" / "fleet.json"
    doc = json.loads(fleet.read_text())
    doc["hosts"][0]["findings"] = []
    fleet.write_text(json.dumps(doc))
    code, out, _ = run("verify", "out", *INPUTS)
    assert code == 1
    assert "not reproduced (differs from a re-evaluation): evidence.json" in out


def test_reproduces_at_the_recorded_as_of(bundle: Path) -> None:
    code, _, _ = run("evaluate", *INPUTS, "--as-of", "2026-12-01T00:00:00Z", "-o", "dec")
    assert code == 1
    code, out, _ = run("verify", "dec", *INPUTS)
    assert code == 0, out


def test_bad_input_exits_2(bundle: Path) -> None:
    code, _, err = run("verify", "nowhere")
    assert code == 2 and "not a directory" in err
    # An edited SHA256SUMS is a difference (exit 1), not bad input: each bad line is named.
    (bundle / "SHA256SUMS").write_text("not a sum line\n")
    code, out, _ = run("verify", "out")
    assert code == 1 and "malformed: SHA256SUMS:1: not a sha256sum line" in out
    assert "extra (not in SHA256SUMS): evidence.json" in out
    (bundle / "SHA256SUMS").unlink()
    code, _, err = run("verify", "out")
    assert code == 2 and "not an evidence bundle" in err
    code, _, err = run("verify", "out", "-p", "examples/policies")
    assert code == 2 and "both -p and -s" in err


# -- completeness (issue 12.6): the files evidence.json requires, and nothing else --


def test_evidence_names_every_required_file(bundle: Path) -> None:
    files = json.loads((bundle / "evidence.json").read_text())["files"]
    on_disk = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                     if p.is_file() and p.name != OUTPUT_MARKER)
    assert files == on_disk
    assert (bundle / OUTPUT_MARKER).is_file()  # present, but not evidence
    assert "SHA256SUMS" in files and "evidence.json" in files


def test_every_file_deleted_and_empty_sums_fails(bundle: Path) -> None:
    for p in sorted(bundle.rglob("*"), reverse=True):
        if p.name != "SHA256SUMS":
            p.unlink() if p.is_file() else p.rmdir()
    (bundle / "SHA256SUMS").write_text("")
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert "missing: evidence.json" in out and "FAIL" in out
    assert "ok:" not in out


@pytest.mark.parametrize("name", ["report.md", "oscal/poam.json", "evidence.json"])
def test_file_deleted_with_its_sums_line_fails(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    sums = bundle / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines()
                            if not line.endswith("  " + name)))
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert f"missing: {name}" in out


def test_required_file_replaced_by_a_symlink_fails(bundle: Path) -> None:
    """Same bytes behind the link: the sums match, but the bundle holds no such file."""
    kept = bundle.parent / "report.md.kept"
    (bundle / "report.md").rename(kept)
    (bundle / "report.md").symlink_to(kept)
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert "not a regular file (symlink): report.md" in out


def test_symlinked_directory_and_fifo_fail_without_hanging(bundle: Path) -> None:
    import os

    shutil.move(bundle / "oscal", bundle.parent / "oscal")
    (bundle / "oscal").symlink_to(bundle.parent / "oscal")
    os.mkfifo(bundle / "pipe")
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert "not a regular file (symlink): oscal" in out
    assert "not a regular file (special): pipe" in out
    assert "missing: oscal/poam.json" in out


def test_sums_must_list_exactly_the_files_present(bundle: Path) -> None:
    """A file added and listed in SHA256SUMS is still not part of the bundle."""
    import hashlib

    (bundle / "notes.txt").write_text("added later\n")
    digest = hashlib.sha256(b"added later\n").hexdigest()
    with (bundle / "SHA256SUMS").open("a") as f:
        f.write(f"{digest}  notes.txt\n")
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert "extra (not among the files evidence.json requires): notes.txt" in out


def test_required_file_present_but_unlisted_fails(bundle: Path) -> None:
    sums = bundle / "SHA256SUMS"
    sums.write_text("".join(line + "\n" for line in sums.read_text().splitlines()
                            if not line.endswith("  tasks.csv")))
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert "extra (not in SHA256SUMS): tasks.csv" in out


def test_evidence_without_a_files_list_fails(bundle: Path) -> None:
    import hashlib

    path = bundle / "evidence.json"
    doc = json.loads(path.read_text())
    del doc["files"]
    path.write_text(json.dumps(doc))
    sums = bundle / "SHA256SUMS"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sums.write_text("".join((f"{digest}  evidence.json" if line.endswith("  evidence.json")
                             else line) + "\n" for line in sums.read_text().splitlines()))
    code, out, _ = run("verify", "out")
    assert code == 1, out
    assert "no list of required files (files): cannot prove the bundle complete" in out


def test_output_marker_is_allowed_unlisted(bundle: Path) -> None:
    (bundle / ".patchpolicy-output").write_text("")
    code, out, _ = run("verify", "out")
    assert code == 0, out


def test_a_bundle_with_sarif_options_is_reproduced_with_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("evaluate", *INPUTS, "-o", "out", "--sarif-max-results", "3",
                       "--sarif-group-threshold", "2")
    assert code == 1, out
    run_ = json.loads((tmp_path / "out" / "results.sarif").read_text())["runs"][0]
    assert len(run_["results"]) == 3 and run_["properties"]["omittedResults"] > 0
    assert run_["properties"]["groupThreshold"] == 2
    code, out, _ = run("verify", "out", *INPUTS)
    assert code == 0, out
    assert "re-hashed and reproduced" in out


def test_an_edited_line_of_items_jsonl_is_caught_even_when_re_hashed(bundle: Path) -> None:
    """items.jsonl holds every item; evidence.json names it by digest, size and count, so
    an edit with a re-hashed SHA256SUMS still fails, and a re-evaluation catches it too."""
    import hashlib

    items = bundle / "items.jsonl"
    lines = items.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["verdict"] = "ok" if record["verdict"] != "ok" else "overdue"
    lines[3] = json.dumps(record, separators=(",", ":")).encode() + b"\n"
    items.write_bytes(b"".join(lines))
    code, out, _ = run("verify", "out")
    assert code == 1 and "changed (sha256 differs): items.jsonl" in out, out
    sums = (bundle / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(items.read_bytes()).hexdigest()
    sums = [f"{digest}  items.jsonl" if s.endswith("  items.jsonl") else s for s in sums]
    (bundle / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    code, out, _ = run("verify", "out")
    assert code == 1 and "items_file.sha256 is not the digest of items.jsonl" in out, out
    code, out, _ = run("verify", "out", *INPUTS)
    assert code == 1 and "not reproduced (differs from a re-evaluation): items.jsonl" in out, out


def test_evidence_json_names_items_jsonl_by_count_size_and_digest(bundle: Path) -> None:
    import hashlib

    evidence = json.loads((bundle / "evidence.json").read_text())
    data = (bundle / "items.jsonl").read_bytes()
    assert "items" not in evidence
    assert evidence["items_file"] == {
        "path": "items.jsonl", "count": data.count(b"\n"), "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert evidence["items_file"]["count"] == evidence["summary"]["items_judged"]


def test_reproduces_a_bundle_made_with_other_caps_and_grouping(bundle: Path) -> None:
    options = ("--report-rows", "2", "--junit-group-threshold", "2", "--group-sample", "1",
               "--sarif-group-threshold", "2", "--sarif-max-results", "3")
    code, _, _ = run("evaluate", *INPUTS, *options, "-o", "capped")
    assert code == 1
    recorded = json.loads((bundle.parent / "capped" / "evidence.json").read_text())["render_options"]
    assert recorded == {"report_rows": 2, "junit_group_threshold": 2, "group_sample": 1,
                        "sarif_group_threshold": 2, "sarif_max_results": 3, "run_by": None,
                        "policy_commit": None, "oscal_ssp": None, "oscal_system_id": None}
    assert "Showing the 2 worst of" in (bundle.parent / "capped" / "report.md").read_text()
    assert (bundle.parent / "capped" / "junit.xml").read_bytes() != (bundle / "junit.xml").read_bytes()
    code, out, _ = run("verify", "capped", *INPUTS)
    assert code == 0, out
