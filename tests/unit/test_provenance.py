"""Who ran an evaluation and from which policy commit: read from the CI's variables and
git by the command line, stated in the reports and OSCAL, and reproduced by verify."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.provenance import ci_run, policy_commit

ROOT = Path(__file__).resolve().parents[2]


def test_ci_run_from_each_ci() -> None:
    assert ci_run({}) is None
    github = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/fleet",
              "GITHUB_RUN_ID": "123"}
    assert ci_run(github) == "https://github.com/acme/fleet/actions/runs/123"
    assert ci_run({"CI_PIPELINE_URL": "https://gitlab.example/acme/-/pipelines/9"}) == \
        "https://gitlab.example/acme/-/pipelines/9"
    assert ci_run({"BUILD_URL": "https://jenkins.example/job/x/5/"}) == "https://jenkins.example/job/x/5/"
    # PATCHPOLICY_RUN_BY says it when the CI's own variables are not what should be shown.
    assert ci_run({**github, "PATCHPOLICY_RUN_BY": "nightly audit"}) == "nightly audit"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_policy_commit_from_git_and_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "policies"
    shutil.copytree(ROOT / "examples" / "policies", repo)
    assert policy_commit([repo]) is None  # not in a git work tree

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "policies")
    head = git("rev-parse", "HEAD")
    assert policy_commit([repo]) == head
    (repo / "baseline.yaml").write_text((repo / "baseline.yaml").read_text() + "\n# edited\n")
    assert policy_commit([repo]) == head + "+dirty"


def test_evaluate_states_the_run_and_verify_reproduces_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI_PIPELINE_URL", "https://gitlab.example/acme/-/pipelines/9")
    monkeypatch.setenv("PATCHPOLICY_POLICY_COMMIT", "0123abc")
    inputs = ["-p", "examples/policies", "-s", "examples/fleet.json"]
    result = CliRunner().invoke(main, ["evaluate", *inputs, "-o", "out", "--oscal-system-id", "F1"])
    assert result.exit_code == 1, result.output
    evidence = json.loads(Path("out/evidence.json").read_text())["render_options"]
    assert evidence["run_by"] == "https://gitlab.example/acme/-/pipelines/9"
    assert evidence["policy_commit"] == "0123abc" and evidence["oscal_system_id"] == "F1"
    html = Path("out/report.html").read_text()
    assert "run: https://gitlab.example/acme/-/pipelines/9; policies at git commit 0123abc" in html
    assert "<th>approved</th>" in html
    poam = json.loads(Path("out/oscal/poam.json").read_text())["plan-of-action-and-milestones"]
    assert poam["system-id"]["id"] == "F1"
    # Re-evaluated elsewhere (no CI variables), the bundle still reproduces byte for byte.
    monkeypatch.delenv("CI_PIPELINE_URL")
    monkeypatch.setenv("PATCHPOLICY_POLICY_COMMIT", "")
    check = CliRunner().invoke(main, ["verify", "out", *inputs])
    assert check.exit_code == 0, check.output
