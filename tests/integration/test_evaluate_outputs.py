"""evaluate writes the whole evidence bundle; check prints every machine format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from xml.etree import ElementTree as ET

from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.outdir import OUTPUT_MARKER
from patchpolicy.render import BundleOutput

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "tests" / "data" / "realdata" / "schemas"
ARGS = ("-p", "examples/policies", "-s", "examples/fleet.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr



def _files(d: Path) -> dict[str, bytes]:
    """The evidence files of a bundle (the output marker is not evidence)."""
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name != OUTPUT_MARKER}


def test_bundle_has_every_output_and_sums_cover_them(examples: Path) -> None:
    code, out, _ = run("evaluate", *ARGS, "-o", "out")
    assert code == 1, out
    files = _files(examples / "out")
    assert set(files) == {o.value for o in BundleOutput} | {"SHA256SUMS"}
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    tasks = json.loads(files["tasks.json"])
    assert tasks["kind"] == "RemediationPlan" and tasks["as_of"] == "2026-11-20T06:00:00Z"
    assert files["tasks.csv"].startswith(b"id,summary,host,")
    assert files["tasks.ics"].startswith(b"BEGIN:VCALENDAR\r\n")


def test_two_runs_are_byte_identical_for_every_file(examples: Path) -> None:
    run("evaluate", *ARGS, "-o", "a")
    run("evaluate", *ARGS, "-o", "b")
    a, b = _files(examples / "a"), _files(examples / "b")
    assert a == b and len(a) == len(BundleOutput) + 1


def test_check_formats(examples: Path) -> None:
    code, out, _ = run("check", *ARGS, "--format", "sarif")
    assert code == 1
    log = json.loads(out)
    assert log["version"] == "2.1.0" and log["runs"][0]["results"]
    code, out, _ = run("check", *ARGS, "--format", "junit")
    assert code == 1
    assert ET.fromstring(out.encode()).tag == "testsuites"
    code, out, _ = run("check", *ARGS, "--format", "markdown", "--limit", "3")
    assert code == 1
    assert out.startswith("### patchpolicy check: FAIL (10 failing)") and "3 worst items" in out
    code, out, _ = run("check", *ARGS, "--format", "json")
    assert code == 1 and json.loads(out)["kind"] == "Evidence"
    code, _, err = run("check", *ARGS, "--format", "yaml")
    assert code == 2 and "yaml" in err


def test_check_sarif_and_junit_match_the_bundle(examples: Path) -> None:
    run("evaluate", *ARGS, "-o", "out")
    _, sarif, _ = run("check", *ARGS, "--format", "sarif")
    assert sarif.encode() == (examples / "out" / "results.sarif").read_bytes()
    _, junit, _ = run("check", *ARGS, "--format", "junit")
    assert junit.encode() == (examples / "out" / "junit.xml").read_bytes()


def test_bundle_outputs_validate_against_official_schemas(examples: Path) -> None:
    import regex
    import xmlschema
    from jsonschema import Draft4Validator, Draft7Validator, validators  # type: ignore[import-untyped]
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

    def pattern(_v: object, pat: str, instance: object, _s: object) -> object:
        if isinstance(instance, str) and not regex.search(pat, instance):
            yield ValidationError(f"{instance!r} does not match {pat!r}")

    run("evaluate", *ARGS, "-o", "out")
    out = examples / "out"
    for name, schema, base in (
        ("results.sarif", "sarif-schema-2.1.0.json", Draft4Validator),
        ("oscal/assessment-results.json", "oscal_assessment-results_schema_v1.1.3.json", Draft7Validator),
        ("oscal/poam.json", "oscal_poam_schema_v1.1.3.json", Draft7Validator),
    ):
        cls = validators.extend(base, {"pattern": pattern})
        errors = list(cls(json.loads((SCHEMAS / schema).read_text())).iter_errors(
            json.loads((out / name).read_text())))
        assert errors == [], (name, errors[:3])
    xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd")).validate(str(out / "junit.xml"))
