"""patchpolicy: patch SLAs, windows, freezes and exceptions as code, evaluated into evidence.

The public API is small on purpose (docs/api.md): load a bundle, open a snapshot,
evaluate, judge the gate, plan remediation, write an evidence bundle; the result and plan
types; the error tree. Everything else is internal.
"""

from __future__ import annotations

from patchpolicy.api import evaluate_files, write_evidence
from patchpolicy.errors import (
    EvaluationError,
    ExprError,
    InputError,
    LoadError,
    OutputError,
    PatchPolicyError,
    SnapshotError,
    ValidationError,
)
from patchpolicy.evaluator import evaluate
from patchpolicy.loader import load_bundle
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.evaluation import Evaluation, EvaluationRun
from patchpolicy.model.gate import FailOn, Gate, GateResult
from patchpolicy.model.plan import Plan, Task
from patchpolicy.model.results import Item, RunInputs, Verdict
from patchpolicy.planner import plan
from patchpolicy.snapshot import open_snapshot
from patchpolicy.version import __version__

__all__ = [
    "Bundle",
    "EvaluationError",
    "ExprError",
    "Evaluation",
    "EvaluationRun",
    "FailOn",
    "Gate",
    "GateResult",
    "InputError",
    "Item",
    "LoadError",
    "OutputError",
    "PatchPolicyError",
    "Plan",
    "RunInputs",
    "SnapshotError",
    "Task",
    "ValidationError",
    "Verdict",
    "__version__",
    "evaluate",
    "evaluate_files",
    "load_bundle",
    "open_snapshot",
    "plan",
    "write_evidence",
]
