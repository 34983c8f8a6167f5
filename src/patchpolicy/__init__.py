"""patchpolicy: patch SLAs, windows, freezes and exceptions as code, evaluated into evidence.

The public API is small on purpose: load a bundle, evaluate a snapshot, plan remediation.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("patchpolicy")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from patchpolicy.api import evaluate_files  # noqa: E402
from patchpolicy.evaluator import evaluate  # noqa: E402
from patchpolicy.loader import load_bundle  # noqa: E402

__all__ = ["__version__", "evaluate", "evaluate_files", "load_bundle"]
