"""Every error patchpolicy raises on purpose, rooted in one class.

The tree::

    PatchPolicyError                 root; str(e) is the user-facing message
    +-- InputError                   bad input: the CLI exits 2
    |   +-- LoadError                a file cannot be read or parsed (YAML/JSON syntax)
    |   +-- ValidationError          a document breaks the schema or the semantics;
    |   |                            carries every Diagnostic found, not only the first
    |   +-- ExprError                a CEL expression does not compile or reads an
    |   |                            unknown field
    |   +-- SnapshotError            a fleet snapshot cannot be decoded
    |   +-- ImporterError            a scanner/intel file cannot be imported
    +-- EvaluationError              the evaluator met a state it cannot judge at all
    +-- OutputError                  an output cannot be written

Messages are lowercase and lead with the place: ``file:line:col: message``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class Location:
    """A place in a user's file; line and column are 1-based."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in a user's input, pinned to a place."""

    location: Location
    message: str
    severity: str = field(default="error", compare=False)
    blocks_evaluation: bool = field(default=True, compare=False)
    """False for an error that fails ``validate`` but leaves the bundle usable for
    evaluation, where it is judged instead (an exception over a policy's max_lifetime)."""

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.location}: {prefix}{self.message}"


class PatchPolicyError(Exception):
    """Root of every error patchpolicy raises on purpose."""


class InputError(PatchPolicyError):
    """The user's input is bad; the CLI maps this to exit code 2."""


class LoadError(InputError):
    """A file cannot be read or parsed."""


class ValidationError(InputError):
    """One or more documents break the schema or the semantics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class ExprError(InputError):
    """A CEL expression does not compile, or reads a field the snapshot does not have.

    ``offset`` is the 0-based character offset inside the expression text, so the
    loader can map it to a line and column in the file.
    """

    def __init__(self, message: str, offset: int = 0) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message)


class SnapshotError(InputError):
    """A fleet snapshot cannot be decoded."""


class ImporterError(InputError):
    """A scanner or threat-intelligence file cannot be imported."""


class EvaluationError(PatchPolicyError):
    """The evaluator met a state it cannot judge at all (not a per-item error verdict)."""


class OutputError(PatchPolicyError):
    """An output cannot be written."""
