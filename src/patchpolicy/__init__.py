"""patchpolicy: patch SLAs, windows, freezes and exceptions as code, evaluated into evidence.

The public API is small on purpose: load a bundle, evaluate a snapshot, plan remediation.
"""

from __future__ import annotations

from patchpolicy.api import evaluate_files
from patchpolicy.evaluator import evaluate
from patchpolicy.loader import load_bundle
from patchpolicy.version import __version__

__all__ = ["__version__", "evaluate", "evaluate_files", "load_bundle"]
