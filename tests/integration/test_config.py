"""The configuration file: patchpolicy.toml (or [tool.patchpolicy] in pyproject.toml),
found here or above, gives option defaults; command-line flags win; anything it does not
know is an error naming the file and line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A policy repository: examples/ copied, the working directory."""
    shutil.copytree(ROOT / "examples" / "policies", tmp_path / "policies")
    shutil.copy(ROOT / "examples" / "fleet.json", tmp_path / "fleet.json")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


CONFIG = """\
policies = ["policies"]
snapshot = "fleet.json"
fail-on = ["due_soon"]
"""


def test_config_supplies_policies_snapshot_and_fail_on(repo: Path) -> None:
    explicit = run("--no-config", "check", "-p", "policies", "-s", "fleet.json",
                   "--fail-on", "due_soon", "--format", "json")
    (repo / "patchpolicy.toml").write_text(CONFIG)
    configured = run("check", "--format", "json")
    assert configured.exit_code == explicit.exit_code == 1, configured.stderr
    assert configured.stdout == explicit.stdout
    assert json.loads(configured.stdout)["summary"]["gate"]["fail_on"] == ["due_soon"]
    # Commands that do not require a snapshot are not given one (verify would re-evaluate).
    assert run("windows", "--from", "2026-12-01", "--count", "1").exit_code == 0


def test_flags_win_over_the_config(repo: Path) -> None:
    (repo / "patchpolicy.toml").write_text(CONFIG + '\n[check]\nformat = "json"\n')
    as_configured = run("check")
    assert json.loads(as_configured.stdout)["summary"]["gate"]["fail_on"] == ["due_soon"]
    flagged = run("check", "--format", "text", "--fail-on", "remediated_late")
    assert flagged.stdout.startswith("patchpolicy check at ")
    # A repeatable option on the command line replaces the configured list.
    json_out = run("check", "--fail-on", "remediated_late")
    assert json.loads(json_out.stdout)["summary"]["gate"]["fail_on"] == ["remediated_late"]
    assert run("--no-config", "check").exit_code == 2  # -p and -s are required again


def test_config_found_upward_with_paths_relative_to_it(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "patchpolicy.toml").write_text(CONFIG)
    sub = repo / "deep" / "er"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    result = run("check")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("patchpolicy check at 2026-11-20T06:00:00Z: 7 hosts")


def test_pyproject_tool_table(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "fleet"\n\n[tool.patchpolicy]\n'
                                         + CONFIG + '\n[tool.patchpolicy.check]\nformat = "junit"\n')
    result = run("check")
    assert result.exit_code == 1, result.stderr
    assert result.stdout.startswith("<?xml")
    # A pyproject.toml without the table is passed over (and a patchpolicy.toml wins).
    (repo / "patchpolicy.toml").write_text('policies = ["policies"]\nsnapshot = "fleet.json"\n')
    assert run("check").stdout.startswith("patchpolicy check at ")


def test_explicit_config_file(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("conf") / "ci.toml"
    elsewhere.write_text(f'policies = ["{repo / "policies"}"]\nsnapshot = "{repo / "fleet.json"}"\n')
    assert run("--config", str(elsewhere), "check").exit_code == 1
    missing = run("--config", str(repo / "nope.toml"), "check")
    assert missing.exit_code == 2 and "nope.toml: no such configuration file" in missing.stderr


@pytest.mark.parametrize(("text", "message"), [
    ('policies = ["policies"]\nfial-on = ["due_soon"]\n',
     "patchpolicy.toml:2:1: unknown key 'fial-on'"),
    ('policies = ["policies"\n', "patchpolicy.toml:1:23: invalid TOML: unclosed array"),
    ('[check]\nformat = "pdf"\n', "patchpolicy.toml:2:1: format: 'pdf' is not one of"),
    ('[check]\ncolour = true\n', "patchpolicy.toml:2:1: [check] has no option --colour"),
    ('[chekc]\nformat = "json"\n', "patchpolicy.toml:1:1: unknown command [chekc]"),
    ('error-format = "xml"\n', "patchpolicy.toml:1:1: error-format: 'xml' is not one of"),
])
def test_bad_config_exits_2_naming_file_and_line(repo: Path, text: str, message: str) -> None:
    (repo / "patchpolicy.toml").write_text(text)
    result = run("check", "-p", "policies", "-s", "fleet.json")
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr
    assert result.stdout == ""


def test_a_list_of_snapshots_fills_check_but_not_plan(repo: Path) -> None:
    """check and evaluate read several files as the shards of one snapshot; plan one file."""
    (repo / "patchpolicy.toml").write_text('policies = ["policies"]\n'
                                           'snapshot = ["fleet.json", "more.json"]\n')
    result = run("plan")
    assert result.exit_code == 2
    assert "patchpolicy.toml:2:1: snapshot: takes one value" in result.stderr, result.stderr
    (repo / "more.json").write_bytes((repo / "fleet.json").read_bytes())
    result = run("check")
    assert result.exit_code == 2
    assert "fleet.json: a JSON document cannot be a shard" in result.stderr, result.stderr


def test_config_error_as_json(repo: Path) -> None:
    (repo / "patchpolicy.toml").write_text('fial-on = ["due_soon"]\n')
    result = run("--error-format", "json", "check")
    record = json.loads(result.stderr)
    assert record["code"] == "config" and "unknown key 'fial-on'" in record["message"]


def test_error_format_from_config(repo: Path) -> None:
    (repo / "patchpolicy.toml").write_text(CONFIG + 'error-format = "json"\n')
    (repo / "fleet.json").write_text('{"hosts": [}')
    result = run("check")
    assert result.exit_code == 2
    record = json.loads(result.stderr)
    assert record["file"] == "fleet.json" and record["code"] == "snapshot"
    # The flag wins here too.
    assert run("check", "--error-format", "text").stderr.startswith("error: fleet.json:1:")


def test_validate_and_test_default_to_the_configured_bundle(repo: Path) -> None:
    (repo / "patchpolicy.toml").write_text(CONFIG)
    alone = run("validate")
    assert alone.exit_code == 0, alone.stderr
    assert alone.stdout == run("validate", "policies").stdout
    assert alone.stdout.count(": ok ") == 3
    # PATHS given: only those.
    assert run("validate", "policies/pci.yaml").stdout.count(": ok ") == 1
    assert "no PolicyTest documents found" in run("test").stderr  # the bundle has none
