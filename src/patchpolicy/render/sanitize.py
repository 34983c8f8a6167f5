"""One sanitiser per output kind, so input data cannot drive the reader's terminal.

Host ids, finding ids, policy names, justifications and messages come from snapshots and
policy files that an attacker may write. Raw, an ESC sequence in them recolours or clears
the terminal, an OSC 52 sequence writes the clipboard, a bidi override (U+202E) shows text
in a different order than it is, and a newline lets one value print a line of its own
(``result: PASS (0 failing)`` in a CI log). Each output kind gets its rule:

- :func:`text`: terminal and plain text; every control character (C0 with TAB, CR, LF,
  DEL, C1), the bidi controls and the line/paragraph separators are shown as visible
  escapes (``\\x1b``, ``\\n``, ``\\u202e``), so a value never spans lines.
- :func:`lines`: the same, for text that is made of lines by us (a message with its own
  line breaks): LF is kept, everything else escaped.
- :func:`markdown`: Markdown inline text; whitespace runs with line breaks collapse to a
  space (as before), control characters are shown as :func:`text` does, then Markdown
  specials are backslashed.
- :func:`csv_cell`: a spreadsheet cell; control characters escaped as :func:`text` does,
  and a cell starting with ``= + - @`` (or TAB/CR) is quoted with ``'`` (formula injection).
- :func:`xml`: XML 1.0 text and attributes; the C0 controls XML cannot carry are dropped,
  DEL, C1 and bidi controls are shown as visible escapes.
- :func:`html`: HTML text and attributes: :func:`xml`'s rule, then ``html.escape``.

Ordinary text (printable characters, and in :func:`lines` LF) is returned unchanged, so
outputs for ordinary input are byte-identical to what they were.
"""

from __future__ import annotations

import re
from html import escape as _html_escape

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# C0, DEL, C1, the bidi embeddings/overrides/isolates and the Unicode line separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
_CONTROL_BUT_LF = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
# Characters XML 1.0 cannot carry even as references: dropped (what junit.py always did).
_XML_BAD = {c: None for c in range(0x20) if c not in (0x09, 0x0A, 0x0D)}
_XML_VISIBLE = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

_MD_SPECIAL = set("\\`*_[]<>|#!~&")
_MD_SPECIAL_RE = re.compile("[" + re.escape("".join(sorted(_MD_SPECIAL))) + "]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _visible(m: re.Match[str]) -> str:
    c = m.group(0)
    if c in _NAMED:
        return _NAMED[c]
    n = ord(c)
    return f"\\x{n:02x}" if n <= 0xFF else f"\\u{n:04x}"


def text(value: object) -> str:
    """One value for a terminal or a plain-text line: no control character, one line."""
    s = str(value)
    return _CONTROL.sub(_visible, s) if _CONTROL.search(s) else s


def lines(value: object) -> str:
    """Text whose line breaks are ours: LF kept, every other control shown as an escape."""
    s = str(value)
    return _CONTROL_BUT_LF.sub(_visible, s) if _CONTROL_BUT_LF.search(s) else s


def markdown(value: object) -> str:
    """Markdown-escape one inline value: breaks to spaces, controls visible, specials backslashed."""
    s = "-" if value is None else str(value)
    s = " ".join(s.split()) if ("\n" in s or "\r" in s or "\t" in s) else s
    s = text(s)
    # One regex pass, not a generator per character: period reports escape every cell of
    # tens of thousands of late-item rows.
    return _MD_SPECIAL_RE.sub(r"\\\g<0>", s)


def csv_cell(value: str) -> str:
    """One CSV cell: formula starts quoted with ``'``, control characters visible."""
    if value[:1] in _FORMULA_START:
        value = "'" + value
    return text(value)


def xml(value: str) -> str:
    """XML text: controls XML cannot carry dropped; DEL, C1 and bidi controls visible."""
    s = value.translate(_XML_BAD)
    return _XML_VISIBLE.sub(_visible, s) if _XML_VISIBLE.search(s) else s


def html(value: object) -> str:
    """HTML text or attribute value: :func:`xml`'s rule, then ``html.escape`` (quotes too)."""
    return _html_escape(xml("-" if value is None else str(value)), quote=True)
