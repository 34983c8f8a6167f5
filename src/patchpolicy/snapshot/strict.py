"""Strict JSON decoding with positions: duplicate keys found (a C-speed test, then an exact
scan), and every decode or schema error turned into ``file:line:col: $.path: message``."""

from __future__ import annotations

import json
import re
import types
import typing
from typing import Annotated, Any, get_args

import msgspec

from patchpolicy.errors import SnapshotError
from patchpolicy.model.fleet import (
    CriticalityName,
    ExposureName,
    HostRecord,
    SeverityName,
    SnapshotDocument,
    SnapshotHeader,
    StatusName,
)

_ENUMS: dict[str, tuple[str, ...]] = {
    "severity": get_args(SeverityName),
    "status": get_args(StatusName),
    "criticality": get_args(CriticalityName),
    "exposure": get_args(ExposureName),
}
_ENCODER = msgspec.json.Encoder()
BOM = b"\xef\xbb\xbf"


# ---------------------------------------------------------------- duplicate keys
#
# msgspec keeps the last of two equal keys without a word. Detecting duplicates exactly
# in Python costs several times the decode, so a C-speed test runs first: each unit (the
# document, or one JSON Lines line) is decoded again into "shadow" structs whose leaves
# are ``msgspec.Raw`` (copied verbatim) and whose fields default to UNSET (so absent keys
# stay absent), then re-encoded. The re-encoding holds every key once, each followed by
# one ``:``, and every kept value with exactly its original colons; a dropped duplicate
# takes at least its own ``:`` with it. So equal ``:`` counts prove there is no duplicate.
# ``\u003a`` (an escaped colon, which a re-encoded dict key would spell ``:``) is the one
# spelling that breaks the count: such units, and units that fail the test, go to the
# exact scanner ``_walk``, which also finds the second key's position.


def _shadow_type(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin is Annotated:
        return _shadow_type(args[0])
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        inner = _shadow_type(args[0])
        return inner if inner is msgspec.Raw else inner | None
    if origin is tuple:
        inner = _shadow_type(args[0])
        return msgspec.Raw if inner is msgspec.Raw else tuple[inner, ...]  # type: ignore[valid-type]
    if origin is dict:
        return dict[str, msgspec.Raw]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _shadow(tp)
    return msgspec.Raw


def _shadow(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = [
        (name, _shadow_type(hints[name]) | msgspec.UnsetType, msgspec.UNSET)
        for name in cls.__struct_fields__
    ]
    return msgspec.defstruct(f"_Shadow{cls.__name__}", fields)


# The document's hosts stay raw at first, so the test holds one host's shadow at a time.
SHADOW_DOC = msgspec.json.Decoder(
    msgspec.defstruct(
        "_ShadowDocumentTop",
        [
            (name, (tuple[msgspec.Raw, ...] if name == "hosts" else msgspec.Raw)
             | msgspec.UnsetType, msgspec.UNSET)
            for name in SnapshotDocument.__struct_fields__
        ],
    )
)
SHADOW_HEADER = msgspec.json.Decoder(_shadow(SnapshotHeader))
SHADOW_HOST = msgspec.json.Decoder(_shadow(HostRecord))
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")


def may_repeat(unit: bytes, shadow: msgspec.json.Decoder[Any]) -> bool:
    """False only when ``unit`` (valid JSON of the shadow's shape) has no duplicate key."""
    if _ESCAPED_COLON.search(unit):
        return True
    top = shadow.decode(unit)
    if unit.count(b":") != _ENCODER.encode(top).count(b":"):
        return True
    hosts: Any = getattr(top, "hosts", ()) if shadow is SHADOW_DOC else ()
    return any(may_repeat(bytes(h), SHADOW_HOST) for h in hosts or ())


# ---------------------------------------------------------------- positions


_WS = re.compile(rb"[ \t\n\r]*")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SCALAR = re.compile(rb"-?[0-9][0-9.eE+-]*|true|false|null")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _IDENT.fullmatch(key) else f"{path}[{json.dumps(key)}]"


# Over 60 lines: one state machine (a value, then close or next member); split, it would
# pass the stack and position through every call of a scan that runs per byte of a unit.
# Long: one per-byte state machine (see above).
def _walk(buf: bytes, target: str | None = None) -> tuple[str, int, str] | None:
    """Scan the (valid) JSON value ``buf`` once, iteratively.

    Returns ``("duplicate", offset of the second key, its JSON path)`` at the first
    repeated key, ``("at", offset, path)`` where the value at JSON path ``target`` starts
    (a msgspec path: ``$.hosts[1].id``; dict entries ``[...]`` match their dict), or None.
    """
    if target is not None:
        target = target.split("[...]", 1)[0]
    stack: list[tuple[str, set[str] | None, int]] = []  # path, keys seen (None: array), index
    pos = _WS.match(buf, 0).end()  # type: ignore[union-attr]
    path = "$"
    at = pos
    while True:
        # A value starts at ``pos``; ``at`` is where to point for it (its key, in objects).
        if target is not None and path == target:
            return ("at", at, path)
        c = buf[pos : pos + 1]
        if c == b"{" or c == b"[":
            pos = _WS.match(buf, pos + 1).end()  # type: ignore[union-attr]
            if buf[pos : pos + 1] in (b"}", b"]"):
                pos += 1
            else:
                stack.append((path, set() if c == b"{" else None, 0))
                if c == b"{":
                    m = _STRING.match(buf, pos)
                    if m is None:
                        return None
                    key = json.loads(m.group())
                    stack[-1][1].add(key)  # type: ignore[union-attr]
                    at, path = pos, _child(stack[-1][0], key)
                    pos = _WS.match(buf, m.end()).end() + 1  # type: ignore[union-attr]
                    pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
                else:
                    at, path = pos, f"{stack[-1][0]}[0]"
                continue
        else:
            m = _STRING.match(buf, pos) if c == b'"' else _SCALAR.match(buf, pos)
            if m is None:
                return None
            pos = m.end()
        # After a value: close containers, or move to the next member.
        while True:
            if not stack:
                return None
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            c = buf[pos : pos + 1]
            if c != b",":
                if c not in (b"}", b"]"):
                    return None
                stack.pop()
                pos += 1
                continue
            pos = _WS.match(buf, pos + 1).end()  # type: ignore[union-attr]
            parent, seen, index = stack[-1]
            if seen is None:
                stack[-1] = (parent, None, index + 1)
                at, path = pos, f"{parent}[{index + 1}]"
            else:
                m = _STRING.match(buf, pos)
                if m is None:
                    return None
                key = json.loads(m.group())
                if key in seen:
                    return ("duplicate", pos, _child(parent, key))
                seen.add(key)
                at, path = pos, _child(parent, key)
                pos = _WS.match(buf, m.end()).end() + 1  # type: ignore[union-attr]
                pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            break


def _line_col(buf: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters; a leading BOM does not count) of a byte."""
    offset = max(0, min(offset, len(buf)))
    start = buf.rfind(b"\n", 0, offset) + 1
    prefix = buf[start:offset]
    if start == 0 and prefix.startswith(BOM):
        prefix = prefix[len(BOM) :]
    return buf.count(b"\n", 0, offset) + 1, len(prefix.decode("utf-8", "replace")) + 1


class Unit:
    """One decoded unit: the whole document, or one JSON Lines line (``line`` > 0)."""

    def __init__(self, name: str, buf: bytes, line: int = 0) -> None:
        self.name = name
        self.buf = buf
        self.line = line
        # A UTF-8 BOM opening the file is read (as YAML's is); offsets are in ``body``.
        self.skip = len(BOM) if line <= 1 and buf.startswith(BOM) else 0
        self.body = buf[self.skip :] if self.skip else buf

    def place(self, offset: int) -> str:
        ln, col = _line_col(self.buf, offset + self.skip)
        return f"{self.name}:{ln + max(self.line - 1, 0)}:{col}"

    def error(self, offset: int, message: str) -> SnapshotError:
        return SnapshotError(f"{self.place(offset)}: {message}")

    def check_duplicates(self, shadow: msgspec.json.Decoder[Any]) -> None:
        """Raise at the second of two equal keys in one object (see ``may_repeat``)."""
        if not may_repeat(self.body, shadow):
            return
        found = _walk(self.body)
        if found is not None and found[0] == "duplicate":
            _, offset, path = found
            raise self.error(
                offset,
                f"{path}: duplicate key {json.dumps(_last_key(path))} (the later value would "
                "silently replace the earlier one)",
            )

    def decode_error(self, err: msgspec.DecodeError | msgspec.ValidationError) -> SnapshotError:
        text = str(err)
        nul = self.body.find(b"\x00")
        if not isinstance(err, msgspec.ValidationError):  # a subclass of DecodeError
            m = re.search(r" \(byte (\d+)\)$", text)
            offset = int(m.group(1)) if m else len(self.body)
            if 0 <= nul <= offset:
                return self.error(nul, "NUL byte: binary data, not JSON text")
            if m is None:
                if not self.body.strip():
                    return self.error(0, "empty: no JSON document")
                return self.error(len(self.body.rstrip()), "malformed JSON: the input ends in the "
                                  "middle of a value (truncated?)")
            text = text[: m.start()]
            rest = self.body[offset : offset + 9]
            if rest.startswith((b"NaN", b"Infinity", b"-Infinity")):
                return self.error(offset, "malformed JSON: NaN and Infinity are not JSON numbers "
                                  "(numbers must be finite)")
            text = text.replace("JSON is malformed: ", "malformed JSON: ")
            return self.error(offset, text)
        # A ValidationError: the JSON is well formed; point at the value its path names.
        where = "$"
        if " - at `" in text:
            text, _, at = text.partition(" - at `")
            where = at.rstrip("`")
        unknown = re.match(r"Object contains unknown field `(.*)`$", text)
        target = _child(where, unknown.group(1)) if unknown else where
        found = _walk(self.body, target)
        offset = found[1] if found is not None and found[0] == "at" else _first(self.body)
        if text.startswith("Invalid enum value"):
            # msgspec does not say what it expected: name the allowed values of the field.
            allowed = _ENUMS.get(where.rsplit(".", 1)[-1])
            if allowed:
                text += f" (expected one of {', '.join(allowed)})"
        if text[1:2].islower():
            text = text[0].lower() + text[1:]
        error = self.error(offset, f"{where}: {text}")
        error.schema = True
        return error


def _first(buf: bytes) -> int:
    return len(buf) - len(buf.lstrip(b" \t\r\n"))


def _last_key(path: str) -> str:
    if path.endswith('"]'):
        return str(json.loads(path[path.rindex('["') + 1 : -1]))
    return path.rsplit(".", 1)[-1]



def too_long(unit: Unit, limit: int, what: str) -> SnapshotError:
    nul = unit.buf.find(b"\x00")
    if nul >= 0:
        return unit.error(nul, "NUL byte: binary data, not JSON text")
    return unit.error(0, f"{what} longer than {limit:,} bytes (the documented limit); "
                      "is this a snapshot?")
