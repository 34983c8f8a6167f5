"""A streamed file body made by a costly generator (tasks.json from the plan) is made once:
the pass that digests it keeps it in a temporary file, which is then what is written."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from patchpolicy.outdir import Streamed, replace_dir


def test_a_spooled_body_is_generated_once_and_written_from_its_temporary_file(tmp_path: Path) -> None:
    calls = []

    def chunks() -> Iterator[bytes]:
        calls.append(1)
        for n in range(1000):
            yield f"line {n}\n".encode()

    expected = b"".join(f"line {n}\n".encode() for n in range(1000))
    body = Streamed(chunks, spool=True)
    assert body.sha256() == hashlib.sha256(expected).hexdigest()
    assert body.file is not None and body.file.read_bytes() == expected
    spooled = body.file
    replace_dir(tmp_path / "out", {"tasks.json": body})
    assert (tmp_path / "out" / "tasks.json").read_bytes() == expected
    assert calls == [1]  # digested and written from one generation
    del body
    assert not spooled.exists()  # the temporary file goes with the body


def test_an_unspooled_body_is_generated_for_each_pass() -> None:
    calls = []

    def chunks() -> Iterator[bytes]:
        calls.append(1)
        yield b"x"

    body = Streamed(chunks)
    body.sha256()
    assert body.file is None and b"".join(body.chunks()) == b"x" and len(calls) == 2
