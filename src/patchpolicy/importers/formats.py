"""The closed set of built-in scanner formats (``registry.get_importer`` builds the
importer of each); a leaf module, so that the interface and every importer can name a
format without importing the registry."""

from __future__ import annotations

from enum import StrEnum


class ImporterFormat(StrEnum):
    """Scanner report formats ``patchpolicy import`` reads."""

    TRIVY = "trivy"
    GRYPE = "grype"
    OSV_SCANNER = "osv-scanner"
    CYCLONEDX = "cyclonedx"
    NESSUS = "nessus"
    AWS_INSPECTOR2 = "aws-inspector2"
    QUALYS = "qualys"
