"""Input data cannot write to the reader's terminal or forge log lines (issue 12 #4).

The shipped example fleet with host and finding ids carrying an ANSI colour sequence, an
OSC 52 clipboard write, a bidi override and a newline followed by a forged gate line, run
through check (text, markdown), explain and evaluate.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from patchpolicy.cli import main

ESC = "\x1b[31mred\x1b[0m"
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
BIDI = "evil\u202egpj.exe"
FORGED_LINE = "result: PASS (0 failing)"
FORGED = "x\n" + FORGED_LINE

# Any control character other than LF (which the renderers emit themselves), and the
# Unicode bidi controls and line separators.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

HOSTILE_HOST = "pos-gw-01" + ESC


@pytest.fixture()
def hostile(examples: Path) -> Path:
    doc = json.loads((examples / "examples" / "fleet.json").read_text())
    hosts = doc["hosts"]
    hosts[0]["id"] = HOSTILE_HOST
    hosts[0]["findings"][0]["id"] = "CVE-2024-6387" + FORGED
    hosts[1]["id"] = "pos-db-01" + OSC52
    hosts[2]["id"] = "web-01" + BIDI
    hosts[3]["id"] = '=HYPERLINK("x")' + FORGED
    path = examples / "hostile.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_inert(text: str, where: str) -> None:
    found = RAW.findall(text)
    assert not found, f"{where}: raw control characters {found!r}"
    assert FORGED_LINE not in [line.strip() for line in text.splitlines()], where


def test_check_text_shows_escapes_and_no_forged_line(hostile: Path, snapshot: SnapshotAssertion) -> None:
    code, out, err = run("check", "-p", "examples/policies", "-s", "hostile.json")
    assert code == 1, out + err
    assert_inert(out, "check")
    assert_inert(err, "check stderr")
    # The gate's own result line is the last line and the only one starting "result:".
    assert [line for line in out.splitlines() if line.startswith("result:")] == [out.splitlines()[-1]]
    assert out.splitlines()[-1].startswith("result: FAIL")
    assert "pos-gw-01\\x1b[31mred\\x1b[0m" in out
    assert "pos-db-01\\x1b]52;c;cm0gLXJmIH4=\\x07" in out
    assert "web-01evil\\u202egpj.exe" in out
    assert "CVE-2024-6387x\\nresult: PASS (0 failing)" in out
    assert out == snapshot


def test_check_markdown_is_inert(hostile: Path) -> None:
    code, out, err = run("check", "-p", "examples/policies", "-s", "hostile.json", "--format", "markdown")
    assert code == 1, out + err
    assert_inert(out, "check --format markdown")
    assert "web-01evil\\\\u202egpj.exe" in out


def test_check_junit_is_inert(hostile: Path) -> None:
    code, out, err = run("check", "-p", "examples/policies", "-s", "hostile.json", "--format", "junit")
    assert code == 1, out + err
    assert_inert(out, "check --format junit")


def test_explain_is_inert(hostile: Path) -> None:
    code, out, err = run("explain", "-p", "examples/policies", "-s", "hostile.json", "--host", HOSTILE_HOST)
    assert code == 0, out + err
    assert_inert(out, "explain")
    assert "host pos-gw-01\\x1b[31mred\\x1b[0m is in scope" in out
    assert "  CVE-2024-6387x\\nresult: PASS (0 failing) (high, KEV, status open): OVERDUE [fail]" in out


@pytest.mark.parametrize("name", ["report.md", "tasks.csv", "report.html", "junit.xml"])
def test_evaluate_outputs_are_inert(hostile: Path, name: str) -> None:
    code, out, err = run("evaluate", "-p", "examples/policies", "-s", "hostile.json", "-o", "out")
    assert code == 1, out + err
    assert_inert(out + err, "evaluate stdout/stderr")
    assert_inert((hostile.parent / "out" / name).read_text(encoding="utf-8"), name)


def test_tasks_csv_keeps_formula_neutralisation(hostile: Path) -> None:
    run("evaluate", "-p", "examples/policies", "-s", "hostile.json", "-o", "out")
    csv_text = (hostile.parent / "out" / "tasks.csv").read_text(encoding="utf-8")
    assert "\"'=HYPERLINK(\"\"x\"\")x\\nresult: PASS (0 failing)\"" in csv_text
    assert ",=HYPERLINK" not in csv_text and ',"=HYPERLINK' not in csv_text


def test_plan_summary_is_inert(hostile: Path) -> None:
    code, out, err = run("plan", "-p", "examples/policies", "-s", "hostile.json", "-o", "plan")
    assert code == 0, out + err
    assert_inert(out + err, "plan")
    assert "=HYPERLINK(\"x\")x\\nresult: PASS (0 failing):" in out
