"""Places inside a parsed document: the line and column of a node, of a key, of a
character inside a CEL expression, and the ``policy "pci": rule "kev": `` that leads
messages about it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from patchpolicy.errors import Location
from patchpolicy.render.sanitize import text as _visible


@dataclass(frozen=True)
class SourceDocument:
    """One YAML/JSON document of a file, with the text it came from for positions."""

    path: str
    index: int
    data: Any
    text_lines: tuple[str, ...]
    kind: str | None

    def where(self, loc: Sequence[str | int] = ()) -> Location:
        line, col = position(self.data, loc)
        return Location(self.path, line, col)

    @property
    def name(self) -> str | None:
        if isinstance(self.data, dict):
            meta = self.data.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("name"), str):
                return str(meta["name"])
        return None


def position(node: Any, loc: Sequence[str | int]) -> tuple[int, int]:
    """1-based (line, col) of the node at ``loc``; the deepest existing ancestor otherwise.

    Elements of ``loc`` that are not in the tree (pydantic's union and validator tags,
    or a missing key) are skipped; a missing key points at its parent mapping.
    """
    line, col = _node_pos(node)
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(node, CommentedMap) and part in node:
            # A bad key (extra field) is reported at the key; a bad value at the value.
            kline, kcol = node.lc.key(part)
            vline, vcol = node.lc.value(part)
            child = node[part]
            if isinstance(child, CommentedMap | CommentedSeq) and not last:
                line, col = _node_pos(child)
            elif last:
                line, col = vline + 1, vcol + 1
                if isinstance(child, CommentedMap | CommentedSeq):
                    line, col = kline + 1, kcol + 1
            else:
                line, col = vline + 1, vcol + 1
            node = child
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            iline, icol = node.lc.item(part)
            node = node[part]
            line, col = iline + 1, icol + 1
            if isinstance(node, CommentedMap | CommentedSeq):
                line, col = _node_pos(node)
    return line, col


def _node_pos(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return 1, 1
    return int(lc.line) + 1, int(lc.col) + 1


def key_position(node: Any, loc: Sequence[str | int], key: str) -> tuple[int, int] | None:
    """Position of ``key`` itself inside the mapping at ``loc`` (for unknown keys)."""
    for part in loc:
        if (isinstance(node, CommentedMap) and part in node) or (
            isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
    if isinstance(node, CommentedMap) and key in node:
        kline, kcol = node.lc.key(key)
        return kline + 1, kcol + 1
    return None


def expression_location(doc: SourceDocument, loc: Sequence[str | int], offset: int) -> Location:
    """Map a character offset inside the CEL text at ``loc`` to a place in the file."""
    node: Any = doc.data
    for part in loc[:-1]:
        node = node[part]
    key = loc[-1]
    value = node[key]
    vline, vcol = node.lc.value(key) if isinstance(node, CommentedMap) else node.lc.item(key)
    text = str(value)
    offset = max(0, min(offset, len(text)))
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        return _block_scalar_location(doc, value, vline + 1, offset)
    quote = 1 if isinstance(value, SingleQuotedScalarString | DoubleQuotedScalarString) else 0
    if "\n" not in text:
        return Location(doc.path, vline + 1, vcol + quote + offset + 1)
    before = text[:offset]
    return Location(doc.path, vline + 1 + before.count("\n"), 1)


def _block_scalar_location(doc: SourceDocument, value: str, first: int, offset: int) -> Location:
    """Block scalar: content starts on the next line (``first``, 0-based) at the block's
    indentation."""
    text = str(value)
    before = text[:offset]
    line_idx = before.count("\n")
    col_in = len(before) - (before.rfind("\n") + 1)
    indent = 0
    for raw in doc.text_lines[first:]:
        if raw.strip():
            indent = len(raw) - len(raw.lstrip(" "))
            break
    if isinstance(value, FoldedScalarString):
        # Folded lines were joined by spaces; find the offset by walking raw lines.
        remaining = offset
        for i, raw in enumerate(doc.text_lines[first:]):
            content = raw[indent:]
            if remaining <= len(content):
                return Location(doc.path, first + i + 1, indent + remaining + 1)
            remaining -= len(content) + 1
    return Location(doc.path, first + line_idx + 1, indent + col_in + 1)


_KIND_LABELS = {
    "PatchPolicy": "policy",
    "ExceptionSet": "exception set",
    "PolicyTest": "test",
    "FleetSnapshot": "snapshot",
}
_ITEM_LABELS = {"rules": "rule", "windows": "window", "freezes": "freeze", "rings": "ring",
                "exceptions": "exception", "cases": "case", "hosts": "host",
                "findings": "finding"}


def message_context(doc: SourceDocument, loc: Sequence[str | int]) -> str:
    """``policy "pci": rule "kev": `` for messages that lead with the document and id."""
    kind_label = _KIND_LABELS.get(doc.kind or "", "document")
    parts = []
    if doc.name:
        parts.append(f'{kind_label} "{_visible(doc.name)}"')
    node: Any = doc.data
    prev: str | int | None = None
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, dict) and isinstance(prev, str) and prev in _ITEM_LABELS:
                ident = node.get("id", node.get("name"))
                if isinstance(ident, str):
                    parts.append(f'{_ITEM_LABELS[prev]} "{_visible(ident)}"')
        else:
            break
        prev = part
    return ": ".join(parts) + ": " if parts else ""
