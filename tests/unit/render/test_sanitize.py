"""render/sanitize.py: one sanitiser per output kind; ordinary text passes unchanged."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from patchpolicy.render import sanitize

ESC = "\x1b[31mred\x1b[0m"
OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"
BIDI = "evil\u202egpj.exe"
FORGED = "x\nresult: PASS (0 failing)"

RAW_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")

# Printable text with no control character: what ordinary ids, names and notes are.
ordinary = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
                  blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


@given(ordinary)
def test_ordinary_text_is_unchanged_in_text_lines_and_xml(s: str) -> None:
    assert sanitize.text(s) == s
    assert sanitize.lines(s) == s
    assert sanitize.xml(s) == s


def test_text_shows_every_control_as_a_visible_escape() -> None:
    assert sanitize.text(ESC) == "\\x1b[31mred\\x1b[0m"
    assert sanitize.text(OSC52) == "\\x1b]52;c;cm0gLXJmIH4=\\x07"
    assert sanitize.text(BIDI) == "evil\\u202egpj.exe"
    assert sanitize.text(FORGED) == "x\\nresult: PASS (0 failing)"
    assert sanitize.text("a\rb\tc\x7fd\x85e\u2028f\u2066g") == "a\\rb\\tc\\x7fd\\x85e\\u2028f\\u2066g"
    assert sanitize.text(None) == "None"


@given(st.text())
def test_text_never_leaves_a_raw_control_or_a_line_break(s: str) -> None:
    out = sanitize.text(s)
    assert not RAW_CONTROL.search(out)
    assert len(out.splitlines()) <= 1


@given(st.text())
def test_lines_keeps_only_lf(s: str) -> None:
    out = sanitize.lines(s)
    assert not RAW_CONTROL.search(out.replace("\n", ""))
    assert out.count("\n") == s.count("\n")


def test_markdown_collapses_breaks_shows_controls_and_escapes_specials() -> None:
    assert sanitize.markdown("a_b | c") == "a\\_b \\| c"
    assert sanitize.markdown(None) == "-"
    assert sanitize.markdown(FORGED) == "x result: PASS (0 failing)"
    # The escape's backslash is itself Markdown-escaped, so the reader sees \x1b.
    assert sanitize.markdown(ESC) == "\\\\x1b\\[31mred\\\\x1b\\[0m"
    assert sanitize.markdown(OSC52 + BIDI) == "\\\\x1b\\]52;c;cm0gLXJmIH4=\\\\x07evil\\\\u202egpj.exe"


@given(st.text())
def test_markdown_never_leaves_a_raw_control(s: str) -> None:
    out = sanitize.markdown(s)
    assert not RAW_CONTROL.search(out) and "\n" not in out


def test_csv_cell_keeps_formula_neutralisation_and_escapes_controls() -> None:
    for start in ("=", "+", "-", "@"):
        assert sanitize.csv_cell(start + "cmd|' /C calc'!A0") == "'" + start + "cmd|' /C calc'!A0"
    assert sanitize.csv_cell("\tx") == "'\\tx"
    assert sanitize.csv_cell("\r=x") == "'\\r=x"
    assert sanitize.csv_cell("=HYPERLINK(1)" + FORGED) == "'=HYPERLINK(1)x\\nresult: PASS (0 failing)"
    assert sanitize.csv_cell("web-01" + ESC) == "web-01\\x1b[31mred\\x1b[0m"
    assert sanitize.csv_cell("web-01") == "web-01"


def test_xml_drops_what_xml_cannot_carry_and_shows_c1_and_bidi() -> None:
    assert sanitize.xml("a\x00b\x1b[0m\x07c\td\ne\rf") == "ab[0mc\td\ne\rf"
    assert sanitize.xml("a\x7f\x9b" + BIDI) == "a\\x7f\\x9bevil\\u202egpj.exe"


def test_html_escapes_markup_and_controls() -> None:
    assert sanitize.html('<b a="1">&') == "&lt;b a=&quot;1&quot;&gt;&amp;"
    assert sanitize.html(None) == "-"
    assert sanitize.html(OSC52 + BIDI) == "]52;c;cm0gLXJmIH4=evil\\u202egpj.exe"


def test_windows_output_shows_controls_and_stays_one_line_per_occurrence() -> None:
    from datetime import UTC, datetime, timedelta

    from patchpolicy.model.plan import FreezeNote, UpcomingWindow
    from patchpolicy.upcoming import format_upcoming
    from patchpolicy.windows import Occurrence

    start = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
    occ = Occurrence(start, start + timedelta(hours=4), "prod-sunday", "Europe/Berlin")
    upcoming = [
        UpcomingWindow("baseline" + ESC, "prod" + FORGED, None, occ,
                       (FreezeNote("year-end" + OSC52, "baseline", "x" + BIDI, None,
                                   hosts='host.id == "a\nb"'),)),
    ]
    out = format_upcoming(upcoming)
    assert out.count("\n") == 1 and out.endswith("\n")
    assert not RAW_CONTROL.search(out[:-1])
    assert "baseline\\x1b[31mred\\x1b[0m/prodx\\nresult: PASS (0 failing)" in out
    assert "[frozen for hosts matching host.id == \"a\\nb\" (year-end\\x1b]52;c;cm0gLXJmIH4=\\x07): allowed: xevil\\u202egpj.exe]" in out
