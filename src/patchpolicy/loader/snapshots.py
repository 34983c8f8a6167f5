"""Fleet snapshots given to ``validate`` among the policy files: JSON Lines files, and
JSON files that look like a FleetSnapshot, read by the snapshot reader as ``check``
reads them, so both commands give the same message for the same problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from patchpolicy.errors import Diagnostic
from patchpolicy.loader.files import STDIN
from patchpolicy.loader.positions import SourceDocument

JSONL = (".jsonl", ".ndjson")


@dataclass(frozen=True)
class SnapshotSummary:
    """A fleet snapshot ``validate`` read with the snapshot reader, and what it holds."""

    path: str
    hosts: int
    findings: int


def looks_like_snapshot(f: Path, data: bytes, docs: list[SourceDocument]) -> bool:
    """A JSON fleet snapshot: read by the snapshot reader as ``check`` would, so both
    commands give the same message for the same problem."""
    if f.suffix.lower() != ".json" and str(f) != STDIN:
        return False
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return False
    if docs:
        return any(d.kind == "FleetSnapshot" for d in docs)
    return b'"FleetSnapshot"' in data[:65536]


def snapshot_problems(f: Path, name: str, data: bytes | None,
                      snapshots: list[SnapshotSummary] | None) -> tuple[list[Diagnostic], bool]:
    """The snapshot reader's problems with the file, and whether they are schema-level
    (well-formed JSON of the wrong shape) rather than syntax, duplicates or limits."""
    from patchpolicy.errors import SnapshotError
    from patchpolicy.snapshot import read_whole

    try:
        hosts, findings = read_whole(name if data is not None else f, data)
    except SnapshotError as e:
        return e.problems((name,)), e.schema
    if snapshots is not None:
        snapshots.append(SnapshotSummary(name, hosts, findings))
    return [], False
