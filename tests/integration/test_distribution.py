"""The wheel is what users install: built from a copy of the source tree, it holds every
module and data file the code reads, carries the licence and project URLs, and the CLI
installed from it into a fresh venv runs the README's main job (and an import that reads
the vendored KEV schema) exactly as the source tree does.

Offline-friendly and quick: the fresh venv gets the wheel with ``--no-deps`` and sees the
dependencies already installed here through a ``.pth`` line (which does not activate this
environment's editable install of patchpolicy, so the wheel's copy is the one imported).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

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
