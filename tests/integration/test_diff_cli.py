"""End to end: ``patchpolicy diff`` on the example bundle, on git revisions of a temporary
repository, with impact on the example fleet, gates and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


@pytest.fixture()
def pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """old/ and new/ copies of the example bundle, and the fleet, in the cwd."""
    shutil.copytree(EXAMPLES / "policies", tmp_path / "old")
    shutil.copytree(EXAMPLES / "policies", tmp_path / "new")
    shutil.copy(EXAMPLES / "fleet.json", tmp_path / "fleet.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, capture_output=True, text=True, check=True,
    )
    return proc.stdout


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the example bundle in policies/, one commit."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "policies", root / "policies")
    shutil.copy(EXAMPLES / "fleet.json", root / "fleet.json")
    (root / "README.md").write_text("not a policy\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "policies")
    monkeypatch.chdir(root)
    return root


def test_identical_bundles(pair: Path) -> None:
    code, out, err = run("diff", "old", "new")
    assert code == 0, err
    assert "no semantic changes" in out


def test_weakening_with_impact_on_the_example_fleet(pair: Path) -> None:
    edit(pair / "new" / "baseline.yaml", "within: 15d", "within: 60d")
    edit(pair / "new" / "baseline.yaml", "version: 1.2.0", "version: 2.0.0")
    code, out, err = run("diff", "old", "new", "-s", "fleet.json", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["summary"]["weakening"] == 1 and doc["summary"]["version_errors"] == 0
    (change,) = doc["changes"]
    assert change["subject"] == 'rule "critical"' and change["field"] == "within"
    assert change["location"].startswith("new/baseline.yaml:")
    impact = doc["impact"]
    assert impact["snapshot"] == "fleet.json" and impact["as_of"] == "2026-11-20T06:00:00Z"
    assert impact["counts"] == {"now_failing": 0, "no_longer_failing": 2, "deadline_earlier": 0,
                                "deadline_later": 1, "verdict_changed": 0}
    freed = {(i["host"], i["old_verdict"], i["new_verdict"]) for i in impact["items"]
             if i["direction"] == "no_longer_failing"}
    assert freed == {("build-01", "overdue", "open"), ("pos-db-01", "overdue", "open")}
    code, _, _ = run("diff", "old", "new", "-s", "fleet.json", "--fail-on", "weakening")
    assert code == 1


def test_strengthening_makes_items_fail_and_gates_on_now_failing(pair: Path) -> None:
    edit(pair / "new" / "baseline.yaml", "within: 30d", "within: 3d")
    edit(pair / "new" / "baseline.yaml", "version: 1.2.0", "version: 1.3.0")
    code, out, err = run("diff", "old", "new", "-s", "fleet.json", "--as-of", "2026-11-25")
    assert code == 0, err
    assert "now failing 1, no longer failing 0, deadline earlier 6" in out
    assert "now failing       baseline pos-gw-01 CVE-2026-21001/libssl3: due_soon -> overdue" in out
    code, out, _ = run("diff", "old", "new", "-s", "fleet.json", "--as-of", "2026-11-25",
                       "--fail-on", "now_failing", "--format", "markdown")
    assert code == 1
    assert "| now failing | no longer failing | deadline earlier | deadline later |" in out
    assert "| 1 | 0 | 6 | 0 | 0 |" in out


def test_change_without_version_bump_exits_1(pair: Path) -> None:
    edit(pair / "new" / "pci.yaml", "max_scan_age: 90d", "max_scan_age: 30d")
    code, out, _ = run("diff", "old", "new")
    assert code == 1
    assert "error   PatchPolicy pci-dss 2.1.0: content changed without a version bump" in out


def test_markdown_comment(pair: Path) -> None:
    edit(pair / "new" / "pci.yaml", "within: 30d", "within: 45d")
    edit(pair / "new" / "pci.yaml", "version: 2.1.0", "version: 2.2.0")
    edit(pair / "new" / "exceptions-payments.yaml", "expires: 2026-12-28", "expires: 2026-12-29")
    code, out, err = run("diff", "old", "new", "--format", "markdown", "-s", "fleet.json")
    assert code == 1 and "weakening published as a MINOR bump" in err
    assert run("diff", "old", "new", "--format", "markdown", "-s", "fleet.json",
               "--allow-minor-weakening")[0] == 0
    assert out.startswith("### patchpolicy diff\n")
    assert "**3 weakening**" in out
    assert ("| PatchPolicy `pci-dss` | changed | 2.1.0 → 2.2.0 | 2 | 0 | 0 | 0 | **warning**: "
            "2.1.0 -> 2.2.0 is a MINOR bump: needs a MAJOR bump (weakening) |") in out
    assert "`2026-12-28` → `2026-12-29` — extended: waives for longer" in out
    again = run("diff", "old", "new", "--format", "markdown", "-s", "fleet.json")[1]
    assert again == out


def test_base_revision_of_a_git_repository(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(repo / "policies" / "pci.yaml", "within: 30d", "within: 45d")
    edit(repo / "policies" / "pci.yaml", "version: 2.1.0", "version: 2.1.1")
    code, out, err = run("diff", "--base", "HEAD", "policies", "--allow-minor-weakening")
    assert code == 0, err
    assert run("diff", "--base", "HEAD", "policies")[0] == 1  # a weakening under a patch bump
    assert out.startswith("patchpolicy diff: HEAD:policies -> policies\n")
    assert "2 weakening" in out
    assert "[policies/pci.yaml:" in out
    assert "warning PatchPolicy pci-dss 2.1.0 -> 2.1.1: 2.1.0 -> 2.1.1 is a PATCH bump: " \
           "needs a MAJOR bump (weakening)" in out
    code, _, _ = run("diff", "--base", "HEAD", "policies", "--fail-on", "bump")
    assert code == 1
    # The same through REV:PATH, from a subdirectory (paths relative to the top level).
    git(repo, "commit", "-q", "-am", "pci: 45 days")
    (repo / "docs").mkdir()
    monkeypatch.chdir(repo / "docs")
    code, out2, err = run("diff", "HEAD~1:policies", "HEAD:policies", "--allow-minor-weakening")
    assert code == 0, err
    assert out2.replace("HEAD~1:policies -> HEAD:policies", "HEAD:policies -> policies") \
        .replace("[HEAD:policies/", "[policies/") == out


def test_base_revision_removed_rule_points_at_the_old_file(repo: Path) -> None:
    text = (repo / "policies" / "pci.yaml").read_text()
    start = text.index("    - id: high")
    end = text.index("  hygiene:")
    (repo / "policies" / "pci.yaml").write_text(
text[:start] + text[end:])
    edit(repo / "policies" / "pci.yaml", "version: 2.1.0", "version: 3.0.0")
    code, out, err = run("diff", "--base", "HEAD", "policies", "--format", "json")
    assert code == 0, err
    (change,) = json.loads(out)["changes"]
    assert change["classification"] == "weakening" and change["subject"] == 'rule "high"'
    assert change["location"].startswith("HEAD:policies/pci.yaml:")


def test_new_pack_not_in_the_base_revision(repo: Path) -> None:
    shutil.copytree(repo / "policies", repo / "pack")
    code, out, err = run("diff", "--base", "HEAD", "pack", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert {(d["name"], d["status"]) for d in doc["documents"]} == {
        ("baseline", "added"), ("pci-dss", "added"), ("payments-2026q4", "added")}


def test_invalid_bundle_at_a_revision_names_the_revision(repo: Path) -> None:
    edit(repo / "policies" / "pci.yaml", "within: 30d", "within: 30 days")
    git(repo, "commit", "-q", "-am", "broken")
    edit(repo / "policies" / "pci.yaml", "within: 30 days", "within: 30d")
    code, _, err = run("diff", "--base", "HEAD", "policies")
    assert code == 2
    problems = err.splitlines()[:-1]
    assert problems and all(line.startswith("HEAD:policies/") for line in problems)
    assert any(line.startswith("HEAD:policies/pci.yaml:") for line in problems)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("diff", "--base", "no-such-rev", "policies"), "git rev-parse"),
        (("diff", "policies"), "give OLD and NEW"),
        (("diff", "--base", "HEAD", "policies", "policies"), "exactly one PATH"),
        (("diff", "policies", "nowhere"), "nowhere: no such file or directory"),
        (("diff", "policies", "policies", "--as-of", "2026-01-01"), "--as-of needs --snapshot"),
    ],
)
def test_bad_usage_exits_2(repo: Path, args: tuple[str, ...], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert message in err
