"""Read and write fleet snapshots: one JSON document, or JSON Lines for large fleets.

JSON Lines (``.jsonl``): line 1 is the header (the document without ``hosts``), each
further line one host. Reading streams one host at a time, so memory does not grow with
the fleet. Decoding uses msgspec typed structs (validated in C).

Every input is read once: the bytes decoded are the bytes hashed into the digest that the
evidence records. Errors name the file, the line and column and, where known, the JSON
path; duplicate keys are errors at the second key (see ``strict``). Limits: a header (or
one JSON Lines record) of ``MAX_HEADER_BYTES`` (``MAX_RECORD_BYTES``), a single document
of ``MAX_DOCUMENT_BYTES``; only regular files, pipes and standard input (``-``) are read.

The package, one module per job: ``limits`` (the limits, ``-``, JSON Lines suffixes),
``strict`` (duplicate keys, positions, error messages), ``reading`` (``open_snapshot``,
``read_whole``), ``source`` (``SnapshotSource``: the passes over the hosts; one host line's
checks for workers), ``shards`` (``open_snapshots``: several JSON Lines files or a
directory of them as one snapshot, ``ShardedSource``), ``writing`` (``write_snapshot``, ``atomic_write``).
"""

from patchpolicy.snapshot.limits import (
    MAX_DOCUMENT_BYTES,
    MAX_HEADER_BYTES,
    MAX_RECORD_BYTES,
    STDIN,
)
from patchpolicy.snapshot.reading import no_gc, open_snapshot, read_whole
from patchpolicy.snapshot.shards import (
    ShardedSource,
    duplicate_host_message,
    open_snapshots,
    shard_files,
)
from patchpolicy.snapshot.source import SnapshotSource, line_error, may_repeat_host
from patchpolicy.snapshot.writing import atomic_write, write_snapshot

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_RECORD_BYTES",
    "STDIN",
    "ShardedSource",
    "SnapshotSource",
    "atomic_write",
    "duplicate_host_message",
    "line_error",
    "may_repeat_host",
    "no_gc",
    "open_snapshot",
    "open_snapshots",
    "read_whole",
    "shard_files",
    "write_snapshot",
]
