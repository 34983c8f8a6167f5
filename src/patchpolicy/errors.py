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
    |   |   +-- DuplicateHostError   two hosts with one id (placed by the caller)
    |   +-- ImporterError            a scanner/intel file cannot be imported
    +-- EvaluationError              the evaluator met a state it cannot judge at all
    +-- OutputError                  an output cannot be written

Messages are lowercase and lead with the place: ``file:line:col: message`` (a snapshot's
messages then name the JSON path: ``fleet.json:3:15: $.hosts[0].findings: ...``).
``InputError.problems()`` gives the same problems as records (file, line, column, JSON
path, code, message) for ``--error-format json``.
"""

from __future__ import annotations

import re
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
    json_path: str | None = field(default=None, compare=False)
    """Where in the document, as a JSONPath (``$.spec.rules[0].within``), when known."""
    code: str = field(default="invalid", compare=False)
    """What kind of problem (see ``ErrorCode``): stable, for tools that group errors."""

    def __str__(self) -> str:
        prefix = "" if self.severity == "error" else f"{self.severity}: "
        return f"{self.location}: {prefix}{self.message}"

    def record(self) -> dict[str, object]:
        """The problem as one JSON object (``--error-format json``); absent parts are null."""
        loc = self.location
        return {
            "file": loc.file or None,
            "line": loc.line or None,
            "column": loc.col or None,
            "json_path": self.json_path,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
        }


class ErrorCode:
    """The ``code`` of an error record: one per kind of problem (documented in docs/formats.md)."""

    INVALID = "invalid"
    """A document breaks the schema or the semantics (validate's diagnostics)."""
    LOAD = "load"
    """A policy file cannot be read or parsed."""
    EXPRESSION = "expression"
    """A CEL expression does not compile."""
    SNAPSHOT = "snapshot"
    """A fleet snapshot cannot be read or decoded."""
    IMPORT = "import"
    """A scanner or intel file cannot be imported."""
    INPUT = "input"
    """Any other bad input."""
    IO = "io"
    """A file cannot be opened or read (the operating system's error)."""
    OUTPUT = "output"
    """An output cannot be written."""
    USAGE = "usage"
    """A bad command line: an unknown option, a missing argument, a bad value."""
    CONFIG = "config"
    """The configuration file (patchpolicy.toml, [tool.patchpolicy]) is invalid."""
    INTERNAL = "internal"
    """A bug in patchpolicy."""


_PLACE = re.compile(r"(?P<file>[^\n]+?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<rest>.*)", re.S)
_JSON_PATH = re.compile(r"(?P<path>\$[^\s:]*): .*", re.S)


def diagnostic_of(message: str, code: str, files: tuple[str, ...] = ()) -> Diagnostic:
    """A message in the house style (``file:line:col: [$.path: ]text``) as a Diagnostic.

    ``files`` are the input names the command was given: a message led by one of them
    without a line (``fleet.json: cannot read snapshot: ...``) is pinned to that file.
    """
    location = Location("")
    rest = message
    m = _PLACE.fullmatch(message)
    if m is not None:
        location = Location(m["file"], int(m["line"]), int(m["col"] or 0))
        rest = m["rest"]
    else:
        for name in sorted(files, key=len, reverse=True):
            if name and message.startswith(f"{name}: "):
                location, rest = Location(name), message[len(name) + 2 :]
                break
    p = _JSON_PATH.fullmatch(rest)
    # The message keeps its path: the text form (str of the Diagnostic) must say it too.
    return Diagnostic(location, rest, json_path=p["path"] if p else None, code=code)


class PatchPolicyError(Exception):
    """Root of every error patchpolicy raises on purpose."""


class InputError(PatchPolicyError):
    """The user's input is bad; the CLI maps this to exit code 2."""

    code = ErrorCode.INPUT

    def problems(self, files: tuple[str, ...] = ()) -> list[Diagnostic]:
        """The problems as records: the message's place parsed (see ``diagnostic_of``)."""
        return [diagnostic_of(line, self.code, files) for line in str(self).splitlines() or [""]]


class LoadError(InputError):
    """A file cannot be read or parsed."""

    code = ErrorCode.LOAD


class ValidationError(InputError):
    """One or more documents break the schema or the semantics."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))

    def problems(self, files: tuple[str, ...] = ()) -> list[Diagnostic]:
        return list(self.diagnostics)


class ExprError(InputError):
    """A CEL expression does not compile, or reads a field the snapshot does not have.

    ``offset`` is the 0-based character offset inside the expression text, so the
    loader can map it to a line and column in the file.
    """

    code = ErrorCode.EXPRESSION

    def __init__(self, message: str, offset: int = 0) -> None:
        self.message = message
        self.offset = offset
        super().__init__(message)


class SnapshotError(InputError):
    """A fleet snapshot cannot be decoded."""

    code = ErrorCode.SNAPSHOT
    schema = False
    """The JSON is well formed but breaks the schema (a wrong type, an unknown key)."""


class DuplicateHostError(SnapshotError):
    """Two host records with one id; the reader of the snapshot names both places."""

    def __init__(self, host_id: str) -> None:
        self.host_id = host_id
        super().__init__(f"duplicate host id {host_id!r} in the snapshot")


class ImporterError(InputError):
    """A scanner or threat-intelligence file cannot be imported."""

    code = ErrorCode.IMPORT


class EvaluationError(PatchPolicyError):
    """The evaluator met a state it cannot judge at all (not a per-item error verdict)."""


class OutputError(PatchPolicyError):
    """An output cannot be written."""
