"""Scanner importers: Trivy, Grype, OSV-Scanner and CycloneDX (VEX) reports, enriched
with CISA KEV and FIRST EPSS and host inventory, into one deterministic FleetSnapshot.

``run_import`` is what ``patchpolicy import`` calls; ``build_snapshot`` does the same
without writing. One module per format behind ``interface.Importer``.
"""

from __future__ import annotations

from patchpolicy.importers.assemble import (
    FileReport,
    ImportReport,
    MergeNote,
    Snapshot,
    build_snapshot,
    run_import,
)
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, Importer, ParsedReport
from patchpolicy.importers.registry import get_importer

__all__ = [
    "Entry",
    "FileReport",
    "ImportReport",
    "Importer",
    "ImporterFormat",
    "MergeNote",
    "ParsedReport",
    "Snapshot",
    "build_snapshot",
    "get_importer",
    "run_import",
]
