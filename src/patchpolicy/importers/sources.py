"""Where a report comes from and which importer reads it: a file or standard input (``-``),
a format named or detected.

``read_reports`` is the one door ``assemble`` goes through: standard input is copied once
to a private temporary file (the XML importers stream from a file, and detection reads the
content before the importer does); an omitted format is detected from the content; a
named format that fails on a report of another format says which format it looks like.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import load_json_documents
from patchpolicy.importers.detect import detect_format, sarif_error, sarif_tool
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import ParsedReport
from patchpolicy.importers.registry import get_importer

STDIN = Path("-")
STDIN_LABEL = "<stdin>"


def is_stdin(path: Path) -> bool:
    return str(path) == "-"


@dataclass(frozen=True)
class ReadReports:
    """The reports of one input, the format they were read as, and whether it was detected."""

    format: ImporterFormat
    detected: bool
    reports: list[ParsedReport]


def read_reports(fmt: ImporterFormat | None, path: Path) -> ReadReports:
    """Read every report of one input; ``fmt`` None detects the format from the content."""
    if not is_stdin(path):
        return _read(fmt, path, str(path))
    with tempfile.TemporaryDirectory(prefix="patchpolicy-stdin-") as tmp:
        spool = Path(tmp) / "stdin"
        with spool.open("wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        return _read(fmt, spool, STDIN_LABEL)


def _refuse_sarif(path: Path, label: str) -> None:
    """A SARIF log is told apart from an unknown report: the error says how to get the JSON."""
    try:
        docs = load_json_documents(path, label)
    except ImporterError:
        return  # not JSON (XML, CSV): not SARIF either
    tool = sarif_tool(docs[0]) if docs else None
    if tool is not None:
        raise sarif_error(docs[0], tool)


def _read(fmt: ImporterFormat | None, path: Path, label: str) -> ReadReports:
    if fmt is None:
        found = detect_format(path, label)
        if found is None:
            _refuse_sarif(path, label)
            names = ", ".join(f.value for f in ImporterFormat)
            raise ImporterError(
                f"{label}: cannot tell which scanner wrote this report (known: {names});"
                " name the format: import FORMAT FILE..."
            )
        return ReadReports(found, True, get_importer(found).load_reports(path, label))
    try:
        return ReadReports(fmt, False, get_importer(fmt).load_reports(path, label))
    except ImporterError as e:
        if "it looks like a" in str(e):
            raise
        try:
            guess = detect_format(path, label)
        except ImporterError:
            guess = None
        if guess is None or guess is fmt:
            raise
        said = "" if f"not a {fmt.value} report" in str(e) else f"; not a {fmt.value} report"
        raise ImporterError(
            f"{e}{said}; it looks like a {guess.value} report (use: import {guess.value} ..., or"
            " omit FORMAT to detect it)"
        ) from e
