"""The import command: scanner reports into a fleet snapshot."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from patchpolicy.cli.common import (
    AS_OF,
    SCAN_TIME,
    handle_errors,
    main,
)
from patchpolicy.cli.output import info
from patchpolicy.render.sanitize import text as _safe


def _importer_formats() -> list[str]:
    from patchpolicy.importers.interface import ImporterFormat

    return [f.value for f in ImporterFormat]


@main.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(_importer_formats()))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Snapshot to write: .json, or .jsonl to stream JSON Lines.")
@click.option("--inventory", type=click.Path(path_type=Path), help="Hosts (YAML or CSV CMDB export).")
@click.option("--kev", type=click.Path(path_type=Path), help="CISA known_exploited_vulnerabilities.json.")
@click.option("--epss", type=click.Path(path_type=Path), help="FIRST EPSS scores CSV.")
@click.option("--previous", type=click.Path(path_type=Path),
              help="The last snapshot: keeps first_seen_at, marks vanished findings fixed.")
@click.option("--scan-time", type=SCAN_TIME,
              help="Scan time for reports that carry none (a timestamp, or 'now'); default: the"
                   " file's modification time, said in the summary and in each finding's provenance.")
@click.option("--taken-at", type=AS_OF, help="Snapshot time (default: the latest scan).")
@handle_errors
def import_(
    fmt: str, files: tuple[Path, ...], output: Path, inventory: Path | None, kev: Path | None,
    epss: Path | None, previous: Path | None, scan_time: datetime | None, taken_at: datetime | None,
) -> None:
    """Import scanner reports (FORMAT: trivy, grype, osv-scanner, cyclonedx) into a fleet
    snapshot; prints entries in and findings out per file, with every merge explained.

    \b
    Examples:
      patchpolicy import trivy trivy-*.json -o fleet.json
      patchpolicy import grype grype.json --kev kev.json --epss epss.csv -o fleet.json
      patchpolicy import osv-scanner osv.json --inventory hosts.yaml --previous fleet.json -o fleet.json
    """
    from patchpolicy.importers import ImporterFormat, run_import

    report = run_import(
        [(ImporterFormat(fmt), f) for f in files], output, inventory=inventory, kev=kev,
        epss=epss, previous=previous, scan_time=scan_time, taken_at=taken_at,
    )
    for line in report.lines():
        info(_safe(line))
