"""How commands talk to the terminal: --quiet, colour (NO_COLOR, only on a terminal) and
the form of error messages (--error-format text, json or github).

State lives in the click context's ``meta`` (shared by the group and its command), so
nothing here is global and CliRunner invocations stay independent.
"""

from __future__ import annotations

import json
import os
import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import click

from patchpolicy.errors import Diagnostic, diagnostic_of
from patchpolicy.render.sanitize import lines as _safe_lines

QUIET = "patchpolicy.quiet"
ERROR_FORMAT = "patchpolicy.error_format"
ERROR_FORMAT_IMPLIED = "patchpolicy.error_format_implied"


class ErrorFormat(StrEnum):
    """How input errors are printed on standard error."""

    TEXT = "text"
    """``file:line:col: message``, one problem a line, then a count."""
    JSON = "json"
    """One JSON object a line: file, line, column, json_path, code, severity, message."""
    GITHUB = "github"
    """GitHub Actions workflow commands (``::error file=...,line=...::message``): annotations."""


def _meta() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return ctx.meta if ctx is not None else {}


# ---------------------------------------------------------------- --quiet


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[QUIET] = True
    return value


def quiet_option() -> click.Option:
    return click.Option(
        ["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_quiet,
        help="Print only errors, warnings and the output asked for (check: the result line).",
    )


def is_quiet() -> bool:
    return bool(_meta().get(QUIET))


def info(message: str, *, err: bool = False) -> None:
    """A line that is not the command's product (what was written, counts): --quiet drops it."""
    if not is_quiet():
        click.echo(message, err=err)


# ---------------------------------------------------------------- colour


def colour_wanted(stream: Any = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


_BUCKET = re.compile(r"^(  )(fail|warn|waived|pass)(\b)", re.M)
_RESULT = re.compile(r"^(result: )(PASS|FAIL|WARN)\b", re.M)
_VERDICT = re.compile(r"^(  )(OVERDUE|ERROR|DUE_SOON|REMEDIATED_LATE|NEVER_SCANNED|REBOOT_OVERDUE"
                      r"|SCAN_STALE|EXCEPTION_EXPIRED|EXPIRED_EXCEPTION)(\s)", re.M)
_NOT_SATISFIED = re.compile(r": (NOT satisfied)")
_COLOURS = {"fail": "red", "warn": "yellow", "waived": "cyan", "pass": "green",
            "FAIL": "red", "WARN": "yellow", "PASS": "green", "DUE_SOON": "yellow",
            "REMEDIATED_LATE": "yellow"}


def style_gate_summary(text: str) -> str:
    """The check summary with its bucket words, verdicts and result in colour. Only words
    the renderer writes itself are styled; input data was sanitised before and stays plain."""

    def paint(m: re.Match[str]) -> str:
        word = m.group(2)
        colour = _COLOURS.get(word, "red")
        bold = m.re is _RESULT
        return m.group(1) + click.style(word, fg=colour, bold=bold) + m.group(3)

    text = _BUCKET.sub(lambda m: paint(m), text)
    text = _RESULT.sub(lambda m: m.group(1) + click.style(m.group(2), fg=_COLOURS[m.group(2)],
                                                          bold=True), text)
    text = _VERDICT.sub(lambda m: paint(m), text)
    return _NOT_SATISFIED.sub(lambda m: ": " + click.style(m.group(1), fg="red"), text)


def echo_gate_summary(output: bytes | str) -> None:
    """check's text output: coloured on a terminal; with --quiet only its result line."""
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    if is_quiet():
        results = [line for line in text.splitlines() if line.startswith("result: ")]
        text = results[-1] + "\n" if results else text
    if colour_wanted():
        click.echo(style_gate_summary(text), nl=False, color=True)
    else:
        click.echo(text, nl=False, color=False)


# ---------------------------------------------------------------- --error-format


def _set_error_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.meta[ERROR_FORMAT] = ErrorFormat(value)
    return value


def error_format_option() -> click.Option:
    return click.Option(
        ["--error-format"], type=click.Choice([f.value for f in ErrorFormat]), default=None,
        expose_value=False, callback=_set_error_format, is_eager=True,
        envvar="PATCHPOLICY_ERROR_FORMAT",
        help="How input errors are printed on stderr: text (file:line:col: message), json "
             "(one object a line) or github (annotations). Default: text; json with --format json.",
    )


def imply_error_format(fmt: ErrorFormat) -> None:
    """A machine output format (check --format json) implies machine errors, unless chosen."""
    _meta()[ERROR_FORMAT_IMPLIED] = fmt


def error_format(ctx: click.Context | None = None) -> ErrorFormat:
    meta = ctx.meta if ctx is not None else _meta()
    chosen = meta.get(ERROR_FORMAT) or meta.get(ERROR_FORMAT_IMPLIED)
    return ErrorFormat(chosen) if chosen else ErrorFormat.TEXT


def error_format_in_args(args: list[str]) -> ErrorFormat | None:
    """--error-format from a command line click could not parse (for usage errors)."""
    for i, word in enumerate(args):
        value = None
        if word == "--error-format" and i + 1 < len(args):
            value = args[i + 1]
        elif word.startswith("--error-format="):
            value = word.split("=", 1)[1]
        if value in {f.value for f in ErrorFormat}:
            return ErrorFormat(value)
    env = os.environ.get("PATCHPOLICY_ERROR_FORMAT")
    if env in {f.value for f in ErrorFormat}:
        return ErrorFormat(env)
    # check/diff --format json: machine output, machine errors (as for input errors).
    pairs = zip(args, args[1:], strict=False)
    if any(a == "--format" and b == "json" for a, b in pairs) or "--format=json" in args:
        return ErrorFormat.JSON
    return None


def input_names(ctx: click.Context | None = None) -> tuple[str, ...]:
    """The file names the command was given (to pin ``name: message`` errors to a file)."""
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    names: list[str] = ["<stdin>"]
    while ctx is not None:
        for value in ctx.params.values():
            values = value if isinstance(value, tuple | list) else (value,)
            names.extend(str(v) for v in values if isinstance(v, Path))
        ctx = ctx.parent
    return tuple(names)


def _github_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_annotation(d: Diagnostic) -> str:
    level = "warning" if d.severity == "warning" else "error"
    props = []
    if d.location.file:
        props.append(f"file={_github_escape(_safe_lines(d.location.file), True)}")
    if d.location.line:
        props.append(f"line={d.location.line}")
    if d.location.col:
        props.append(f"col={d.location.col}")
    props.append(f"title={_github_escape('patchpolicy ' + d.code, True)}")
    return f"::{level} {','.join(props)}::{_github_escape(_safe_lines(d.message))}"


def record_line(d: Diagnostic) -> str:
    # json.dumps escapes every control character: no terminal escape survives.
    return json.dumps(d.record(), ensure_ascii=False, sort_keys=False)


def report(problems: list[Diagnostic], text: str | None, ctx: click.Context | None = None) -> None:
    """Print problems on stderr in the chosen form. ``text`` is what the text form prints
    (None: each problem as ``file:line:col: message``); the other forms print records only."""
    form = error_format(ctx)
    if form is ErrorFormat.TEXT:
        if text is None:
            text = "\n".join(str(d) for d in problems)
        click.echo(_safe_lines(text), err=True)
        return
    for d in problems:
        click.echo(record_line(d) if form is ErrorFormat.JSON else github_annotation(d), err=True)


def report_message(message: str, code: str, ctx: click.Context | None = None) -> None:
    """One error message in the house style (``error: file:line:col: ...``) in the chosen form."""
    bare = message.removeprefix("error: ")
    lines = bare.splitlines() or [""]
    report([diagnostic_of(line, code, input_names(ctx)) for line in lines], message, ctx)


def warn(message: str, code: str = "warning") -> None:
    """A warning on stderr (never dropped by --quiet): a record in the json and github forms."""
    form = error_format()
    if form is ErrorFormat.TEXT:
        click.echo(_safe_lines(message), err=True)
        return
    bare = message.removeprefix("warning: ")
    d = diagnostic_of(bare, code, input_names())
    d = Diagnostic(d.location, d.message, severity="warning", json_path=d.json_path, code=code)
    click.echo(record_line(d) if form is ErrorFormat.JSON else github_annotation(d), err=True)
