"""One file's bytes into SourceDocuments: text checks (empty, compressed, UTF-8, control
characters), YAML read with positions (ruamel round-trip, timestamps kept as text,
duplicate keys refused), limits on aliases, nesting and tags, and YAML's errors said
plainly at file:line:col."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from patchpolicy.errors import Diagnostic, Location
from patchpolicy.loader.positions import SourceDocument
from patchpolicy.textfile import compressed_kind, utf8_problem


class _Constructor(RoundTripConstructor):
    """Round-trip constructor that keeps timestamps as their text.

    The models parse them, so YAML and JSON files follow one set of rules (an offset is
    required) and messages quote what the user wrote.
    """


_Constructor.add_constructor(
    "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
)


MAX_ALIASES = 100
"""YAML aliases (``*name``) in one file: the 414-byte alias bomb expands to gigabytes."""
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
    """YAML's complaint in the house style: a duplicate key names its first definition;
    an unclosed construct says where it opened."""
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
    text = _text_of(name, raw)
    if isinstance(text, Diagnostic):
        return [], [text]
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


def _text_of(name: str, raw: bytes) -> str | Diagnostic:
    """The file's text, or why it is not text YAML can read (at the first bad byte)."""
    if not raw:
        return Diagnostic(Location(name, 1, 1), "empty file: a policy file is a YAML or JSON document")
    what = compressed_kind(raw)
    if what is not None:
        return Diagnostic(Location(name, 1, 1), f"{what}: decompress it first (a policy file is YAML or JSON text)")
    problem = utf8_problem(raw)
    if problem is not None:
        line, col, message = problem
        return Diagnostic(Location(name, line, col), message)
    text = raw.decode("utf-8")
    bad = _UNREADABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        char = bad.group()
        what = "NUL byte" if char == "\x00" else f"control character U+{ord(char):04X}"
        return Diagnostic(Location(name, line, col), f"{what}: YAML text cannot hold it (binary data?)")
    return text


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
