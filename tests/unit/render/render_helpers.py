"""Helpers for renderer tests: a fixed evaluation of the shipped examples, and validators
for the official schemas (OASIS SARIF, NIST OSCAL, Jenkins JUnit)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from patchpolicy.api import evaluate_files
from patchpolicy.evidence_bundle import PLAN_HORIZON
from patchpolicy.planner import plan
from patchpolicy.render.interface import RenderContext, RenderOptions
from patchpolicy.snapshot import open_snapshot

ROOT = Path(__file__).resolve().parents[3]
# Official schemas copied whole; tests/data/SOURCES.md names origin and licence.
SCHEMAS = ROOT / "tests" / "data" / "realdata" / "schemas"
AS_OF = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def build_context(as_of: datetime = AS_OF) -> RenderContext:
    """The examples evaluated at ``as_of``, with paths relative to the repository root."""
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        run = evaluate_files(["examples/policies"], "examples/fleet.json", as_of=as_of)
        ev, inputs = run.evaluation, run.inputs
        tasks = plan(ev.bundle, ev, open_snapshot("examples/fleet.json").hosts(), as_of=ev.as_of,
                     horizon=PLAN_HORIZON)
    finally:
        os.chdir(cwd)
    return RenderContext(ev, inputs, tasks)


def _regex_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    """``pattern`` with the ``regex`` module: OSCAL uses ``\\p{L}``, which ``re`` rejects."""
    import regex
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

    if isinstance(instance, str) and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def json_errors(schema_path: Path, document: Any) -> list[str]:
    """Every schema error of ``document`` as ``path: message`` (draft from ``$schema``)."""
    from jsonschema import (  # type: ignore[import-untyped]
        Draft4Validator,
        Draft7Validator,
        validators,
    )

    schema = json.loads(schema_path.read_text())
    base = Draft4Validator if "draft-04" in schema.get("$schema", "") else Draft7Validator
    cls = validators.extend(base, {"pattern": _regex_pattern})
    # No format checker: "regex" formats with \p{..} would be reported by re, wrongly.
    return [f"{list(e.absolute_path)}: {e.message}" for e in cls(schema).iter_errors(document)]


def xml_errors(xsd_path: Path, document: bytes) -> list[str]:
    import xmlschema

    return [str(e) for e in xmlschema.XMLSchema(str(xsd_path)).iter_errors(document.decode())]


APIVERSION = "patchpolicy/v1"
KIND = "FleetSnapshot"


def fleet_finding(vuln: str, severity: str = "critical") -> dict[str, Any]:
    """A finding of ``vuln`` in libfoo 1.0, fix released long ago (overdue at AS_OF)."""
    return {
        "id": f"{vuln}/libfoo", "vuln": vuln,
        "package": {"name": "libfoo", "version": "1.0", "ecosystem": "debian"},
        "fixed_version": "1.1", "severity": severity, "cvss": 9.8, "kev": None,
        "published_at": "2025-01-01T00:00:00Z", "fix_released_at": "2025-01-02T00:00:00Z",
        "first_seen_at": "2025-01-03T00:00:00Z", "status": "open",
    }


def fleet_host(n: int, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Host ``host-NNNNN`` in dev, scanned an hour before AS_OF."""
    return {
        "id": f"host-{n:05d}", "env": "dev", "tags": [], "labels": {}, "owner": "team-a",
        "os": {"family": "debian", "version": "12"}, "last_scan": "2026-11-20T05:00:00Z",
        "reboot_pending_since": None, "findings": findings,
    }


def fleet_context(tmp_path: Path, hosts: list[dict[str, Any]],
                  options: RenderOptions | None = None) -> RenderContext:
    """``hosts`` as a snapshot evaluated against the example baseline policy."""
    snapshot = tmp_path / "fleet.json"
    snapshot.write_bytes(orjson.dumps({
        "apiVersion": APIVERSION, "kind": KIND,
        "taken_at": "2026-11-20T06:00:00Z", "hosts": hosts,
    }))
    cwd = Path.cwd()
    os.chdir(ROOT)
    try:
        run = evaluate_files(["examples/policies/baseline.yaml"], snapshot)
        ev, inputs = run.evaluation, run.inputs
    finally:
        os.chdir(cwd)
    return RenderContext(ev, inputs, options=options or RenderOptions())
