"""Load policy files into typed, compiled bundles; every problem points at file:line:col.

Layers, each collecting every problem it finds before stopping:

1. structure: YAML/JSON syntax (ruamel.yaml round-trip), duplicate keys, one mapping per
   document with a known ``apiVersion``/``kind``;
2. schema: the pydantic model of the kind; each error's ``loc`` is mapped back to the
   YAML node it came from;
3. expressions: every CEL expression compiled once, fields checked against the snapshot
   model, the column inside the expression mapped into the file;
4. semantics across the bundle: unique ids, time order, exception lifetimes, references.

A directory is a bundle of every ``*.yaml``, ``*.yml`` and ``*.json`` under it.
"""

from __future__ import annotations

import bisect
import contextvars
import difflib
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pydantic
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    SingleQuotedScalarString,
)

from patchpolicy.errors import Diagnostic, ExprError, InputError, Location, ValidationError
from patchpolicy.model.bundle import (
    Bundle,
    CompiledException,
    CompiledFreeze,
    CompiledPolicy,
    CompiledRing,
    CompiledRule,
    CompiledWindow,
    SourceFile,
)
from patchpolicy.model.exceptions import ExceptionSet
from patchpolicy.model.fleet import API_VERSION, FleetSnapshot
from patchpolicy.model.policy import Freeze, PatchPolicy, Ring, Rule, Window
from patchpolicy.model.policytest import PolicyTest
from patchpolicy.render.sanitize import text as _visible
from patchpolicy.textfile import compressed_kind, utf8_problem

KINDS: dict[str, type[pydantic.BaseModel]] = {
    "PatchPolicy": PatchPolicy,
    "ExceptionSet": ExceptionSet,
    "PolicyTest": PolicyTest,
    "FleetSnapshot": FleetSnapshot,
}
SUFFIXES = (".yaml", ".yml", ".json")

HOST = frozenset({"host"})
HOST_FINDING = frozenset({"host", "finding"})


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps timestamps as their text.

    The models parse them, so YAML and JSON files follow one set of rules (an offset is
    required) and messages quote what the user wrote.
    """


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
)


MAX_POLICY_FILE = 16 * 1024 * 1024
"""Bytes in one policy file: far beyond any real bundle file, short of exhausting memory."""
MAX_ALIASES = 100
"""YAML aliases (``*name``) in one file: the 414-byte alias bomb expands to gigabytes."""


def _read_policy_file(path: Path) -> bytes:
    """A regular file's bytes, refusing devices, FIFOs and files over MAX_POLICY_FILE."""
    import stat

    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device, FIFO or socket)"
        raise InputError(f"cannot read policy: it is {kind}")
    if st.st_size > MAX_POLICY_FILE:
        raise InputError(f"file is {st.st_size:,} bytes; the limit for a policy file is {MAX_POLICY_FILE:,}")
    with path.open("rb") as fh:
        data = fh.read(MAX_POLICY_FILE + 1)
    if len(data) > MAX_POLICY_FILE:
        raise InputError(f"file is over {MAX_POLICY_FILE:,} bytes, the limit for a policy file")
    return data


MAX_YAML_DEPTH = 64
"""Nested collections in one document: a real policy nests about six deep."""
MAX_EXPANDED_NODES = 100_000
"""Nodes a file may stand for once its aliases are expanded (each alias counts the whole
node it names): a real policy has a few hundred."""


def _too_many_aliases(text: str, name: str) -> Diagnostic | None:
    """Measure the expanded size from the event stream, building nothing: aliases are
    expanded when the document is converted, so a bomb must be stopped before that."""
    could_nest = text.count("[") + text.count("{") > MAX_YAML_DEPTH or any(
        len(line) - len(line.lstrip(" -")) > 2 * MAX_YAML_DEPTH for line in text.splitlines()
    )
    if not could_nest and ("*" not in text or "&" not in text):
        return None
    from ruamel.yaml.events import (
        AliasEvent,
        CollectionEndEvent,
        CollectionStartEvent,
        ScalarEvent,
    )

    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]
    aliases = 0
    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, CollectionStartEvent):
                stack.append([event.anchor, 1])
                if len(stack) > MAX_YAML_DEPTH + 1:
                    mark = event.start_mark
                    return Diagnostic(
                        Location(name, mark.line + 1, mark.column + 1),
                        f"YAML nests deeper than {MAX_YAML_DEPTH} levels: refused",
                    )
                continue
            if isinstance(event, ScalarEvent):
                n = 1
                if event.anchor:
                    sizes[event.anchor] = 1
            elif isinstance(event, AliasEvent):
                aliases += 1
                n = sizes.get(event.anchor or "", 1)
            elif isinstance(event, CollectionEndEvent) and len(stack) > 1:
                anchor, n = stack.pop()
                if anchor:
                    sizes[anchor] = n
            else:
                continue
            stack[-1][1] += n
            if stack[-1][1] > MAX_EXPANDED_NODES or aliases > MAX_ALIASES:
                mark = event.start_mark
                return Diagnostic(
                    Location(name, mark.line + 1, mark.column + 1),
                    f"YAML aliases expand this file beyond {MAX_EXPANDED_NODES:,} nodes or use "
                    f"more than {MAX_ALIASES} aliases: refused (an alias bomb); write the values out",
                )
    except YAMLError:
        return None  # the real load reports the syntax error with its position
    return None


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.Constructor = _Constructor
    y.preserve_quotes = True
    y.allow_duplicate_keys = False
    return y


@dataclass(frozen=True)
class SourceDocument:
    """One YAML/JSON document of a file, with the text it came from for positions."""

    path: str
    index: int
    data: Any
    text_lines: tuple[str, ...]
    kind: str | None

    def where(self, loc: Sequence[str | int] = ()) -> Location:
        line, col = _position(self.data, loc)
        return Location(self.path, line, col)

    @property
    def name(self) -> str | None:
        if isinstance(self.data, dict):
            meta = self.data.get("metadata")
            if isinstance(meta, dict) and isinstance(meta.get("name"), str):
                return str(meta["name"])
        return None


def _position(node: Any, loc: Sequence[str | int]) -> tuple[int, int]:
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


def _key_pos(node: Any, loc: Sequence[str | int], key: str) -> tuple[int, int] | None:
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


# ---------------------------------------------------------------- files -> documents


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to their policy files (sorted); files are taken as given.

    Problems met on the way (see :func:`discover_checked`) are left to the reads to report.
    """
    return discover_checked(paths)[0]


def discover_checked(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Expand directories to their policy files, and say what could not be read.

    The symlink rule: inside a directory given on the command line, a symlink to a file or
    a directory is followed when its target is inside that directory (a loop is reported
    once); a symlink whose target is outside it, or missing, is an error, as is a
    subdirectory that cannot be listed. Nothing is skipped without a word.
    """
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found.extend(_walk_dir(p, problems))
        else:
            found.append(p)
    return _unique(found), problems


def _walk_dir(root: Path, problems: list[Diagnostic]) -> list[Path]:
    top = root.resolve()
    out: list[Path] = []
    visited: set[Path] = {top}
    pending = [root]
    while pending:
        d = pending.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            problems.append(Diagnostic(Location(str(d)), f"cannot read directory: {e.strerror or e}"))
            continue
        for entry in entries:
            path = Path(d) / entry.name
            target = path
            if entry.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    problems.append(Diagnostic(Location(str(path)), "dangling symlink: its target does not exist"))
                    continue
                if target != top and top not in target.parents:
                    problems.append(Diagnostic(
                        Location(str(path)),
                        f"symlink to {target}, outside {root}: not followed (symlinks must stay inside the bundle)",
                    ))
                    continue
            if target.is_dir():
                real = target.resolve()
                if real in visited:
                    if entry.is_symlink():
                        problems.append(Diagnostic(Location(str(path)), "symlink loop: directory already read"))
                    continue
                visited.add(real)
                pending.append(path)
            elif target.is_file() and entry.name.lower().endswith(tuple(SUFFIXES)):
                out.append(path)
    return sorted(out)


def _unique(found: list[Path]) -> list[Path]:
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _at_end(e: MarkedYAMLError) -> bool:
    problem = e.problem or ""
    return "<stream end>" in problem or "end of stream" in problem


def _mark_location(path: str, e: MarkedYAMLError) -> Location:
    # Past the end of the file, the problem mark points at a line that does not exist;
    # the context mark is where the unclosed construct opened.
    mark = e.context_mark if _at_end(e) and e.context_mark else e.problem_mark or e.context_mark
    if mark is None:
        return Location(path)
    return Location(path, mark.line + 1, mark.column + 1)


def _first_key_line(text: str, e: MarkedYAMLError, key: str) -> int | None:
    """1-based line of the first definition of a duplicated key, between the mapping's
    start (context mark) and the duplicate (problem mark)."""
    import re

    start, dup = e.context_mark, e.problem_mark
    if start is None or dup is None:
        return None
    lines = text.splitlines()
    # Block mapping: every key of the mapping starts in the duplicate's column.
    key_at = re.compile(rf"""(["']?){re.escape(key)}\1\s*:(\s|$)""")
    for n in range(start.line, dup.line):
        if n < len(lines) and key_at.match(lines[n], dup.column):
            return n + 1
    # Flow mapping: the first occurrence of the key in the text before the duplicate.
    flow = re.compile(rf"""(?<![\w.-])(["']?){re.escape(key)}\1\s*:""")
    m = flow.search(text, start.index, dup.index)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _yaml_message(e: MarkedYAMLError, text: str = "") -> str:
    import re

    from ruamel.yaml.constructor import DuplicateKeyError

    if isinstance(e, DuplicateKeyError):
        m = re.match(r'found duplicate key "(.*?)" with value', e.problem or "")
        key = m.group(1) if m else "?"
        first = _first_key_line(text, e, key) if m else None
        if first is None and e.context_mark is not None:
            first = e.context_mark.line + 1
        where = f" (first defined at line {first})" if first else ""
        return f"duplicate key '{key}'{where}: keys must be unique"
    context, problem = e.context or "", e.problem or ""
    if _at_end(e) and context:
        what = re.sub(r"^while (parsing|scanning) (an? )?", "", context)
        problem = problem.replace("'<stream end>'", "the end of the file").replace(
            "found unexpected end of stream", "the file ends inside it"
        )
        return f"yaml syntax error: unclosed {what}: {problem}"
    if "'\\t'" in problem:
        problem += "; indent with spaces, not tabs"
    parts = [p for p in (context, problem) if p]
    return "yaml syntax error: " + "; ".join(parts) if parts else "yaml syntax error"


# What the YAML reader refuses ("unacceptable character"): C0 controls but TAB, LF, CR;
# DEL and C1 but NEL; surrogates; U+FFFE/FFFF. Reported at line:col before YAML sees it.
_UNREADABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


def read_documents(
    path: Path, raw: bytes | None = None
) -> tuple[list[SourceDocument], list[Diagnostic]]:
    """Parse every document of one file (``raw``: its bytes, when already read); syntax
    errors become diagnostics."""
    name = str(path)
    if raw is None:
        try:
            raw = path.read_bytes()
        except OSError as e:
            return [], [Diagnostic(Location(name), f"cannot read file: {e.strerror or e}")]
    if not raw:
        return [], [Diagnostic(Location(name, 1, 1), "empty file: a policy file is a YAML or JSON document")]
    what = compressed_kind(raw)
    if what is not None:
        return [], [Diagnostic(Location(name, 1, 1), f"{what}: decompress it first (a policy file is YAML or JSON text)")]
    problem = utf8_problem(raw)
    if problem is not None:
        line, col, message = problem
        return [], [Diagnostic(Location(name, line, col), message)]
    text = raw.decode("utf-8")
    bad = _UNREADABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        char = bad.group()
        what = "NUL byte" if char == "\x00" else f"control character U+{ord(char):04X}"
        return [], [Diagnostic(Location(name, line, col), f"{what}: YAML text cannot hold it (binary data?)")]
    lines = tuple(text.splitlines())
    docs: list[SourceDocument] = []
    bomb = _too_many_aliases(text, name)
    if bomb is not None:
        return [], [bomb]
    try:
        for i, data in enumerate(_yaml().load_all(text)):
            if data is None:
                continue
            tagged = _tagged(data, name)
            if tagged is not None:
                return docs, [tagged]
            kind = data.get("kind") if isinstance(data, dict) else None
            docs.append(
                SourceDocument(name, i, data, lines, kind if isinstance(kind, str) else None)
            )
    except MarkedYAMLError as e:
        return docs, [Diagnostic(_mark_location(name, e), _yaml_message(e, text))]
    except YAMLError as e:
        return docs, [Diagnostic(Location(name), f"yaml error: {e}")]
    if not docs:
        return [], [Diagnostic(Location(name, 1, 1), "file holds no document")]
    return docs, []


def _tagged(data: Any, name: str) -> Diagnostic | None:
    """The first explicit YAML tag (``!!binary``, ``!custom``) in a document, as an error:
    tags change what a value is in ways a policy reviewer cannot see."""
    stack: list[tuple[Any, Location]] = [(data, Location(name, 1, 1))]
    while stack:
        node, where = stack.pop()
        tag = getattr(getattr(node, "tag", None), "value", None)
        if isinstance(node, TaggedScalar | bytes) or (
            isinstance(node, CommentedMap | CommentedSeq) and tag
        ):
            shown = tag or ("!!binary" if isinstance(node, bytes) else "a tag")
            return Diagnostic(where, f"YAML tags are not allowed ({shown}): write the plain value")
        if isinstance(node, CommentedMap):
            for key, value in node.items():
                line, col = node.lc.value(key)
                stack.append((value, Location(name, line + 1, col + 1)))
        elif isinstance(node, CommentedSeq):
            for i, value in enumerate(node):
                line, col = node.lc.item(i)
                stack.append((value, Location(name, line + 1, col + 1)))
    return None


# ---------------------------------------------------------------- schema layer


def _context(doc: SourceDocument, loc: Sequence[str | int]) -> str:
    """``policy "pci": rule "kev": `` for messages that lead with the document and id."""
    kind_label = {
        "PatchPolicy": "policy",
        "ExceptionSet": "exception set",
        "PolicyTest": "test",
        "FleetSnapshot": "snapshot",
    }.get(doc.kind or "", "document")
    parts = []
    if doc.name:
        parts.append(f'{kind_label} "{_visible(doc.name)}"')
    node: Any = doc.data
    labels = {"rules": "rule", "windows": "window", "freezes": "freeze", "rings": "ring",
              "exceptions": "exception", "cases": "case", "hosts": "host",
              "findings": "finding"}
    prev: str | int | None = None
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, dict) and isinstance(prev, str) and prev in labels:
                ident = node.get("id", node.get("name"))
                if isinstance(ident, str):
                    parts.append(f'{labels[prev]} "{_visible(ident)}"')
        else:
            break
        prev = part
    return ": ".join(parts) + ": " if parts else ""


def _allowed_fields(model: type[pydantic.BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names (by alias) of the sub-model that ``loc`` points into, best effort."""
    import typing

    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, pydantic.BaseModel)):
            return []
        field = None
        for fname, info in current.model_fields.items():
            if (info.alias or fname) == part:
                field = info
                break
        if field is None:
            return []
        ann = field.annotation
        current = _unwrap_model(ann, typing)
    if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
        return [info.alias or name for name, info in current.model_fields.items()]
    return []


def _unwrap_model(ann: Any, typing: Any) -> Any:
    for _ in range(5):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
            return ann
        if not args:
            return ann
        models = [a for a in args if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
        ann = models[0] if models else args[0]
    return ann


def _schema_diagnostics(
    doc: SourceDocument, model: type[pydantic.BaseModel], err: pydantic.ValidationError
) -> list[Diagnostic]:
    items = err.errors(include_url=False)
    # A typo'd key gives two pydantic errors: the unknown key and the required key it was
    # meant to be. Report only the unknown key, whose did-you-mean names the missing one.
    meant: set[tuple[Any, ...]] = set()
    for item in items:
        if item["type"] == "extra_forbidden" and item["loc"]:
            owner = tuple(item["loc"][:-1])
            close = difflib.get_close_matches(
                str(item["loc"][-1]), _allowed_fields(model, owner), n=1, cutoff=0.6
            )
            if close:
                meant.add((*owner, close[0]))
    out = []
    for item in items:
        loc = tuple(item["loc"])
        typ = item["type"]
        if typ == "missing" and loc in meant:
            continue
        msg = str(item["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif msg.startswith("Assertion failed, "):
            msg = msg[len("Assertion failed, ") :]
        path = ".".join(str(p) for p in loc)
        line, col = _position(doc.data, loc)
        if typ == "missing":
            field = loc[-1] if loc else "?"
            parent = ".".join(str(p) for p in loc[:-1]) or "document"
            text = f"missing required key '{field}' in {parent}"
        elif typ == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_fields(model, loc[:-1])
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else (
                f" (allowed: {', '.join(allowed)})" if allowed else ""
            )
            kp = _key_pos(doc.data, loc[:-1], key)
            if kp:
                line, col = kp
            text = f"unknown key '{key}'{hint}"
        elif typ == "too_short" and item.get("ctx", {}).get("min_length") == 1:
            # pydantic says "list should have at least 1 item after validation, not 0".
            text = f"{path}: must not be empty"
        else:
            value = item.get("input")
            shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
            text = f"{path}: {msg[0].lower()}{msg[1:]}"
            if shown and repr(value) not in text:
                text += shown
        out.append(Diagnostic(Location(doc.path, line, col), _context(doc, loc) + text,
                              json_path=_json_path(loc)))
    return out


def _json_path(loc: Sequence[Any]) -> str:
    """A pydantic location as a JSONPath: ``("spec", "rules", 0)`` -> ``$.spec.rules[0]``."""
    out = "$"
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}"
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _to_plain(node: Any) -> Any:
    """ruamel containers -> plain dict/list/str so pydantic sees ordinary types."""
    if isinstance(node, dict):
        return {str(k): _to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def validate_document(doc: SourceDocument) -> tuple[pydantic.BaseModel | None, list[Diagnostic]]:
    """Check apiVersion/kind, then the kind's model; every error mapped to a place."""
    data = doc.data
    if not isinstance(data, dict):
        return None, [Diagnostic(doc.where(), "a document must be a mapping with apiVersion and kind")]
    diags = []
    api = data.get("apiVersion")
    if api != API_VERSION:
        what = "missing apiVersion" if api is None else f"unsupported apiVersion {api!r}"
        diags.append(Diagnostic(doc.where(["apiVersion"]), f"{what}: expected '{API_VERSION}'"))
    kind = data.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        close = difflib.get_close_matches(str(kind), sorted(KINDS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        what = "missing kind" if kind is None else f"unknown kind {kind!r}{hint}"
        diags.append(
            Diagnostic(doc.where(["kind"]), f"{what}: expected one of {', '.join(sorted(KINDS))}")
        )
    if diags or model is None:
        return None, diags
    try:
        return model.model_validate(_to_plain(data)), []
    except pydantic.ValidationError as e:
        return None, _schema_diagnostics(doc, model, e)


# ---------------------------------------------------------------- expressions


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
        # Block scalar: content starts on the next line at the block's indentation.
        before = text[:offset]
        line_idx = before.count("\n")
        col_in = len(before) - (before.rfind("\n") + 1)
        first = vline + 1
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
    quote = 1 if isinstance(value, SingleQuotedScalarString | DoubleQuotedScalarString) else 0
    if "\n" not in text:
        return Location(doc.path, vline + 1, vcol + quote + offset + 1)
    before = text[:offset]
    return Location(doc.path, vline + 1 + before.count("\n"), 1)


_COMPILED: contextvars.ContextVar[dict[tuple[str, frozenset[str]], Any] | None] = (
    contextvars.ContextVar("patchpolicy_loader_compiled", default=None)
)
"""Per check_bundle call: each distinct (expression, roots) is analysed and compiled once
and the CompiledExpression shared (policies repeat expressions: ``finding.kev != null``,
``host.env == "prod"``), which also shares its memo. Errors are kept too, and reported
at every place the text occurs."""


def _compile(
    doc: SourceDocument,
    loc: tuple[str | int, ...],
    source: str,
    roots: frozenset[str],
    what: str,
    diags: list[Diagnostic],
) -> Any:
    from patchpolicy.expr import compile_expression

    cache = _COMPILED.get()
    outcome = cache.get((source, roots)) if cache is not None else None
    if outcome is None:
        try:
            outcome = compile_expression(source, roots=roots, expect_bool=True)
        except ExprError as failed:
            outcome = failed
        if cache is not None:
            cache[(source, roots)] = outcome
    if isinstance(outcome, ExprError):
        diags.append(
            Diagnostic(
                expression_location(doc, loc, outcome.offset),
                f"{_context(doc, loc)}{what}: {outcome.message}",
            )
        )
        return None
    compiled = outcome
    warnings = compiled.warnings
    if what == "match":
        # Exception matches are pre-filtered by their equality guards (expr/guards.py):
        # reading a guarded id costs a dict lookup, not an evaluation per finding.
        from patchpolicy.expr.guards import equality_guards

        guarded = {f"field {g.root}.{g.field}:" for g in equality_guards(source)}
        warnings = tuple(w for w in warnings if not any(g in w for g in guarded))
    diags.extend(
        Diagnostic(
            expression_location(doc, loc, 0),
            f"{_context(doc, loc)}{what}: {warning}",
            severity="warning",
        )
        for warning in warnings
    )
    return compiled


# ---------------------------------------------------------------- the bundle


@dataclass
class _Loaded:
    doc: SourceDocument
    model: pydantic.BaseModel


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


@dataclass(frozen=True)
class SnapshotSummary:
    """A fleet snapshot ``validate`` read with the snapshot reader, and what it holds."""

    path: str
    hosts: int
    findings: int


STDIN = "-"
STDIN_NAME = "<stdin>"
_JSONL = (".jsonl", ".ndjson")


def _read_stdin() -> bytes:
    """``-``: the bytes of standard input (one file's worth; never a terminal)."""
    stream = sys.stdin.buffer
    if stream.isatty():
        raise InputError("standard input is a terminal: pipe a document in")
    data = stream.read(MAX_POLICY_FILE + 1)
    if len(data) > MAX_POLICY_FILE:
        raise InputError(f"input is over {MAX_POLICY_FILE:,} bytes, the limit for a policy file")
    return data


def _looks_like_snapshot(f: Path, data: bytes, docs: list[SourceDocument]) -> bool:
    """A JSON fleet snapshot: read by the snapshot reader as ``check`` would, so both
    commands give the same message for the same problem."""
    if f.suffix.lower() != ".json" and str(f) != STDIN:
        return False
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return False
    if docs:
        return any(d.kind == "FleetSnapshot" for d in docs)
    return b'"FleetSnapshot"' in data[:65536]


def _snapshot_problems(f: Path, name: str, data: bytes | None,
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
    loaded: list[_Loaded] = []
    sources: list[SourceFile] = []
    for f in files:
        name = STDIN_NAME if str(f) == STDIN else str(f)
        if f.suffix.lower() in _JSONL:
            diags.extend(_snapshot_problems(f, name, None, snapshots)[0])
            continue
        try:
            data = _read_stdin() if str(f) == STDIN else _read_policy_file(f)
        except InputError as e:
            diags.append(Diagnostic(Location(name), str(e)))
            continue
        except FileNotFoundError:
            diags.append(Diagnostic(Location(name), "no such file or directory"))
            continue
        except OSError as e:
            diags.append(Diagnostic(Location(name), f"cannot read file: {e.strerror or e}"))
            continue
        docs, errs = read_documents(Path(name), data)
        problems: list[Diagnostic] = []
        if _looks_like_snapshot(f, data, docs):
            problems, schema_level = _snapshot_problems(f, name, data, None)
            if problems and not (schema_level and docs and not errs):
                # What `check` would say (malformed JSON, a duplicate key, a limit): YAML
                # reads more than JSON allows, so its opinion of such a file misleads.
                # Schema-level problems keep the loader's messages (they name the host
                # and finding); `check` points at the same value by its JSON path.
                diags.extend(problems)
                continue
        diags.extend(errs)
        sources.append(SourceFile(name, hashlib.sha256(data).hexdigest(), len(data)))
        if documents is not None:
            documents.extend(docs)
        found_errors = False
        for doc in docs:
            model, errs = validate_document(doc)
            diags.extend(errs)
            found_errors = found_errors or any(d.severity == "error" for d in errs)
            if model is not None:
                loaded.append(_Loaded(doc, model))
        if problems and not found_errors:
            diags.extend(problems)  # the reader refuses what the schema let through
    token = _COMPILED.set({})
    try:
        policies, exceptions, tests = _compile_all(loaded, diags)
    finally:
        _COMPILED.reset(token)
    diags.extend(_semantics(loaded))
    if any(d.severity == "error" and d.blocks_evaluation for d in diags):
        return None, sorted(set(diags))
    bundle = Bundle(
        policies=tuple(sorted(policies, key=lambda p: p.name)),
        exceptions=tuple(sorted(exceptions, key=lambda e: e.id)),
        tests=tuple(tests),
        files=tuple(sorted(sources, key=lambda s: s.path)),
        warnings=tuple(sorted({d for d in diags if d.severity != "error"})),
    )
    return bundle, sorted(set(diags))


def _compile_all(
    loaded: list[_Loaded], diags: list[Diagnostic]
) -> tuple[list[CompiledPolicy], list[CompiledException], list[tuple[PolicyTest, Location]]]:
    policies: list[CompiledPolicy] = []
    exceptions: list[CompiledException] = []
    tests: list[tuple[PolicyTest, Location]] = []
    for item in loaded:
        doc, model = item.doc, item.model
        if isinstance(model, PatchPolicy):
            policies.append(_compile_policy(doc, model, diags))
        elif isinstance(model, ExceptionSet):
            for i, exc in enumerate(model.exceptions):
                loc: tuple[str | int, ...] = ("exceptions", i, "match")
                match = _compile(doc, loc, exc.match, HOST_FINDING, "match", diags)
                if match is not None:
                    exceptions.append(
                        CompiledException(exc, model, match, doc.where(("exceptions", i)))
                    )
        elif isinstance(model, PolicyTest):
            tests.append((model, doc.where()))
    return policies, exceptions, tests


def _compile_policy(doc: SourceDocument, policy: PatchPolicy, diags: list[Diagnostic]) -> CompiledPolicy:
    spec = policy.spec
    scope = None
    if spec.scope is not None:
        scope = _compile(doc, ("spec", "scope"), spec.scope, HOST, "scope", diags)
    rules = []
    for i, rule in enumerate(spec.rules):
        loc: tuple[str | int, ...] = ("spec", "rules", i, "when")
        when = _compile(doc, loc, rule.when, HOST_FINDING, "when", diags)
        rules.append(CompiledRule(rule, when, doc.where(("spec", "rules", i))))
    windows = []
    for i, w in enumerate(spec.windows):
        hosts = None
        if w.hosts is not None:
            hosts = _compile(doc, ("spec", "windows", i, "hosts"), w.hosts, HOST, "hosts", diags)
        windows.append(CompiledWindow(w, hosts, doc.where(("spec", "windows", i))))
    freezes = []
    for i, fz in enumerate(spec.freezes):
        fhosts = allow = None
        if fz.hosts is not None:
            fhosts = _compile(doc, ("spec", "freezes", i, "hosts"), fz.hosts, HOST, "hosts", diags)
        if fz.allow is not None:
            allow = _compile(
                doc, ("spec", "freezes", i, "allow"), fz.allow, HOST_FINDING, "allow", diags
            )
        freezes.append(CompiledFreeze(fz, fhosts, allow, doc.where(("spec", "freezes", i))))
    rings = []
    for i, ring in enumerate(spec.rings):
        rhosts = _compile(doc, ("spec", "rings", i, "hosts"), ring.hosts, HOST, "hosts", diags)
        rings.append(CompiledRing(ring, rhosts, doc.where(("spec", "rings", i))))
    return CompiledPolicy(
        policy, doc.where(), scope, tuple(rules), tuple(windows), tuple(freezes), tuple(rings)
    )


def _duplicates(
    items: Iterable[tuple[str, Location]], what: str
) -> Iterator[Diagnostic]:
    first: dict[str, Location] = {}
    for ident, where in items:
        if ident in first:
            yield Diagnostic(where, f'duplicate {what} id "{ident}" (first defined at {first[ident]})')
        else:
            first[ident] = where


def _semantics(loaded: list[_Loaded]) -> list[Diagnostic]:
    """Cross-document checks: ids, references, time order, lifetimes, control ids."""
    diags: list[Diagnostic] = []
    policies = [(x.doc, x.model) for x in loaded if isinstance(x.model, PatchPolicy)]
    sets = [(x.doc, x.model) for x in loaded if isinstance(x.model, ExceptionSet)]
    tests = [(x.doc, x.model) for x in loaded if isinstance(x.model, PolicyTest)]
    diags.extend(
        _duplicates(((p.metadata.name, d.where(("metadata", "name"))) for d, p in policies), "policy")
    )
    diags.extend(
        _duplicates(((s.metadata.name, d.where(("metadata", "name"))) for d, s in sets), "exception set")
    )
    diags.extend(
        _duplicates(((t.metadata.name, d.where(("metadata", "name"))) for d, t in tests), "test")
    )
    diags.extend(
        _duplicates(
            (
                (e.id, d.where(("exceptions", i, "id")))
                for d, s in sets
                for i, e in enumerate(s.exceptions)
            ),
            "exception",
        )
    )
    by_name = {p.metadata.name: p for _, p in policies}
    for doc, p in policies:
        spec = p.spec
        ctx = f'policy "{p.metadata.name}": '
        groups: list[tuple[str, str, Sequence[Rule | Window | Freeze | Ring]]] = [
            ("rule", "rules", spec.rules),
            ("window", "windows", spec.windows),
            ("freeze", "freezes", spec.freezes),
            ("ring", "rings", spec.rings),
        ]
        for what, key, items in groups:
            diags.extend(
                Diagnostic(d.location, ctx + d.message)
                for d in _duplicates(
                    ((it.id, doc.where(("spec", key, i, "id"))) for i, it in enumerate(items)),
                    what,
                )
            )
        control_ids = [c.id for c in p.metadata.controls]
        diags.extend(
            Diagnostic(d.location, ctx + d.message)
            for d in _duplicates(
                ((c.id, doc.where(("metadata", "controls", i, "id")))
                 for i, c in enumerate(p.metadata.controls)),
                "control",
            )
        )
        refs: list[tuple[tuple[str | int, ...], str, list[str]]] = [
            (("spec", "rules", i, "controls"), f'rule "{r.id}"', r.controls)
            for i, r in enumerate(spec.rules)
        ]
        if spec.hygiene is not None:
            refs.append((("spec", "hygiene", "controls"), "hygiene", spec.hygiene.controls))
        for loc, label, ids in refs:
            for j, cid in enumerate(ids):
                if cid not in control_ids:
                    close = difflib.get_close_matches(cid, control_ids, n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else (
                        f" (declared: {', '.join(control_ids)})" if control_ids
                        else " (metadata.controls declares none)"
                    )
                    diags.append(
                        Diagnostic(doc.where((*loc, j)), f"{ctx}{label}: unknown control '{cid}'{hint}")
                    )
        for i, w in enumerate(spec.windows):
            if w.not_before is not None and w.not_after is not None and w.not_before >= w.not_after:
                diags.append(
                    Diagnostic(
                        doc.where(("spec", "windows", i, "not_before")),
                        f'{ctx}window "{w.id}": not_before is not before not_after',
                    )
                )
        diags.extend(_window_checks(doc, p))
        if not spec.rules:
            diags.append(Diagnostic(doc.where(("spec", "rules")), f"{ctx}rules must not be empty"))
    # Policies with a max_lifetime, shortest first: an exception for every policy is
    # compared with those it outlives only (not each of 10^4 policies, issue 12 #8).
    limited = sorted(
        (p.spec.exceptions.max_lifetime, name)
        for name, p in by_name.items()
        if p.spec.exceptions is not None and p.spec.exceptions.max_lifetime is not None
    )
    limits = [limit for limit, _ in limited]
    for doc, s in sets:
        for i, e in enumerate(s.exceptions):
            ctx = f'exception set "{s.metadata.name}": exception "{e.id}": '
            lifetime = e.expires - e.approved_at
            if e.policies is not None:
                names = e.policies
            else:
                outlived = bisect.bisect_left(limits, lifetime)
                names = sorted(name for _, name in limited[:outlived])
            for j, name in enumerate(e.policies or []):
                if name not in by_name:
                    close = difflib.get_close_matches(name, sorted(by_name), n=1)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    diags.append(
                        Diagnostic(
                            doc.where(("exceptions", i, "policies", j)),
                            f"{ctx}names unknown policy '{name}'{hint}",
                        )
                    )
            for name in names:
                pol = by_name.get(name)
                limit = pol.spec.exceptions.max_lifetime if pol and pol.spec.exceptions else None
                if limit is not None and lifetime > limit:
                    diags.append(
                        Diagnostic(
                            doc.where(("exceptions", i, "expires")),
                            f"{ctx}lasts {lifetime.days}d, longer than policy '{name}' "
                            f"allows (max_lifetime {limit.days}d)",
                            blocks_evaluation=False,
                        )
                    )
    return diags


def _window_checks(doc: SourceDocument, policy: PatchPolicy) -> list[Diagnostic]:
    """Window and freeze sanity (windows.py), pinned to the window or freeze in the file.

    Recurrences are checked for the year after the policy's effective_from, or after
    windows.ANCHOR_DATE: never the wall clock, so validation is reproducible.
    """
    from patchpolicy import windows as windows_mod

    spec = policy.spec
    eff = policy.metadata.effective_from
    reference = eff if eff is not None else datetime.combine(
        windows_mod.ANCHOR_DATE, datetime.min.time(), tzinfo=UTC
    )
    # A window whose not_before is not before its not_after is reported once, by
    # _semantics; checking its recurrence would add "no occurrence" for the same mistake.
    sane = [
        w for w in spec.windows
        if w.not_before is None or w.not_after is None or w.not_before < w.not_after
    ]
    issues = windows_mod.check_windows(sane, reference) + windows_mod.check_freezes(
        spec.freezes
    )
    index = {
        "window": {w.id: i for i, w in enumerate(spec.windows)},
        "freeze": {f.id: i for i, f in enumerate(spec.freezes)},
    }
    out = []
    for issue in issues:
        key = "windows" if issue.kind == "window" else "freezes"
        loc: tuple[str | int, ...] = ("spec", key, index[issue.kind][issue.id])
        # A message that leads with a field ("rrule never occurs", "until ... is not
        # after from ...") is pinned to that field's value; others to the window itself.
        field = issue.message.split(" ", 1)[0].rstrip(":")
        node = doc.data.get("spec", {}).get(key, [])[loc[2]]
        if isinstance(node, dict) and field in node:
            loc = (*loc, field)
        where = doc.where(loc)
        out.append(
            Diagnostic(
                where,
                f'policy "{policy.metadata.name}": {issue.kind} "{issue.id}": {issue.message}',
                severity=issue.severity,
            )
        )
    return out


def _ts(dt: datetime) -> str:
    from patchpolicy.model.common import format_timestamp

    return format_timestamp(dt)
