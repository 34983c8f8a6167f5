"""What a text input must be before a parser sees it: not compressed, and UTF-8, with a
line and column for the first byte that is not. Shared by the policy loader and the
importers so both say the same thing about the same bytes.
"""

from __future__ import annotations

__all__ = ["COMPRESSED", "byte_position", "compressed_kind", "utf8_problem"]

COMPRESSED = (
    (b"\x1f\x8b", "gzip-compressed"),
    (b"BZh", "bzip2-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"PK\x03\x04", "a zip archive"),
)


def compressed_kind(raw: bytes) -> str | None:
    """``gzip-compressed``, ``a zip archive``...; None for anything else."""
    return next((what for magic, what in COMPRESSED if raw.startswith(magic)), None)


def byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of ``offset``."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return raw.count(b"\n", 0, offset) + 1, offset - line_start + 1


def utf8_problem(raw: bytes) -> tuple[int, int, str] | None:
    """(line, column, message) of the first byte that is not UTF-8; None when it all is."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = byte_position(raw, e.start)
        return line, col, f"not UTF-8 text: {e.reason} (byte {e.start}, 0x{raw[e.start]:02x})"
    return None
