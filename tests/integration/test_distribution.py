"""The wheel is what users install: built from a copy of the source tree, it holds every
module and data file the code reads, carries the licence and project URLs, and the CLI
installed from it into a fresh venv runs the README's main job (and an import that reads
the vendored KEV schema) exactly as the source tree does.

Offline-friendly and quick: the fresh venv gets the wheel with ``--no-deps`` and sees the
dependencies already installed here through a ``.pth`` line (which does not activate this
environment's editable install of patchpolicy, so the wheel's copy is the one imported).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from patchpolicy.cli import main

pytestmark = pytest.mark.distribution

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "patchpolicy"
REALDATA = ROOT / "tests" / "data" / "realdata"
README_JOB = ["check", "-p", "examples/policies", "-s", "examples/fleet.json"]
NOT_SHIPPED = {"patchpolicy/importers/schemas/README.md"}
"""Files of the package directory that the code never reads (provenance notes)."""


def _setuptools_new_enough() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy holding only what the sdist's build needs, so a file
    the build reads from elsewhere in the checkout would make it fail here."""
    tree = tmp_path_factory.mktemp("tree")
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    out = tmp_path_factory.mktemp("dist")
    # With a setuptools that reads PEP 639 metadata installed, build without fetching one.
    isolation = ["--no-build-isolation"] if _setuptools_new_enough() else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
         "--wheel-dir", str(out), str(tree)],
        check=True, capture_output=True, env=_env(),
    )
    (built,) = out.glob("patchpolicy-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (no dependencies resolved), its bin dir."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=_env())
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-index", str(wheel)],
        check=True, capture_output=True, env=_env(),
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=_env(),
    ).stdout.strip()
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "_patchpolicy_test_deps.pth").write_text("\n".join(here) + "\n")
    return venv / "bin"


def test_wheel_holds_every_module_and_data_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    source = {
        p.relative_to(PACKAGE.parent).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert source - NOT_SHIPPED - names == set()
    assert "patchpolicy/importers/schemas/known_exploited_vulnerabilities_schema.json" in names
    license_file = next(n for n in names if n.endswith(".dist-info/licenses/LICENSE"))
    with zipfile.ZipFile(wheel) as z:
        assert z.read(license_file) == (ROOT / "LICENSE").read_bytes()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Project-URL: Source, https://github.com/patchpolicy/patchpolicy" in metadata
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()


def test_installed_cli_runs_the_readme_job(installed: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    where = subprocess.run(
        [str(installed / "python"), "-c", "import patchpolicy; print(patchpolicy.__file__)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=_env(),
    ).stdout.strip()
    assert Path(where).is_relative_to(installed.parent), where
    run = subprocess.run([str(installed / "patchpolicy"), *README_JOB], cwd=tmp_path,
                         capture_output=True, env={**_env(), "NO_COLOR": "1"})
    monkeypatch.chdir(tmp_path)
    expected = CliRunner().invoke(main, README_JOB, env={"NO_COLOR": "1"})
    assert run.returncode == expected.exit_code == 1, run.stderr
    assert run.stdout == expected.stdout_bytes
    assert b"FAIL" in run.stdout


def test_installed_import_reads_the_vendored_schema(installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    run = subprocess.run(
        [str(installed / "patchpolicy"), "import", "grype",
         str(REALDATA / "scanners/grype/grype-keycloak-21.0.2.json"), "-o", str(out),
         "--kev", str(REALDATA / "intel/known_exploited_vulnerabilities.json")],
        capture_output=True, text=True, env=_env(),
    )
    assert run.returncode == 0, run.stderr
    assert out.is_file()


# --- action.yml: its shell steps, run as GitHub would (bash -eo pipefail), inputs as env ---

ACTION = ROOT / "action.yml"


def _action() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(ACTION.read_text())
    return loaded


def _expand(text: str, inputs: dict[str, str], outputs: dict[str, str], action_path: Path) -> str:
    """What the runner puts in place of ${{ ... }} in an env value or a condition."""

    def one(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        if name.startswith("inputs."):
            return inputs[name.removeprefix("inputs.")]
        if name.startswith("steps.check.outputs."):
            return outputs.get(name.removeprefix("steps.check.outputs."), "")
        if name == "github.action_path":
            return str(action_path)
        pytest.fail(f"action.yml: no test value for ${{{{ {name} }}}}")

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


@dataclass
class ActionRun:
    outputs: dict[str, str]
    codes: list[tuple[str, int]]
    log: str
    uploaded: str | None
    """The sarif_file the upload step would get, when its condition holds."""


def run_action(given: dict[str, str], cwd: Path, path: str, skip: tuple[str, ...] = ()) -> ActionRun:
    action = _action()
    inputs = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    for k, v in action["inputs"].items():
        assert v.get("required") or k in given or "default" in v
    inputs.update(given)
    outputs: dict[str, str] = {}
    codes: list[tuple[str, int]] = []
    log = ""
    uploaded = None
    for step in action["runs"]["steps"]:
        condition = step.get("if")
        if condition is not None and not _condition(condition, inputs):
            continue
        if step["name"] in skip:
            continue
        if "uses" in step:
            if step["uses"].startswith("github/codeql-action/upload-sarif@"):
                uploaded = _expand(step["with"]["sarif_file"], inputs, outputs, ROOT)
            continue
        assert step["shell"] == "bash"
        github_output = cwd / "github_output"
        github_output.write_text("")
        env = {**_env(), "PATH": path, "NO_COLOR": "1", "GITHUB_OUTPUT": str(github_output)}
        env.update({k: _expand(str(v), inputs, outputs, ROOT) for k, v in step.get("env", {}).items()})
        # Inputs reach the scripts only through env: no ${{ }} inside a run: block.
        assert "${{" not in step["run"], step["name"]
        run = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                             cwd=cwd, env=env, capture_output=True, text=True)
        log += run.stdout + run.stderr
        codes.append((step["name"], run.returncode))
        if step.get("id") == "check":
            outputs.update(line.split("=", 1) for line in github_output.read_text().splitlines())
        if run.returncode != 0:
            break
    return ActionRun(outputs, codes, log, uploaded)


def _condition(condition: str, inputs: dict[str, str]) -> bool:
    """The condition forms action.yml uses: `inputs.NAME == 'x'` or `!=`, joined by &&."""
    ok = True
    for part in condition.split("&&"):
        m = re.fullmatch(r"\s*inputs\.([\w-]+)\s*(==|!=)\s*'(.*)'\s*", part)
        assert m is not None, f"action.yml: condition not understood by the test: {part}"
        ok = ok and ((inputs[m.group(1)] == m.group(3)) == (m.group(2) == "=="))
    return ok


@pytest.fixture(scope="module")
def action_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv without patchpolicy for the action's install step: pip and the
    dependencies come from this environment through a .pth line."""
    venv = tmp_path_factory.mktemp("action-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   env=_env())
    site = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True, env=_env(),
    ).stdout.strip()
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "_patchpolicy_test_deps.pth").write_text("\n".join(here) + "\n")
    return venv / "bin"


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    return tmp_path


def _path(bin_dir: Path) -> str:
    return f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def test_action_installs_gates_and_uploads_sarif(wheel: Path, action_python: Path, repo: Path) -> None:
    # The install step as a user's workflow runs it, with the wheel in place of the
    # action's checkout (--ignore-installed: this environment's editable copy stays alone).
    run = run_action({"snapshot": "examples/fleet.json", "policies": "examples/policies",
                      "python-version": "", "install": str(wheel),
                      "pip-args": "--no-deps --no-index --ignore-installed"},
                     repo, _path(action_python))
    assert [name for name, _ in run.codes] == [
        "Install patchpolicy", "Run patchpolicy check", "Fail when the gate failed"]
    assert run.codes[-1][1] == 1 and run.codes[1][1] == 0, run.log
    assert "patchpolicy, version 0.1.0" in run.log
    assert "::error::patchpolicy check: the gate fails (exit 1)" in run.log
    assert run.outputs == {"file": "patchpolicy.sarif", "exit-code": "1"}
    assert run.uploaded == "patchpolicy.sarif"
    sarif = json.loads((repo / "patchpolicy.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    where = subprocess.run([str(action_python / "python"), "-c",
                            "import patchpolicy; print(patchpolicy.__file__)"],
                           capture_output=True, text=True, check=True, env=_env()).stdout
    assert Path(where.strip()).is_relative_to(action_python.parent)


@pytest.fixture()
def installed_path(installed: Path) -> str:
    """PATH for the steps after install: the CLI from the wheel's venv."""
    return _path(installed)


INSTALLED = ("Set up Python", "Install patchpolicy")
"""Steps the first action test runs; the others start with the wheel's CLI on PATH."""


def test_action_inputs_reach_check(installed_path: str, repo: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    given = {"snapshot": "examples/fleet.json", "policies": "examples/policies",
             "format": "json", "fail-on": "due_soon remediated_late", "fail": "false"}
    run = run_action(given, repo, installed_path, skip=INSTALLED)
    assert run.codes[-1] == ("Fail when the gate failed", 0), run.log
    assert run.outputs == {"file": "patchpolicy.json", "exit-code": "1"}
    assert run.uploaded is None
    monkeypatch.chdir(repo)
    expected = CliRunner().invoke(main, ["check", "-p", "examples/policies", "-s",
                                         "examples/fleet.json", "--format", "json",
                                         "--fail-on", "due_soon", "--fail-on", "remediated_late"])
    assert (repo / "patchpolicy.json").read_bytes() == expected.stdout_bytes
    assert json.loads(expected.stdout)["summary"]["gate"]["fail_on"] == ["due_soon", "remediated_late"]


def test_action_bad_input_stops_before_the_upload(installed_path: str, repo: Path) -> None:
    (repo / "broken.json").write_text('{"hosts": [}')
    run = run_action({"snapshot": "broken.json", "policies": "examples/policies"},
                     repo, installed_path, skip=INSTALLED)
    assert run.codes[-1] == ("Run patchpolicy check", 2), run.log
    assert "::error file=broken.json,line=1," in run.log  # an annotation on the file
    assert run.uploaded is None
    assert run.outputs["exit-code"] == "2"
    bad = run_action({"snapshot": "examples/fleet.json", "format": "html"},
                     repo, installed_path, skip=INSTALLED)
    assert bad.codes[-1] == ("Run patchpolicy check", 2)
    assert "format must be sarif, json, junit, markdown or text, not 'html'" in bad.log


# --- the Containerfile (not built here) and the documented lines around the install ---

INSTALL_DOC = ROOT / "docs" / "install.md"


def test_documented_docker_run_line_runs_the_entry_point(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    containerfile = (ROOT / "Containerfile").read_text()
    assert 'ENTRYPOINT ["patchpolicy"]' in containerfile
    assert "WORKDIR /work" in containerfile
    (line,) = [t for t in INSTALL_DOC.read_text().splitlines() if t.startswith("docker run ")]
    assert line in containerfile, "the Containerfile's comment and docs/install.md disagree"
    words = shlex.split(line)
    mount = words[words.index("-v") + 1]
    assert mount.split(":")[1] == "/work"
    image_at = words.index("patchpolicy")
    assert f"docker build -t {words[image_at]} -f Containerfile ." in INSTALL_DOC.read_text()
    # The image's working directory is the mounted one: run the arguments there.
    shutil.copytree(ROOT / "policies" / "pci", tmp_path / "policies")
    shutil.copy(ROOT / "examples" / "fleet.json", tmp_path / "fleet.json")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, words[image_at + 1:])
    assert result.exit_code in (0, 1), result.stderr
    assert result.stdout.startswith("patchpolicy check at ")


def test_documented_shell_completion(installed: Path) -> None:
    for shell in ("bash", "zsh", "fish"):
        assert f"_PATCHPOLICY_COMPLETE={shell}_source patchpolicy" in INSTALL_DOC.read_text()
        script = subprocess.run([str(installed / "patchpolicy")], capture_output=True, text=True,
                                env={**_env(), "_PATCHPOLICY_COMPLETE": f"{shell}_source"})
        assert script.returncode == 0 and "_PATCHPOLICY_COMPLETE" in script.stdout
    answer = subprocess.run(
        [str(installed / "patchpolicy")], capture_output=True, text=True,
        env={**_env(), "_PATCHPOLICY_COMPLETE": "bash_complete", "COMP_WORDS": "patchpolicy ch",
             "COMP_CWORD": "1"},
    ).stdout.split()
    assert answer == ["plain,check"]
