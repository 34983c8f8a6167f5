"""End to end: evaluate/check/explain on the shipped example fleet through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = str(ROOT / "examples" / "policies")
FLEET = str(ROOT / "examples" / "fleet.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr



def test_evaluate_writes_evidence_matching_snapshot(examples: Path, snapshot: SnapshotAssertion) -> None:
    code, out, _ = run("evaluate", "-p", "examples/policies", "-s", "examples/fleet.json", "-o", "out")
    assert code == 1, out
    evidence = (examples / "out" / "evidence.json").read_text()
    assert evidence == snapshot
    # The items left evidence.json for items.jsonl: every one of them is still pinned here.
    items = (examples / "out" / "items.jsonl").read_text()
    assert items == snapshot(name="items.jsonl")
    assert items.count("\n") == json.loads(evidence)["items_file"]["count"] == 22
    doc = json.loads(evidence)
    assert doc["summary"]["hosts_read"] == 7 and doc["summary"]["findings_read"] == 14
    assert doc["inputs"]["snapshot"]["sha256"] == __import__("hashlib").sha256(
        (examples / "examples" / "fleet.json").read_bytes()
    ).hexdigest()
    sums = (examples / "out" / "SHA256SUMS").read_text()
    assert "evidence.json" in sums


def test_two_runs_are_byte_identical(examples: Path) -> None:
    for out in ("a", "b"):
        run("evaluate", "-p", "examples/policies", "-s", "examples/fleet.json", "-o", out)
    files_a = sorted(p.relative_to(examples / "a") for p in (examples / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(examples / "b") for p in (examples / "b").rglob("*") if p.is_file())
    assert files_a == files_b and files_a
    for rel in files_a:
        assert (examples / "a" / rel).read_bytes() == (examples / "b" / rel).read_bytes(), rel


def test_jsonl_snapshot_gives_the_same_verdicts(examples: Path) -> None:
    doc = json.loads((examples / "examples" / "fleet.json").read_text())
    hosts = doc.pop("hosts")
    lines = [json.dumps(doc)] + [json.dumps(h) for h in hosts]
    (examples / "fleet.jsonl").write_text("\n".join(lines) + "\n")
    code_json, out_json, _ = run("check", "-p", "examples/policies", "-s", "examples/fleet.json")
    code_jsonl, out_jsonl, _ = run("check", "-p", "examples/policies", "-s", "fleet.jsonl")
    assert code_json == code_jsonl == 1
    assert out_json == out_jsonl


def test_check_summary_and_exit_codes(examples: Path) -> None:
    code, out, _ = run("check", "-p", "examples/policies", "-s", "examples/fleet.json")
    assert code == 1
    assert "result: FAIL" in out
    assert "PCI-DSS 4.0.1 6.3.3 [pci-dss]: NOT satisfied" in out
    # Before everything is due, nothing fails: exit 0.
    code, out, _ = run(
        "check", "-p", "examples/policies/pci.yaml", "-s", "examples/fleet.json",
        "--as-of", "2020-01-01T00:00:00Z",
    )
    assert "result:" in out


def test_fail_on_tightens_the_gate(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {name: p, version: 1.0.0}\n"
        "spec:\n  rules:\n    - {id: all, when: 'true', within: 10d}\n"
    )
    fleet = tmp_path / "f.json"
    fleet.write_text(json.dumps({
        "apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": "2026-11-20T00:00:00Z",
        "hosts": [{"id": "h", "last_scan": "2026-11-20T00:00:00Z", "findings": [
            {"id": "f", "vuln": "CVE-1", "first_seen_at": "2026-11-12T00:00:00Z"}]}],
    }))
    code, out, _ = run("check", "-p", str(policy), "-s", str(fleet))
    assert code == 0 and "due_soon 1" in out
    code, _, _ = run("check", "-p", str(policy), "-s", str(fleet), "--fail-on", "due_soon")
    assert code == 1


def test_bad_input_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "fleet.json"
    bad.write_text('{"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": "2026-11-20T00:00:00Z", "hosts": [{"id": "h", "findings": [{"id": "x", "vuln": "v", "severity": "SEVERE"}]}]}')
    out_dir = tmp_path / "out"
    code, _, err = run("evaluate", "-p", POLICIES, "-s", str(bad), "-o", str(out_dir))
    assert code == 2
    assert "$.hosts[0].findings[0].severity" in err
    assert not out_dir.exists()
    assert not list(tmp_path.glob(".out*"))


def test_bad_input_keeps_previous_bundle(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    assert run("evaluate", "-p", POLICIES, "-s", FLEET, "-o", str(out_dir))[0] == 1
    before = (out_dir / "evidence.json").read_bytes()
    code, _, _ = run("evaluate", "-p", POLICIES, "-s", str(tmp_path / "missing.json"), "-o", str(out_dir))
    assert code == 2
    assert (out_dir / "evidence.json").read_bytes() == before


def test_invalid_policy_exits_2_with_position(tmp_path: Path) -> None:
    p = tmp_path / "p.yaml"
    p.write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {name: p, version: 1.0.0}\n"
        "spec:\n  rules:\n    - {id: a, when: 'finding.sevrity == \"high\"', within: 10d}\n"
    )
    code, _, err = run("check", "-p", str(p), "-s", FLEET)
    assert code == 2
    assert f"{p}:6:" in err and "did you mean 'severity'" in err


def test_explain_says_why(examples: Path) -> None:
    code, out, _ = run(
        "explain", "-p", "examples/policies", "-s", "examples/fleet.json",
        "--host", "web-01", "--finding", "CVE-2023-44487",
    )
    assert code == 0
    assert "OVERDUE" in out
    assert "rule kev matches" in out
    assert "exception EXC-2026-009 matches but has expired" in out
    code, out, _ = run("explain", "-p", "examples/policies", "-s", "examples/fleet.json", "--host", "nope")
    assert code == 2


def test_hipaa_retention_is_stated_in_the_evidence(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, _ = run(
        "evaluate", "-p", str(ROOT / "policies" / "hipaa" / "security-rule"), "-s", FLEET,
        "-o", str(out),
    )
    assert code in (0, 1)
    doc = json.loads((out / "evidence.json").read_text())
    (policy,) = doc["policies"]
    assert policy["retention_years"] == 6
    assert policy["retention_basis"] == "45 CFR 164.316(b)(2)(i)"
    report = (out / "report.md").read_text()
    assert "keep this bundle at least 6 years (45 CFR 164.316(b)(2)(i))" in report
    assert "at least 6 years" in (out / "report.html").read_text()
