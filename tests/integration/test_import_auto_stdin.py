"""``patchpolicy import`` without friction: FORMAT omitted or ``--format auto`` detects each
file's format (and says so), ``-`` reads standard input, a wrong FORMAT names the right
one; the old ``import FORMAT FILE...`` form is unchanged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from patchpolicy.cli import main

REALDATA = Path(__file__).parents[1] / "data" / "realdata" / "scanners"
TRIVY = REALDATA / "trivy" / "trivy-debian-buster.json"
NESSUS = REALDATA / "nessus" / "nessus-many-vuln.nessus"
QUALYS_XML = REALDATA / "qualys" / "qualys-sample-report.xml"
QUALYS_CSV = REALDATA / "qualys" / "qualys-vmdr-many-vulns-cve.csv"
OSV = REALDATA / "osv-scanner" / "osv-scanner-results-go-cargo.json"


def _import(*args: str | Path, stdin: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["import", *map(str, args)], input=stdin)


def _hosts(path: Path) -> list[str]:
    return [h["id"] for h in json.loads(path.read_text())["hosts"]]


def test_format_omitted_detects_each_file_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    result = _import(TRIVY, NESSUS, QUALYS_CSV, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert f"{TRIVY}: trivy (detected): host ghcr.io/aquasecurity/trivy-test-images:debian-buster" in result.stdout
    assert f"{NESSUS}: nessus (detected): host preprod.boardvantage.net" in result.stdout
    assert f"{QUALYS_CSV}: qualys (detected): host SERVER01" in result.stdout
    assert "preprod.boardvantage.net" in _hosts(out) and "SERVER01" in _hosts(out)


def test_format_auto_is_the_same_as_omitting_it(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert _import("--format", "auto", QUALYS_XML, "-o", a).exit_code == 0
    assert _import("auto", QUALYS_XML, "-o", b).exit_code == 0
    assert a.read_bytes() == b.read_bytes()
    assert _hosts(a)[0] == "demo13.s02.sjc01.qualys.com"


def test_the_old_form_is_unchanged_and_says_no_detection(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    result = _import("trivy", TRIVY, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert f"{TRIVY}: trivy: host" in result.stdout and "(detected)" not in result.stdout
    detected = tmp_path / "d.json"
    assert _import(TRIVY, "-o", detected).exit_code == 0
    assert detected.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    ("fmt", "src", "right"),
    [("nessus", QUALYS_XML, "qualys"), ("qualys", NESSUS, "nessus"), ("grype", TRIVY, "trivy"),
     ("trivy", QUALYS_CSV, "qualys"), ("aws-inspector2", NESSUS, "nessus")],
)
def test_a_wrong_format_exits_2_naming_the_detected_one(tmp_path: Path, fmt: str, src: Path, right: str) -> None:
    out = tmp_path / "f.json"
    result = _import(fmt, src, "-o", out)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {src}") and f"not a {fmt} report" in result.stderr
    assert f"it looks like a {right} report (use: import {right} ..." in result.stderr
    assert not out.exists()


def test_a_file_named_like_a_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A format name that is also a file is refused as ambiguous; ./name or --format decide."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(TRIVY, tmp_path / "trivy")
    result = _import("trivy", "-o", "f.json")
    assert result.exit_code == 2
    assert "'trivy' is both a format and a file here: write ./trivy" in result.stderr
    result = _import("./trivy", "-o", "f.json")
    assert result.exit_code == 0 and "trivy: trivy (detected)" in result.stdout
    result = _import("--format", "trivy", "trivy", "-o", "g.json")
    assert result.exit_code == 0 and "trivy: trivy: host" in result.stdout
    # not a file: the format, as always
    (tmp_path / "trivy").unlink()
    shutil.copy(TRIVY, tmp_path / "r.json")
    assert _import("trivy", "r.json", "-o", "h.json").exit_code == 0


def test_an_undetectable_report_asks_for_the_format(tmp_path: Path) -> None:
    # Was the Grype SARIF sample; SARIF is now refused with its own hint (issue 17 #5).
    other = tmp_path / "other.json"
    other.write_text('{"scanner": "something else", "items": []}')
    result = _import(other, "-o", tmp_path / "f.json")
    assert result.exit_code == 2
    assert f"{other}: cannot tell which scanner wrote this report" in result.stderr
    assert "name the format: import FORMAT FILE" in result.stderr
    sarif = REALDATA / "grype" / "grype-sarif-presenter-image.sarif.json"
    result = _import(sarif, "-o", tmp_path / "f.json")
    assert result.exit_code == 2
    assert f"{sarif}: $: this is a SARIF log written by grype" in result.stderr
    assert "run `grype -o json` and import that" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["trivy"], "no report FILE given"), (["-", "-"], "standard input ('-') given more than once"),
     (["trivvy", "x.json"], "Invalid value for 'FORMAT': 'trivvy' is not one of")],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = _import(*args, "-o", tmp_path / "f.json", stdin=b"{}")
    assert result.exit_code == 2
    assert message in result.stderr


def test_stdin_with_a_format_and_detected(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    result = _import("trivy", "-", "-o", out, stdin=TRIVY.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert "<stdin>: trivy: host ghcr.io/aquasecurity/trivy-test-images:debian-buster" in result.stdout
    by_file = tmp_path / "g.json"
    assert _import("trivy", TRIVY, "-o", by_file).exit_code == 0
    assert out.read_bytes() == by_file.read_bytes()
    # XML streamed from the spooled copy, detected; mixed with files
    result = _import("-", QUALYS_CSV, "-o", tmp_path / "h.json", stdin=NESSUS.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert "<stdin>: nessus (detected): host preprod.boardvantage.net" in result.stdout


def test_stdin_errors_name_stdin(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    result = _import("trivy", "-", "-o", out, stdin=TRIVY.read_bytes()[:500])
    assert result.exit_code == 2
    assert "<stdin>:" in result.stderr and "invalid JSON" in result.stderr
    result = _import("nessus", "-", "-o", out, stdin=QUALYS_XML.read_bytes())
    assert result.exit_code == 2
    assert "<stdin>: not a nessus report" in result.stderr and "it looks like a qualys report" in result.stderr
    # OSV-Scanner reports carry no scan time and stdin has no mtime: --scan-time is needed
    result = _import("-", "-o", out, stdin=OSV.read_bytes())
    assert result.exit_code == 2
    assert "<stdin>: the report has no scan time and standard input has no modification time" in result.stderr
    assert not out.exists()
    result = _import("-", "-o", out, "--scan-time", "2026-01-02T03:04:05Z", stdin=OSV.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert "scanned 2026-01-02T03:04:05Z (--scan-time)" in result.stdout


def test_stdin_through_a_real_process(tmp_path: Path) -> None:
    out = tmp_path / "f.json"
    with QUALYS_XML.open("rb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "patchpolicy", "import", "-", "-o", str(out)],
            stdin=fh, capture_output=True, text=True, check=False, timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    assert "<stdin>: qualys (detected): host demo13.s02.sjc01.qualys.com" in proc.stdout
    assert len(_hosts(out)) == 7


def test_the_help_names_every_format() -> None:
    from patchpolicy.importers import ImporterFormat

    result = CliRunner().invoke(main, ["import", "--help"])
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    body = help_text.split("Options:")[0]
    for fmt in ImporterFormat:
        assert fmt.value in body, f"the import docstring does not name {fmt.value}"
