"""Threat intelligence joined onto findings: the CISA KEV catalog and FIRST EPSS scores.

* KEV (``known_exploited_vulnerabilities.json``) is validated against CISA's official
  schema (vendored in ``schemas/``) before it is read; ``ransomware`` is true only for
  ``knownRansomwareCampaignUse == "Known"``.
* EPSS (``epss_scores-YYYY-MM-DD.csv``): ``#model_version:...,score_date:...`` comment
  line(s), then the header ``cve,epss,percentile``, then rows in no particular order.
  A bad row is an error with its line number, never skipped.

Both are keyed by CVE id; ``lookup`` tries a finding's vuln id, then its aliases, so a
GHSA finding with a CVE alias joins.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from patchpolicy.errors import ImporterError
from patchpolicy.importers._json import load_json
from patchpolicy.model.common import parse_day
from patchpolicy.model.fleet import KevRecord

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
KEV_SCHEMA = "known_exploited_vulnerabilities_schema.json"


def _first(ids: Iterable[str], table: dict[str, Any]) -> str | None:
    return next((i for i in ids if i in table), None)


@cache
def kev_schema() -> dict[str, Any]:
    """CISA's KEV JSON Schema, as vendored (see schemas/README.md)."""
    text = files("patchpolicy.importers").joinpath("schemas", KEV_SCHEMA).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class KevCatalog:
    """The KEV catalog: one record per CVE, and the catalog version for provenance."""

    path: str
    version: str
    entries: dict[str, KevRecord]

    def lookup(self, ids: Iterable[str]) -> tuple[str, KevRecord] | None:
        """The first id (vuln id, then aliases) listed in the catalog, and its record."""
        hit = _first(ids, self.entries)
        return None if hit is None else (hit, self.entries[hit])


def load_kev(path: Path, label: str | None = None) -> KevCatalog:
    """Read and validate a KEV catalog; schema violations are errors naming the JSON path."""
    import jsonschema  # type: ignore[import-untyped]  # imported late: slow, KEV-only

    name = label if label is not None else str(path)
    root = load_json(path, name)
    validator = jsonschema.Draft7Validator(
        kev_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(root.value), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        shown = []
        for e in errors[:5]:
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path)
            shown.append(f"{name}: {where}: {e.message}")
        more = f"\n(and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise ImporterError(
            "KEV catalog does not match the CISA schema:\n" + "\n".join(shown) + more
        )
    entries: dict[str, KevRecord] = {}
    for item in root.req("vulnerabilities").as_list():
        cve = item.req_str("cveID")
        if cve in entries:
            raise item.req("cveID").error(f"duplicate KEV entry {cve}")
        try:
            added = parse_day(item.req_str("dateAdded"))
            due: date | None = parse_day(item.req_str("dueDate"))
        except ValueError as e:
            raise item.error(str(e)) from e
        entries[cve] = KevRecord(
            date_added=added,
            due_date=due,
            ransomware=item.get_str("knownRansomwareCampaignUse") == "Known",
        )
    return KevCatalog(name, root.req_str("catalogVersion"), entries)


@dataclass(frozen=True)
class EpssScores:
    """EPSS scores by CVE, with the model version and score date of the file."""

    path: str
    model_version: str | None
    score_date: str | None
    scores: dict[str, tuple[float, float]]

    def lookup(self, ids: Iterable[str]) -> tuple[str, float, float] | None:
        hit = _first(ids, self.scores)
        return None if hit is None else (hit, *self.scores[hit])

    @property
    def provenance(self) -> str:
        parts = [p for p in (self.model_version, self.score_date) if p]
        return "epss " + " ".join(parts) if parts else "epss"


def load_epss(path: Path, label: str | None = None) -> EpssScores:
    """Read an EPSS CSV; any malformed line is an ``ImporterError`` with ``file:line``."""
    name = label if label is not None else str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ImporterError(f"{name}: cannot read: {e}") from e
    meta: dict[str, str] = {}
    scores: dict[str, tuple[float, float]] = {}
    first_line: dict[str, int] = {}
    header_seen = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if header_seen:
                raise ImporterError(f"{name}:{lineno}: comment after the header")
            for part in line[1:].split(","):
                mkey, sep, mvalue = part.partition(":")
                if sep:
                    meta[mkey.strip()] = mvalue.strip()
            continue
        cells = next(csv.reader([line]))
        if not header_seen:
            if [c.strip().lower() for c in cells] != ["cve", "epss", "percentile"]:
                raise ImporterError(
                    f"{name}:{lineno}: expected the header 'cve,epss,percentile', got {line!r}"
                )
            header_seen = True
            continue
        if len(cells) != 3:
            raise ImporterError(f"{name}:{lineno}: expected 3 cells (cve,epss,percentile), got {len(cells)}")
        cve = cells[0].strip()
        if not _CVE.match(cve):
            raise ImporterError(f"{name}:{lineno}: invalid CVE id {cve!r}")
        values = []
        for label_, cell in zip(("epss", "percentile"), cells[1:], strict=True):
            try:
                v = float(cell)
            except ValueError as e:
                raise ImporterError(f"{name}:{lineno}: {label_} {cell!r} is not a number") from e
            if math.isnan(v) or not 0.0 <= v <= 1.0:
                raise ImporterError(f"{name}:{lineno}: {label_} {cell!r} is outside 0..1")
            values.append(v)
        if cve in scores:
            raise ImporterError(f"{name}:{lineno}: duplicate row for {cve} (first at line {first_line[cve]})")
        scores[cve] = (values[0], values[1])
        first_line[cve] = lineno
    if not header_seen:
        raise ImporterError(f"{name}: no 'cve,epss,percentile' header: not an EPSS file")
    return EpssScores(name, meta.get("model_version"), meta.get("score_date"), scores)
