"""Every output tells the same story as the exit code, for every --format and --fail-on.

The fleet is built so that each --fail-on value changes the gate on its own: with no
overdue item, only the values named decide pass or fail.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from patchpolicy.cli import FAIL_ON, main

POLICY = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: p
  version: 1.0.0
  controls: [{framework: ISO-27001, version: "2022", id: A.8.8}]
spec:
  due_soon: 7d
  clock: [first_seen]
  rules:
    - {id: all, when: 'true', within: 10d, controls: [A.8.8]}
  exceptions: {max_lifetime: 30d}
"""
EXCEPTIONS = """\
apiVersion: patchpolicy/v1
kind: ExceptionSet
metadata: {name: x}
exceptions:
  - id: EXC-OLD
    match: finding.vuln == "CVE-3"
    justification: expired before as-of
    approved_by: a@example.com
    approved_at: 2026-10-01
    expires: 2026-10-20
"""
AS_OF = "2026-11-20T00:00:00Z"


def finding(fid: str, **kw: str) -> dict[str, str]:
    return {"id": fid, "vuln": fid, **kw}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    d = tmp_path_factory.mktemp("gate")
    (d / "policies").mkdir()
    (d / "policies" / "p.yaml").write_text(POLICY)
    (d / "policies" / "x.yaml").write_text(EXCEPTIONS)
    fleet = {
        "apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": AS_OF,
        "hosts": [{"id": "h", "last_scan": AS_OF, "findings": [
            # due soon: deadline 2026-11-25, within 7 days of as-of
            finding("CVE-1", first_seen_at="2026-11-15T00:00:00Z"),
            # remediated late: fixed 2026-11-05, deadline 2026-11-01
            finding("CVE-2", first_seen_at="2026-10-22T00:00:00Z", status="fixed",
                    fixed_at="2026-11-05T00:00:00Z"),
            # matched by the expired exception; still open, not due for a while
            finding("CVE-3", first_seen_at="2026-11-19T00:00:00Z"),
        ]}],
    }
    (d / "fleet.json").write_text(json.dumps(fleet))
    return str(d / "policies"), str(d / "fleet.json")


def gate_of(fmt: str, out: str) -> tuple[str, int]:
    """(pass|fail, failing count) as the rendered output states it."""
    if fmt == "json":
        gate = json.loads(out)["summary"]["gate"]
        return gate["result"], gate["failing"]
    if fmt == "sarif":
        run = json.loads(out)["runs"][0]
        errors = sum(1 for r in run["results"] if r["level"] == "error" and not r.get("suppressions"))
        failing = run["properties"]["failing"]
        assert errors <= failing  # exceptions that fail the gate are not results
        return ("fail" if failing else "pass"), failing
    if fmt == "junit":
        failures = int(ET.fromstring(out).get("failures", "-1"))
        return ("fail" if failures else "pass"), failures
    last = out.strip().splitlines()[0 if fmt == "markdown" else -1]
    word = "fail" if "FAIL" in last else "pass" if "PASS" in last else "?"
    return word, int(last.split("(")[1].split(" ")[0])


FORMATS = ["text", "json", "sarif", "junit", "markdown"]
COMBOS = [()] + [(f,) for f in FAIL_ON] + [tuple(FAIL_ON)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fail_on", COMBOS, ids=lambda c: "+".join(c) or "default")
def test_every_format_agrees_with_the_exit_code(inputs: tuple[str, str], fmt: str,
                                                fail_on: tuple[str, ...]) -> None:
    policies, fleet = inputs
    args = ["check", "-p", policies, "-s", fleet, "--as-of", AS_OF, "--format", fmt]
    args += list(itertools.chain.from_iterable(("--fail-on", f) for f in fail_on))
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output
    word, failing = gate_of(fmt, result.stdout)
    assert word == ("fail" if result.exit_code else "pass"), (fmt, fail_on, result.stdout[-400:])
    assert (failing > 0) == (result.exit_code == 1)


@pytest.mark.parametrize("fail_on", ["due_soon", "remediated_late", "expired_exception"])
def test_each_fail_on_value_fails_the_fleet_alone(inputs: tuple[str, str], fail_on: str) -> None:
    policies, fleet = inputs
    base = ["check", "-p", policies, "-s", fleet, "--as-of", AS_OF]
    assert CliRunner().invoke(main, base).exit_code == 0
    assert CliRunner().invoke(main, [*base, "--fail-on", fail_on]).exit_code == 1


def test_empty_scope_fails_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(POLICY.replace("spec:\n", "spec:\n  scope: '\"pci\" in host.tags'\n"))
    fleet = tmp_path / "f.json"
    fleet.write_text(json.dumps({"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",
                                 "taken_at": AS_OF, "hosts": [{"id": "h", "last_scan": AS_OF}]}))
    base = ["check", "-p", str(tmp_path / "p.yaml"), "-s", str(fleet)]
    result = CliRunner().invoke(main, base)
    assert result.exit_code == 1
    assert "policy p judged nothing" in result.stdout and "NOT ASSESSED" in result.stdout
    assert "result: FAIL (1 failing; empty_scope 1)" in result.stdout
    evidence = json.loads(CliRunner().invoke(main, [*base, "--format", "json"]).stdout)
    assert evidence["summary"]["gate"]["empty_scope"] == ["p"]
    assert [c["status"] for c in evidence["controls"]] == ["not_assessed"]
    allowed = CliRunner().invoke(main, [*base, "--allow-empty-scope"])
    assert allowed.exit_code == 0 and "judged nothing" in allowed.stdout
    # A snapshot with no hosts at all is never a pass either.
    fleet.write_text(json.dumps({"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot",
                                 "taken_at": AS_OF, "hosts": []}))
    assert CliRunner().invoke(main, base).exit_code == 1
