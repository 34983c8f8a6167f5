"""The importer registry: the one exhaustive factory from a built-in format
(``ImporterFormat``) to its importer. Nothing an importer imports leads back here, so the
format modules are imported at the top: no import cycle, no lazy import."""

from __future__ import annotations

from typing import assert_never

from patchpolicy.importers import cyclonedx, grype, inspector, nessus, osv, qualys, trivy
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Importer

__all__ = ["get_importer"]


def get_importer(fmt: ImporterFormat) -> Importer:
    """The importer for ``fmt``; adding a member without a branch fails type checking."""
    if fmt is ImporterFormat.TRIVY:
        return trivy.TrivyImporter()
    if fmt is ImporterFormat.GRYPE:
        return grype.GrypeImporter()
    if fmt is ImporterFormat.OSV_SCANNER:
        return osv.OsvScannerImporter()
    if fmt is ImporterFormat.CYCLONEDX:
        return cyclonedx.CycloneDxImporter()
    if fmt is ImporterFormat.NESSUS:
        return nessus.NessusImporter()
    if fmt is ImporterFormat.AWS_INSPECTOR2:
        return inspector.InspectorImporter()
    if fmt is ImporterFormat.QUALYS:
        return qualys.QualysImporter()
    assert_never(fmt)
