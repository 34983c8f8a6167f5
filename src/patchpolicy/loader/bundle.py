"""A policy bundle from paths: every file through the layers (structure, schema,
expressions, semantics), every problem collected before the verdict; ``check_bundle``
returns them, ``load_bundle`` raises them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from patchpolicy.errors import Diagnostic, InputError, Location, ValidationError
from patchpolicy.loader.compile import Loaded, compile_all
from patchpolicy.loader.files import (
    STDIN,
    STDIN_NAME,
    discover_checked,
    read_policy_file,
    read_stdin,
)
from patchpolicy.loader.positions import SourceDocument
from patchpolicy.loader.schema_errors import validate_document
from patchpolicy.loader.semantics import semantic_checks
from patchpolicy.loader.snapshots import (
    JSONL,
    SnapshotSummary,
    looks_like_snapshot,
    snapshot_problems,
)
from patchpolicy.loader.yaml_source import read_documents
from patchpolicy.model.bundle import Bundle, SourceFile


def load_bundle(paths: Iterable[str | Path]) -> Bundle:
    """Load, validate and compile a bundle; raise ValidationError with EVERY problem found.

    Warnings (e.g. high-cardinality expressions) do not fail the load; they are on
    ``Bundle.warnings``. Errors that do not block evaluation (an exception over a policy's
    max_lifetime: the evaluator gives it status over_lifetime for that policy) fail
    ``validate`` only.
    """
    bundle, diags = check_bundle(paths)
    errors = [d for d in diags if d.severity == "error" and d.blocks_evaluation]
    if errors or bundle is None:
        raise ValidationError(errors or diags)
    return bundle


@dataclass
class _Reading:
    """What the files read so far gave: problems, valid documents, file digests."""

    diags: list[Diagnostic]
    documents: list[SourceDocument] | None
    snapshots: list[SnapshotSummary] | None
    loaded: list[Loaded] = field(default_factory=list)
    sources: list[SourceFile] = field(default_factory=list)


def check_bundle(
    paths: Iterable[str | Path], documents: list[SourceDocument] | None = None,
    snapshots: list[SnapshotSummary] | None = None,
) -> tuple[Bundle | None, list[Diagnostic]]:
    """Like load_bundle, but return (bundle or None, every diagnostic) without raising.

    ``documents``, when given, receives every parsed document in file order. ``-`` reads
    standard input. JSON Lines snapshots (``.jsonl``, ``.ndjson``) are read by the
    snapshot reader only, and go to ``snapshots`` when they are valid.
    """
    paths = list(paths)
    if sum(1 for p in paths if str(p) == STDIN) > 1:
        return None, [Diagnostic(Location(STDIN_NAME), "standard input given twice: - reads it once")]
    files, diags = discover_checked(paths)
    if not files:
        return None, [*diags, Diagnostic(Location(".".join(str(p) for p in paths) or "."), "no policy files found")]
    reading = _Reading(diags, documents, snapshots)
    for f in files:
        _read_file(f, reading)
    policies, exceptions, tests = compile_all(reading.loaded, diags)
    diags.extend(semantic_checks(reading.loaded))
    if any(d.severity == "error" and d.blocks_evaluation for d in diags):
        return None, sorted(set(diags))
    bundle = Bundle(
        policies=tuple(sorted(policies, key=lambda p: p.name)),
        exceptions=tuple(sorted(exceptions, key=lambda e: e.id)),
        tests=tuple(tests),
        files=tuple(sorted(reading.sources, key=lambda s: s.path)),
        warnings=tuple(sorted({d for d in diags if d.severity != "error"})),
    )
    return bundle, sorted(set(diags))


def _read_file(f: Path, reading: _Reading) -> None:
    """One file through the structure and schema layers, into ``reading``."""
    name = STDIN_NAME if str(f) == STDIN else str(f)
    if f.suffix.lower() in JSONL:
        reading.diags.extend(snapshot_problems(f, name, None, reading.snapshots)[0])
        return
    data = _file_bytes(f, name, reading.diags)
    if data is None:
        return
    docs, errs = read_documents(Path(name), data)
    problems: list[Diagnostic] = []
    if looks_like_snapshot(f, data, docs):
        problems, schema_level = snapshot_problems(f, name, data, None)
        if problems and not (schema_level and docs and not errs):
            # What `check` would say (malformed JSON, a duplicate key, a limit): YAML
            # reads more than JSON allows, so its opinion of such a file misleads.
            # Schema-level problems keep the loader's messages (they name the host
            # and finding); `check` points at the same value by its JSON path.
            reading.diags.extend(problems)
            return
    reading.diags.extend(errs)
    reading.sources.append(SourceFile(name, hashlib.sha256(data).hexdigest(), len(data)))
    if reading.documents is not None:
        reading.documents.extend(docs)
    found_errors = False
    for doc in docs:
        model, errs = validate_document(doc)
        reading.diags.extend(errs)
        found_errors = found_errors or any(d.severity == "error" for d in errs)
        if model is not None:
            reading.loaded.append(Loaded(doc, model))
    if problems and not found_errors:
        reading.diags.extend(problems)  # the reader refuses what the schema let through


def _file_bytes(f: Path, name: str, diags: list[Diagnostic]) -> bytes | None:
    """The file's (or standard input's) bytes; None, with the reason in ``diags``."""
    try:
        return read_stdin() if str(f) == STDIN else read_policy_file(f)
    except InputError as e:
        diags.append(Diagnostic(Location(name), str(e)))
    except FileNotFoundError:
        diags.append(Diagnostic(Location(name), "no such file or directory"))
    except OSError as e:
        diags.append(Diagnostic(Location(name), f"cannot read file: {e.strerror or e}"))
    return None
