"""The import command: scanner reports into a fleet snapshot."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import click

from patchpolicy.cli.common import (
    AS_OF,
    SCAN_TIME,
    ParsedParam,
    handle_errors,
    main,
)
from patchpolicy.cli.output import info, is_quiet
from patchpolicy.render.sanitize import text as _safe

AUTO = "auto"
# A first argument that is a bare word like a format name (no dot, no slash) but no file:
# a mistyped FORMAT, said as such rather than as a missing file.
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _importer_formats() -> list[str]:
    from patchpolicy.importers.formats import ImporterFormat

    return [f.value for f in ImporterFormat]


def _also_input(value: object) -> tuple[str, Path]:
    """``FORMAT:FILE``: one more report and its format (split at the first colon)."""
    fmt, sep, file = str(value).partition(":")
    if not sep or not file:
        raise ValueError(f"{value!r}: expected FORMAT:FILE, e.g. trivy:image.json")
    if fmt not in _importer_formats():
        raise ValueError(f"{fmt!r} is not a format: choose from {', '.join(_importer_formats())}")
    return fmt, Path(file)


ALSO_INPUT = ParsedParam("FORMAT:FILE", _also_input, tuple)


def split_format(args: tuple[str, ...], explicit: str | None) -> tuple[str | None, list[Path]]:
    """(format or None to detect, files) from ``[FORMAT] FILE...`` and ``--format``.

    Without ``--format``, the first argument is the FORMAT when it is a format name (or
    ``auto``) and no file of that name exists, so ``import trivy r.json`` means what it
    always meant; a name that is both is refused as ambiguous rather than guessed.
    """
    formats = _importer_formats()
    words = list(args)
    if explicit is None and words:
        first = words[0]
        exists = Path(first).exists()
        if first in formats or first == AUTO:
            if exists:
                raise click.UsageError(
                    f"{first!r} is both a format and a file here: write ./{first} for the file,"
                    f" or --format {first} for the format"
                )
            explicit = words.pop(0)
        elif not exists and len(words) > 1 and _WORD.match(first):
            raise click.BadParameter(
                f"{first!r} is not one of {', '.join(map(repr, formats))}, {AUTO!r} (and no such file)",
                param_hint="'FORMAT'",
            )
    if not words:
        raise click.UsageError("no report FILE given ('-' reads standard input)")
    if words.count("-") > 1:
        raise click.UsageError("standard input ('-') given more than once")
    return (None if explicit in (None, AUTO) else explicit), [Path(w) for w in words]


@main.command("import")
@click.argument("args", metavar="[FORMAT] FILE...", nargs=-1, required=True)
@click.option("-f", "--format", "format_", type=click.Choice([AUTO, *_importer_formats()]),
              help="The reports' format (then every argument is a FILE); default: the first"
                   " argument when it is a format name, else auto (detected per file).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Snapshot to write: .json, or .jsonl to stream JSON Lines; - for standard "
                   "output (JSON Lines, the summary on standard error).")
@click.option("--inventory", type=click.Path(path_type=Path), help="Hosts (YAML or CSV CMDB export).")
@click.option("--kev", type=click.Path(path_type=Path), help="CISA known_exploited_vulnerabilities.json.")
@click.option("--epss", type=click.Path(path_type=Path), help="FIRST EPSS scores CSV.")
@click.option("--previous", type=click.Path(path_type=Path),
              help="The last snapshot: keeps first_seen_at, marks vanished findings fixed.")
@click.option("--scan-time", type=SCAN_TIME,
              help="Scan time for reports that carry none (a timestamp, or 'now'); default: the"
                   " file's modification time, said in the summary and in each finding's provenance.")
@click.option("--taken-at", type=AS_OF, help="Snapshot time (default: the latest scan).")
@click.option("--also", "also", multiple=True, type=ALSO_INPUT, metavar="FORMAT:FILE",
              help="Another report, of another format, in the same run (repeatable): the same"
                   " host scanned by two tools is one host, a finding both report is one finding.")
@handle_errors
def import_(
    args: tuple[str, ...], format_: str | None, output: Path, inventory: Path | None, kev: Path | None,
    epss: Path | None, previous: Path | None, scan_time: datetime | None, taken_at: datetime | None,
    also: tuple[tuple[str, Path], ...],
) -> None:
    """Import scanner reports into a fleet snapshot; prints entries in and findings out per
    file (with the format, and "(detected)" when it was told from the content), every merge
    explained.

    FORMAT: trivy, grype, osv-scanner, cyclonedx (JSON), nessus (.nessus XML), qualys
    (ASSET_DATA_REPORT XML or VMDR CSV), aws-inspector2 (JSON), or auto. Omitted, each
    file's format is detected from its content (JSON keys, XML root element, CSV header).
    A FILE of '-' reads the report from standard input (give --scan-time if it has no scan
    time of its own).

    \b
    Examples:
      patchpolicy import trivy trivy-*.json -o fleet.json
      patchpolicy import grype.json nessus.nessus -o fleet.json
      patchpolicy import grype grype.json --kev kev.json --epss epss.csv -o fleet.json
      trivy image -f json nginx | patchpolicy import trivy - --scan-time now -o fleet.json
      patchpolicy import osv-scanner osv.json --also trivy:trivy.json -o fleet.json
    """
    from patchpolicy.importers import ImporterFormat, run_import

    fmt, files = split_format(args, format_)
    inputs: list[tuple[ImporterFormat | None, Path]] = [
        (None if fmt is None else ImporterFormat(fmt), f) for f in files
    ]
    inputs += [(ImporterFormat(a), f) for a, f in also]
    from patchpolicy.progress import files_progress

    with files_progress([path for _, path in inputs], "importing", quiet=is_quiet()) as on_file:
        report = run_import(
            inputs, output, inventory=inventory, kev=kev, epss=epss, previous=previous,
            scan_time=scan_time, taken_at=taken_at, on_file=on_file,
        )
    for line in report.lines():
        # With -o - the snapshot is standard output: the summary goes to stderr.
        info(_safe(line), err=str(output) == "-")
