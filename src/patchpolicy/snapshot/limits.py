"""The documented limits of a snapshot read, and the path conventions: ``-`` is standard
input or output, ``.jsonl`` / ``.ndjson`` is JSON Lines. Readers look the limits up here
when they read (tests lower them)."""

from __future__ import annotations

from pathlib import Path

#: Line 1 of a JSON Lines snapshot may be at most this long.
MAX_HEADER_BYTES = 1 << 20
#: One JSON Lines host record (one line) may be at most this long.
MAX_RECORD_BYTES = 64 << 20
#: A single-document (``.json``) snapshot may be at most this long; use JSON Lines beyond.
MAX_DOCUMENT_BYTES = 1 << 30

STDIN = "-"
"""The snapshot path that means standard input."""


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson")
