"""The shipped packs (policies/): every PolicyTest passes with 100% coverage through the
real CLI, a wrong expectation prints its diff and fails, and control metadata is complete
enough for a report line such as "PCI-DSS 4.0.1 6.3.3: not satisfied, 3 failing"."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.evaluator import evaluate
from patchpolicy.loader import load_bundle
from patchpolicy.snapshot import open_snapshot

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "policies"
BUNDLES = ["pci", "iso", "hipaa/security-rule", "hipaa/proposed-2025", "cisa-kev", "fedramp"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_every_pack_test_passes_with_full_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    code, out, err = run("test", "policies/", "--coverage", "--min-coverage", "100")
    assert code == 0, out + err
    assert " 0 failed" in out and "FAIL" not in out
    assert "(100.0%)" in out and "not exercised" not in out
    for test in ("pci-dss-sla", "pci-dss-exceptions", "iso-27001-sla", "iso-27001-change",
                 "hipaa-security-rule", "hipaa-proposed-2025", "cisa-bod-22-01", "fedramp-conmon"):
        assert f'test "{test}"' in out


def test_a_wrong_expectation_prints_the_diff_and_fails(tmp_path: Path) -> None:
    shutil.copytree(PACKS / "pci", tmp_path / "pci")
    test_file = tmp_path / "pci" / "tests" / "sla.test.yaml"
    text = test_file.read_text()
    wrong = "{policy: pci-dss, host: pos-01, finding: crit-1, verdict: overdue}"
    assert wrong in text
    test_file.write_text(text.replace(wrong, wrong.replace("overdue", "open")))
    code, out, _ = run("test", str(tmp_path / "pci"))
    assert code == 1, out
    assert "FAIL critical-one-second-past-deadline" in out
    assert (
        "pci-dss/pos-01/crit-1: expected verdict open, got overdue [binding rule \"critical\" "
        "(30d from fix_released 2026-02-01T00:00:00Z); deadline 2026-03-03T00:00:00Z; days left "
    ) in out
    assert f"{test_file}:" in out  # the expectation's file:line:col
    assert out.rstrip().endswith("FAIL")


@pytest.mark.parametrize("pack", BUNDLES)
def test_pack_validates_and_its_controls_are_complete(pack: str) -> None:
    code, out, err = run("validate", "--strict", str(PACKS / pack))
    assert code == 0, out + err
    bundle = load_bundle([PACKS / pack])
    assert bundle.policies
    for cp in bundle.policies:
        meta = cp.policy.metadata
        assert meta.title and meta.description and meta.controls
        for control in meta.controls:
            assert control.framework and control.version and control.id
            assert control.title and control.requirement, control.id
        used = {c for r in cp.policy.spec.rules for c in r.controls}
        if cp.policy.spec.hygiene is not None:
            used |= set(cp.policy.spec.hygiene.controls)
        for rule in cp.policy.spec.rules:
            assert rule.controls, f"rule {rule.id} evidences no control"
        # Every control but change management (evidenced by the plan) has rules behind it.
        assert {c.id for c in meta.controls} - used <= {"A.8.32"}


def test_pack_readmes_exist() -> None:
    for pack in ("pci", "iso", "hipaa", "cisa-kev", "fedramp"):
        text = (PACKS / pack / "README.md").read_text()
        assert "literally" in text.lower() and "default" in text.lower()


def test_hipaa_proposed_rule_is_opt_in() -> None:
    names = {p.name for p in load_bundle([PACKS / "hipaa" / "security-rule"]).policies}
    assert names == {"hipaa-security"}
    proposed = load_bundle([PACKS / "hipaa" / "proposed-2025"]).policies[0].policy.metadata
    assert proposed.title is not None and "PROPOSED" in proposed.title
    assert all("proposed" in c.requirement.lower() for c in proposed.controls if c.requirement)
    assert "164.316(b)(2)" in (load_bundle([PACKS / "hipaa" / "security-rule"])
                               .policies[0].policy.metadata.description or "")


def test_control_report_names_framework_version_and_control() -> None:
    bundle = load_bundle([PACKS / "pci" / "pci-dss.yaml"])
    snap = open_snapshot(PACKS / "pci" / "tests" / "fleet.json")
    ev = evaluate(bundle, snap.hosts(), as_of=snap.header.taken_at, taken_at=snap.header.taken_at)
    lines = {
        f"{c.framework} {c.framework_version} {c.control}: {c.status.replace('_', ' ')}, "
        f"{c.failing_total} failing"
        for c in ev.controls
    }
    assert "PCI-DSS 4.0.1 6.3.3: not satisfied, 3 failing" in lines
    assert "PCI-DSS 4.0.1 11.3.1: not satisfied, 3 failing" in lines
    assert "PCI-DSS 4.0.1 11.3.1.1: satisfied, 0 failing" in lines
    assert all(c.requirement for c in ev.controls)
