"""The CI recipes in docs/ci.md and the hooks in .pre-commit-hooks.yaml actually work: every
``patchpolicy`` line of every recipe is run, as written, in a policy repository made of
the PCI DSS pack (with its tests) and the example fleet, and what it writes is checked
against what the recipe does with it (SARIF upload, JUnit report, PR comment)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ci.md"
HOOKS = ROOT / ".pre-commit-hooks.yaml"

# What the CI systems would put in place of their expressions and variables.
GITHUB_EXPRESSIONS = {"github.base_ref": "main"}
GITLAB_VARIABLES = {"CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
GATES = {"check", "diff"}
"""Commands whose exit 1 is a verdict, not a broken recipe; every other must exit 0."""


def recipes() -> dict[str, Any]:
    """The YAML blocks of docs/ci.md by the file name in their first-line comment."""
    found: dict[str, Any] = {}
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S):
        first = block.splitlines()[0]
        assert first.startswith("# "), f"docs/ci.md: a yaml block must start with '# FILE': {first}"
        found[first[2:].strip()] = YAML(typ="safe").load(block)
    return found


@dataclass(frozen=True)
class Line:
    where: str
    text: str
    gate_guarded: bool = False
    """The step lets the job go on (continue-on-error) so later steps see its output."""


def github_lines(workflow: dict[str, Any]) -> list[Line]:
    return [
        Line(f"jobs.{job_name}.steps[{i}]", text.strip(), bool(step.get("continue-on-error")))
        for job_name, job in workflow["jobs"].items()
        for i, step in enumerate(job["steps"])
        for text in str(step.get("run", "")).splitlines()
        if text.strip().startswith("patchpolicy ")
    ]


def gitlab_lines(pipeline: dict[str, Any]) -> list[Line]:
    return [
        Line(f"{job_name}.{key}", str(text))
        for job_name, job in pipeline.items()
        if isinstance(job, dict) and "script" in job
        for key in ("before_script", "script")
        for text in job.get(key, [])
        if str(text).startswith("patchpolicy ")
    ]


def substitute(text: str) -> str:
    def expression(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        if name not in GITHUB_EXPRESSIONS:
            pytest.fail(f"docs/ci.md: no test value for the expression ${{{{ {name} }}}}")
        return GITHUB_EXPRESSIONS[name]

    def variable(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in GITLAB_VARIABLES:
            pytest.fail(f"docs/ci.md: no test value for the variable ${name}")
        return GITLAB_VARIABLES[name]

    text = re.sub(r"\$\{\{(.*?)\}\}", expression, text)
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", variable, text)


def run_line(line: Line, cwd: Path) -> tuple[int, Path | None]:
    """Run one recipe line with the CLI; return its exit code and the file it wrote."""
    words = shlex.split(substitute(line.text))
    target: Path | None = None
    if ">" in words:
        at = words.index(">")
        target, words = cwd / words[at + 1], words[:at]
    assert words[0] == "patchpolicy"
    command = words[1]
    if command not in main.commands:
        pytest.fail(
            f"docs/ci.md ({line.where}) runs `patchpolicy {command}`, which this patchpolicy "
            f"does not have (commands: {', '.join(sorted(main.commands))})"
        )
    result = CliRunner().invoke(main, words[1:])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    allowed = {0, 1} if command in GATES else {0}
    assert result.exit_code in allowed, (
        f"docs/ci.md ({line.where}): `{line.text}` exited {result.exit_code}\n"
        f"{result.stderr}{result.stdout[-2000:]}"
    )
    if target is not None:
        target.write_bytes(result.stdout_bytes)
    return result.exit_code, target


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=CI", "-c", "user.email=ci@example.com",
         "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True,
    )


@pytest.fixture()
def policy_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A policy repository: the PCI pack in policies/, the example fleet, a main branch
    (as origin/main) and a pull request's working tree that weakens one rule."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "policies" / "pci", repo / "policies")
    shutil.copy(ROOT / "examples" / "fleet.json", repo / "fleet.json")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "main")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    policy = repo / "policies" / "pci-dss.yaml"
    text = policy.read_text()
    assert "within: 30d" in text and "version: 1.0.0" in text
    policy.write_text(text.replace("within: 30d", "within: 45d", 1)
                      .replace("version: 1.0.0", "version: 2.0.0", 1))
    monkeypatch.chdir(repo)
    return repo


def test_docs_hold_the_four_recipes() -> None:
    assert set(recipes()) == {".pre-commit-config.yaml", ".github/workflows/policies.yml",
                              ".gitlab-ci.yml", ".github/workflows/patchpolicy.yml"}


def test_no_recipe_installs_from_an_index() -> None:
    # patchpolicy is not published: a bare `pip install patchpolicy` would fetch nothing
    # (or someone else's package).
    text = DOC.read_text()
    bare = re.findall(r"pip install (?:-\S+ )*['\"]?patchpolicy(?:\[\w+\])?['\"]?(?=\s|$)(?!\s*@)", text, re.M)
    assert bare == []
    assert text.count('pip install "patchpolicy @ git+https://github.com/patchpolicy/patchpolicy@v') >= 4


def test_action_recipe_uses_the_action_inputs(policy_repo: Path) -> None:
    workflow = recipes()[".github/workflows/patchpolicy.yml"]
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    steps = workflow["jobs"]["gate"]["steps"]
    (step,) = [s for s in steps if str(s.get("uses", "")).startswith("patchpolicy/patchpolicy@")]
    given = step["with"]
    assert set(given) <= set(action["inputs"])
    assert {k for k, v in action["inputs"].items() if v.get("required")} <= set(given)
    assert workflow["jobs"]["gate"]["permissions"]["security-events"] == "write"
    # What the action's check step runs with these inputs, as a recipe line.
    line = (f"patchpolicy check -p {given['policies']} -s {given['snapshot']} --format sarif "
            + " ".join(f"--fail-on {f}" for f in str(given.get("fail-on", "")).split()))
    code, _ = run_line(Line("action", line), policy_repo)
    assert code == 1


def test_pre_commit_hooks(policy_repo: Path) -> None:
    hooks = {h["id"]: h for h in YAML(typ="safe").load(HOOKS.read_text())}
    assert set(hooks) == {"patchpolicy-validate", "patchpolicy-test"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= hook.keys()
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert re.search(hook["files"], "policies/pci-dss.yaml")
    config = recipes()[".pre-commit-config.yaml"]
    used = [h for repo in config["repos"] for h in repo["hooks"]]
    assert {h["id"] for h in used} == set(hooks)
    for h in used:
        hook = hooks[h["id"]]
        args = h.get("args", hook.get("args", []))
        code, _ = run_line(Line(f"hook {h['id']}", " ".join([hook["entry"], *args])), policy_repo)
        assert code == 0


def test_github_actions_recipe(policy_repo: Path) -> None:
    workflow = recipes()[".github/workflows/policies.yml"]
    lines = github_lines(workflow)
    assert {shlex.split(line.text)[1] for line in lines} == {"validate", "test", "check", "diff"}
    outputs: dict[str, Path] = {}
    for line in lines:
        code, target = run_line(line, policy_repo)
        if shlex.split(line.text)[1] in GATES:
            assert line.gate_guarded, f"{line.where}: a gate step needs continue-on-error"
        if target is not None:
            outputs[target.name] = target
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    # SARIF to code scanning.
    upload = next(s for s in steps if str(s.get("uses", "")).startswith(
        "github/codeql-action/upload-sarif@"))
    sarif = json.loads(outputs[upload["with"]["sarif_file"]].read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    assert workflow["jobs"]["gate"]["permissions"]["security-events"] == "write"
    # The markdown diff becomes the PR comment.
    comment = next(s for s in steps if "gh pr comment" in str(s.get("run", "")))
    body = re.search(r"--body-file (\S+)", comment["run"])
    assert body is not None
    markdown = outputs[body.group(1)].read_text()
    assert markdown.startswith("### patchpolicy diff\n")
    assert "**1 weakening**" in markdown and "#### Impact on `fleet.json`" in markdown
    assert workflow["jobs"]["review"]["steps"][0]["with"]["fetch-depth"] == 0


def test_gitlab_ci_recipe(policy_repo: Path) -> None:
    pipeline = recipes()[".gitlab-ci.yml"]
    lines = gitlab_lines(pipeline)
    assert {shlex.split(line.text)[1] for line in lines} == {"validate", "test", "check", "diff"}
    outputs: dict[str, Path] = {}
    codes: dict[str, int] = {}
    for line in lines:
        code, target = run_line(line, policy_repo)
        codes[shlex.split(line.text)[1]] = code
        if target is not None:
            outputs[target.name] = target
    report = pipeline["gate"]["artifacts"]["reports"]["junit"]
    assert pipeline["gate"]["artifacts"]["when"] == "always"
    junit = ET.fromstring(outputs[report].read_bytes())
    assert junit.tag in ("testsuites", "testsuite")
    failures = junit.findall(".//failure") + junit.findall(".//error")
    assert (codes["check"] == 1) == bool(failures)
    assert outputs["diff.md"].read_text().startswith("### patchpolicy diff\n")
    assert "diff.md" in pipeline["review"]["artifacts"]["paths"]
