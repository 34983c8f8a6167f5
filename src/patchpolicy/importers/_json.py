"""Typed, path-aware access to a parsed JSON document, so every error names its place.

A ``Node`` is a value plus the JSON path that reached it and the file it came from;
``node.error("...")`` builds ``file: $.Results[0].Severity: message``. Importers never
index raw dicts: a wrong type is an ``ImporterError``, never a ``KeyError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import orjson

from patchpolicy.errors import ImporterError
from patchpolicy.model.common import parse_timestamp
from patchpolicy.textfile import compressed_kind, utf8_problem

_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _kind(value: object) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def load_json(path: Path, label: str) -> Node:
    """Read and parse a JSON file; a syntax error names ``label:line:col``.

    ``label`` is how the file is named in messages (the path as the user gave it).
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImporterError(f"{label}: cannot read: {e.strerror or e}") from e
    if data.startswith(b"\xef\xbb\xbf"):  # a UTF-8 BOM, as some Windows tools write
        data = data[3:]
    if not data.strip():
        raise ImporterError(f"{label}: empty file: expected a JSON document")
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        what = compressed_kind(data)
        if what is not None:
            raise ImporterError(f"{label}:1:1: {what}: decompress it first (a report is JSON text)") from e
        problem = utf8_problem(data)
        if problem is not None:
            line, col, message = problem
            raise ImporterError(f"{label}:{line}:{col}: {message}") from e
        raise ImporterError(
            f"{label}:{e.lineno}:{e.colno}: invalid JSON (truncated or corrupt?): {e.msg}"
        ) from e
    return Node(value, "$", label)


def load_json_documents(path: Path, label: str) -> list[Node]:
    """Read a file of one JSON document, or several written back to back (the pages of
    a paginated AWS CLI call, ``cat``-ed together). With several, each document's
    ``Node`` names its place as ``label (document N)``; a syntax error names
    ``label:line:col`` either way.
    """
    try:
        return [load_json(path, label)]
    except ImporterError as single:
        first_error = single
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise first_error from None
    decoder = json.JSONDecoder()
    values: list[object] = []
    idx = _skip_ws(text, 0)
    while idx < len(text):
        try:
            value, idx = decoder.raw_decode(text, idx)
        except json.JSONDecodeError as e:
            if not values:  # not a run of documents: the whole-file error is the precise one
                raise first_error from None
            raise ImporterError(
                f"{label}:{e.lineno}:{e.colno}: invalid JSON in document {len(values) + 1}"
                f" (truncated or corrupt?): {e.msg}"
            ) from None
        except RecursionError:
            raise ImporterError(f"{label}: JSON nested too deeply") from None
        values.append(value)
        idx = _skip_ws(text, idx)
    if len(values) < 2:
        raise first_error
    return [Node(v, "$", f"{label} (document {n})") for n, v in enumerate(values, start=1)]


def _skip_ws(text: str, idx: int) -> int:
    while idx < len(text) and text[idx] in " \t\r\n":
        idx += 1
    return idx


class Node:
    """A JSON value at a known path in a known file."""

    __slots__ = ("file", "path", "value")

    def __init__(self, value: object, path: str, file: str) -> None:
        self.value = value
        self.path = path
        self.file = file

    def error(self, message: str) -> ImporterError:
        """An error pinned to this node: ``file: $.a.b: message``."""
        return ImporterError(f"{self.file}: {self.path}: {message}")

    # ------------------------------------------------------------------ shape checks

    def as_dict(self) -> dict[str, object]:
        if not isinstance(self.value, dict):
            raise self.error(f"expected an object, got {_kind(self.value)}")
        return self.value

    def as_list(self) -> list[Node]:
        if not isinstance(self.value, list):
            raise self.error(f"expected an array, got {_kind(self.value)}")
        return [Node(v, f"{self.path}[{i}]", self.file) for i, v in enumerate(self.value)]

    def as_str(self) -> str:
        if not isinstance(self.value, str):
            raise self.error(f"expected a string, got {_kind(self.value)}")
        return self.value

    def as_float(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self.error(f"expected a number, got {_kind(self.value)}")
        return float(self.value)

    def as_timestamp(self) -> datetime:
        """An RFC 3339 timestamp with an offset, as UTC."""
        text = self.as_str()
        try:
            return parse_timestamp(text)
        except ValueError as e:
            raise self.error(str(e)) from e

    # ------------------------------------------------------------------ members

    def has(self, key: str) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if key.isidentifier() else f'{self.path}["{key}"]'

    def get(self, key: str) -> Node | None:
        """The member ``key``, or None when it is absent or null."""
        value = self.as_dict().get(key)
        return None if value is None else Node(value, self._at(key), self.file)

    def req(self, key: str) -> Node:
        """The member ``key``; absent or null is an error."""
        node = self.get(key)
        if node is None:
            raise self.error(f"missing required field {key!r}")
        return node

    def get_str(self, key: str) -> str | None:
        """A string member; absent, null or empty gives None (scanners write "" for none)."""
        node = self.get(key)
        if node is None:
            return None
        text = node.as_str()
        return text or None

    def req_str(self, key: str) -> str:
        text = self.req(key).as_str()
        if not text:
            raise self.error(f"field {key!r} must not be empty")
        return text

    def get_list(self, key: str) -> list[Node]:
        """An array member; absent or null gives an empty list."""
        node = self.get(key)
        return [] if node is None else node.as_list()

    def get_float(self, key: str) -> float | None:
        node = self.get(key)
        return None if node is None else node.as_float()

    def get_timestamp(self, key: str) -> datetime | None:
        node = self.get(key)
        if node is None or node.value == "":
            return None
        return node.as_timestamp()

    def str_list(self, key: str) -> list[str]:
        """An array of strings; empty strings are dropped."""
        return [s for s in (n.as_str() for n in self.get_list(key)) if s]

    def members(self) -> Iterator[tuple[str, Node]]:
        """Each (key, value) of an object, in document order."""
        for key, value in self.as_dict().items():
            yield key, Node(value, self._at(key), self.file)
