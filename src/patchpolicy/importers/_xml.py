"""Untrusted scanner XML, read safely and as a stream.

Every XML importer reads through ``xml_events``: defusedxml's ``iterparse`` with
``forbid_dtd``, so no DTD is processed, no entity is expanded and nothing is fetched; a
file with an internal DTD subset (entity declarations: XXE, entity bombs) is refused.

One exception is made, explicitly: a DOCTYPE that only *names* an external DTD
(``<!DOCTYPE root SYSTEM "uri">`` or ``<!DOCTYPE root PUBLIC "id" "uri">``, no ``[...]``
internal subset), as Qualys writes, declares no entity and is harmless when never fetched.
Exactly that form, in the prolog, is blanked out (replaced by spaces, newlines kept, so
every line and column the parser reports stays true) before the parser sees the bytes.

Errors are ``ImporterError``: ``file: refused: ...`` for a DTD or entities,
``file:line:col: invalid XML ...`` for a malformed or truncated document.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from patchpolicy.errors import ImporterError

# The prolog may hold an XML declaration, comments and processing instructions before the
# DOCTYPE; only a DOCTYPE with an external id and nothing else is matched.
_QUOTED = rb"(?:\"[^\"]*\"|'[^']*')"
_EXTERNAL_DOCTYPE = re.compile(
    rb"\A(?:\xef\xbb\xbf)?(?:\s|<\?[^>]*\?>|<!--(?:(?!-->).)*-->)*"
    rb"(<!DOCTYPE\s+[A-Za-z_][\w.:-]*\s+(?:SYSTEM\s+" + _QUOTED + rb"|PUBLIC\s+" + _QUOTED
    + rb"\s+" + _QUOTED + rb")\s*>)",
    re.S,
)
_HEAD = 64 * 1024


def blank_external_doctype(head: bytes) -> bytes:
    """``head`` with an external-id-only DOCTYPE in its prolog replaced by spaces."""
    m = _EXTERNAL_DOCTYPE.match(head)
    if m is None:
        return head
    start, end = m.span(1)
    blank = bytes(b if b in b"\r\n" else 0x20 for b in head[start:end])
    return head[:start] + blank + head[end:]


class _PrologFilter:
    """A read-only byte stream: ``fh`` with its prolog passed through
    ``blank_external_doctype``."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._head = blank_external_doctype(fh.read(_HEAD))
        self.head = self._head

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._fh.read(size)
        if size < 0:
            out, self._head = self._head + self._fh.read(), b""
        else:
            out, self._head = self._head[:size], self._head[size:]
        return out


def xml_events(path: Path, name: str, fmt: str) -> Iterator[tuple[str, Element]]:
    """``(event, element)`` for the ``start`` and ``end`` of every element of ``path``.

    ``name`` labels the file in messages; ``fmt`` (``nessus``, ``qualys``) says what it
    should have been when the file turns out to be JSON. The caller clears elements it
    has read, so memory stays bounded by the largest element it keeps.
    """
    try:
        fh = path.open("rb")
    except OSError as e:
        raise ImporterError(f"{name}: cannot read: {e.strerror or e}") from e
    with fh:
        source = _PrologFilter(fh)
        if not source.head.strip():
            raise ImporterError(f"{name}: empty file: expected a {fmt} XML report")
        try:
            yield from SafeET.iterparse(source, events=("start", "end"), forbid_dtd=True)
        except OSError as e:
            raise ImporterError(f"{name}: cannot read: {e.strerror or e}") from e
        except DefusedXmlException as e:
            raise ImporterError(
                f"{name}: refused: the XML declares a DTD or entities ({type(e).__name__});"
                " scanner reports are read without them (only a DOCTYPE naming an external"
                " DTD, never fetched, is accepted)"
            ) from e
        except ParseError as e:
            if source.head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
                raise ImporterError(f"{name}: not a {fmt} report: it is JSON ({fmt} reports are XML)") from e
            line, col = e.position
            detail = str(e).split(":", 1)[0]
            raise ImporterError(f"{name}:{line}:{col + 1}: invalid XML (truncated or corrupt?): {detail}") from e


def child_text(elem: Element, tag: str) -> str | None:
    """The stripped text of ``elem``'s first ``tag`` child; None when absent or empty."""
    child = elem.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None
