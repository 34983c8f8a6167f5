"""What every command shares: the group, exit codes, the mapping of errors to them, and
the option types and decorators.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

import click

from patchpolicy.cli.output import (
    ErrorFormat,
    error_format,
    error_format_in_args,
    error_format_option,
    imply_error_format,
    input_names,
    quiet_option,
    record_line,
    report,
    report_message,
)
from patchpolicy.errors import (
    Diagnostic,
    ErrorCode,
    InputError,
    Location,
    OutputError,
    PatchPolicyError,
    ValidationError,
)
from patchpolicy.model.common import parse_duration, parse_start_instant
from patchpolicy.model.gate import FailOn
from patchpolicy.render.interface import RenderOptions
from patchpolicy.version import __version__

F = TypeVar("F", bound=Callable[..., Any])


class ExitCode(IntEnum):
    """Exit codes of every command (documented in the README)."""

    OK = 0
    """Nothing fails (or, for validate, every document is valid)."""
    FAILED = 1
    """At least one item or host check fails the gate (or a policy test fails)."""
    INPUT = 2
    """Bad input or usage: invalid policy, unreadable snapshot, unknown option."""
    INTERNAL = 3
    """A bug in patchpolicy: please report it with the traceback."""


def fail(message: str, code: ExitCode = ExitCode.INPUT, error_code: str = ErrorCode.INPUT) -> None:
    """Print an error message (``error: place: text``) in the --error-format and exit."""
    report_message(message, ErrorCode.INTERNAL if code is ExitCode.INTERNAL else error_code)
    sys.exit(int(code))


def _bug() -> None:
    """An exception nobody meant: the traceback, one line saying so, exit 3."""
    import traceback

    traceback.print_exc()
    fail(f"this is a bug in patchpolicy {__version__}: please report it with the traceback above",
          ExitCode.INTERNAL)


def handle_errors(func: F) -> F:
    """Map patchpolicy's error tree to exit codes; messages go to stderr."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("fmt") == "json":
            imply_error_format(ErrorFormat.JSON)
        if _stdin_inputs(kwargs) > 1:
            fail("error: <stdin>: standard input given twice: - reads it once")
        try:
            return func(*args, **kwargs)
        except ValidationError as e:
            n = sum(1 for d in e.diagnostics if d.severity == "error")
            text = "\n".join([*(str(d) for d in e.diagnostics), f"{n} error{'s' if n != 1 else ''}"])
            report(e.problems(), text)
            sys.exit(int(ExitCode.INPUT))
        except InputError as e:
            report(e.problems(input_names()), f"error: {e}")
            sys.exit(int(ExitCode.INPUT))
        except OutputError as e:
            # An unusable output path is bad usage, not a failed gate and not a bug.
            fail(f"error: {e}", error_code=ErrorCode.OUTPUT)
        except PatchPolicyError as e:
            fail(f"error: {e}", ExitCode.INTERNAL)
        except BrokenPipeError:
            # The reader went away (``| head``): what was written stays written; no
            # traceback, and the shell's convention for SIGPIPE (128 + 13) as the status.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except OSError as e:
            if e.filename is None:
                _bug()
            fail(f"error: {e.filename}: {e.strerror or e}", error_code=ErrorCode.IO)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception:  # noqa: BLE001 - the last resort: say it is a bug, exit 3
            _bug()

    return wrapper  # type: ignore[return-value]


OUTPUT_PARAMS = frozenset({"ics_file", "output", "out_dir", "prefix"})
"""Parameters naming what a command writes: ``-`` there is standard output."""


def _stdin_inputs(kwargs: dict[str, Any]) -> int:
    """How many inputs are ``-`` (standard input can be read once)."""
    n = 0
    for name, value in kwargs.items():
        if name in OUTPUT_PARAMS:
            continue
        values = value if isinstance(value, tuple | list) else (value,)
        n += sum(1 for v in values if isinstance(v, Path) and str(v) == "-")
    return n


class ParsedParam(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """An option value parsed by one of the models' scalar parsers (ValueError -> usage error)."""

    def __init__(self, name: str, parse: Callable[[object], Any], parsed: type) -> None:
        self.name = name
        self.parse = parse
        self.parsed = parsed

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.parsed):
            return value
        try:
            return self.parse(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


#: An RFC 3339 timestamp with offset, or a date (start of that day UTC).
def _as_of(text: object) -> datetime:
    from patchpolicy.clock import check_as_of

    when = parse_start_instant(text)
    check_as_of(when)
    return when


AS_OF = ParsedParam("timestamp", _as_of, datetime)


def _scan_time(text: object) -> datetime:
    """``now`` (the import command, unlike the evaluator, may read the clock), or a timestamp."""
    if isinstance(text, str) and text.strip().lower() == "now":
        from datetime import UTC

        return datetime.now(UTC).replace(microsecond=0)
    return _as_of(text)


SCAN_TIME = ParsedParam("timestamp or 'now'", _scan_time, datetime)
DURATION = ParsedParam("duration", parse_duration, timedelta)


class PatchPolicyGroup(click.Group):
    """The group, with usage errors (exit 2, as click does) in the --error-format too."""

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        words = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(words, prog_name, complete_var, False, **extra)
        except click.ClickException as e:
            ctx: click.Context | None = getattr(e, "ctx", None)
            form = error_format(ctx) if ctx is not None else ErrorFormat.TEXT
            if form is ErrorFormat.TEXT:
                form = error_format_in_args(words) or form
            if form is ErrorFormat.JSON:
                click.echo(record_line(Diagnostic(Location(""), e.format_message(),
                                                  code=_usage_code(e))), err=True)
            elif form is ErrorFormat.GITHUB:
                from patchpolicy.cli.output import github_annotation

                click.echo(github_annotation(Diagnostic(Location(""), e.format_message(),
                                                        code=_usage_code(e))), err=True)
            else:
                e.show()
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def _usage_code(e: click.ClickException) -> str:
    from patchpolicy.cli.config import ConfigError

    return ErrorCode.CONFIG if isinstance(e, ConfigError) else ErrorCode.USAGE


# click exits 2 on usage errors already, which matches ExitCode.INPUT.
@click.group(cls=PatchPolicyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="patchpolicy")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
              default=None, envvar="PATCHPOLICY_CONFIG",
              help="Defaults from this TOML file (default: patchpolicy.toml or "
                   "[tool.patchpolicy] in pyproject.toml, here or in a parent directory).")
@click.option("--no-config", is_flag=True, help="Read no configuration file.")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, no_config: bool) -> None:
    """Patch SLAs, windows, freezes and exceptions as code: validate policies, evaluate a
    fleet snapshot into audit evidence, gate CI, and plan remediation.

    Exit codes: 0 ok, 1 something fails the gate, 2 bad input or usage, 3 internal error.

    \b
    Examples:
      patchpolicy validate policies
      patchpolicy check -p policies -s fleet.json
      patchpolicy --error-format json check -p policies -s fleet.json
      patchpolicy COMMAND --help
    """
    from patchpolicy.cli.config import apply_config

    if ctx.resilient_parsing:
        return  # shell completion: no file is read
    apply_config(ctx, config_file, no_config)


main.params.extend([quiet_option(), error_format_option()])


FAIL_ON = tuple(f.value for f in FailOn)

fail_on_option = click.option(
    "--fail-on", "fail_on", multiple=True, type=click.Choice(FAIL_ON),
    help="Also fail on these (repeatable); invalid_exception: an exception over a policy's max_lifetime.",
)
allow_empty_scope_option = click.option(
    "--allow-empty-scope", is_flag=True,
    help="Do not fail when a policy judged nothing (its scope matched no host).",
)

policies_option = click.option(
    "-p", "--policies", "policies", multiple=True, required=True,
    type=click.Path(path_type=Path), help="Policy bundle: a directory or files (repeatable).",
)
snapshot_option = click.option(
    "-s", "--snapshot", required=True, type=click.Path(path_type=Path),
    help="Fleet snapshot: .json, or .jsonl for large fleets (streamed); - for standard input.",
)
snapshots_option = click.option(
    "-s", "--snapshot", "snapshot", multiple=True, required=True,
    type=click.Path(path_type=Path),
    help="Fleet snapshot: .json, or .jsonl for large fleets (streamed); - for standard "
         "input. Repeat it, or give a directory of *.jsonl shards, to read JSON Lines "
         "shards as one snapshot.",
)
render_options = [
    click.option("--sarif-max-results", type=click.IntRange(min=1), default=25_000,
                 show_default=True, help="At most this many SARIF results (the worst kept)."),
    click.option("--sarif-group-threshold", type=click.IntRange(min=0), default=10,
                 show_default=True,
                 help="One SARIF result per rule and vulnerability on at least this many "
                      "hosts; 0 never groups."),
    click.option("--junit-group-threshold", type=click.IntRange(min=0), default=10,
                 show_default=True,
                 help="One JUnit testcase per vulnerability (or host check) and verdict on at "
                      "least this many hosts; 0 never groups."),
    click.option("--group-sample", type=click.IntRange(min=1), default=20, show_default=True,
                 help="Items listed, worst first, per grouped OSCAL, POA&M or JUnit entry "
                      "(every item is counted)."),
    click.option("--report-rows", type=click.IntRange(min=1), default=100, show_default=True,
                 help="Rows per item table of report.html and report.md, worst first (the "
                      "rest are counted, and are in items.jsonl)."),
]


def render_options_of(**values: Any) -> RenderOptions:
    """The RenderOptions of the options ``with_render_options`` (and ``provenance_options``) add."""
    return RenderOptions(**values)


provenance_options = [
    click.option("--run-by", metavar="TEXT", default=None,
                 help="Who or what ran this, stated in the reports and OSCAL (default: the CI "
                      "run's URL from GitHub Actions, GitLab CI, Jenkins... or $PATCHPOLICY_RUN_BY)."),
    click.option("--policy-commit", metavar="REV", default=None,
                 help="The policies' git commit, stated in the reports (default: detected with "
                      "git when the policies are in a work tree; $PATCHPOLICY_POLICY_COMMIT; "
                      "'' for none)."),
    click.option("--oscal-ssp", metavar="HREF", default=None,
                 help="The POA&M's import-ssp: the system security plan it belongs to."),
    click.option("--oscal-system-id", metavar="ID", default=None,
                 help="The POA&M's system-id (FedRAMP: the application number)."),
]


def with_provenance_options(f: Any) -> Any:
    """Add who ran it, the policy commit, and the OSCAL system references."""
    for option in reversed(provenance_options):
        f = option(f)
    return f


def provenance_of(policies: tuple[Path, ...], run_by: str | None, policy_commit: str | None,
                  oscal_ssp: str | None, oscal_system_id: str | None) -> dict[str, str | None]:
    """The provenance render options: flags first, then the environment, then git."""
    from patchpolicy import provenance

    if policy_commit is None:
        policy_commit = os.environ.get("PATCHPOLICY_POLICY_COMMIT")
    if policy_commit is None:
        policy_commit = provenance.policy_commit(policies)
    return {"run_by": run_by if run_by is not None else provenance.ci_run(),
            "policy_commit": policy_commit or None,
            "oscal_ssp": oscal_ssp, "oscal_system_id": oscal_system_id}


def with_render_options(f: Any) -> Any:
    """Add the output caps and grouping options; they reach the command as keyword
    arguments named like RenderOptions' fields."""
    for option in reversed(render_options):
        f = option(f)
    return f


def _jobs(ctx: click.Context, param: click.Parameter, value: int | None) -> int | str:
    """No ``-j``: ``"auto"`` (every core for a large file), which the library never
    assumes by itself (``patchpolicy.api.Jobs``)."""
    return "auto" if value is None else value


jobs_option = click.option(
    "-j", "--jobs", type=click.IntRange(min=1), default=None, callback=_jobs,
    help="Processes for a JSON Lines snapshot (default: every core for files over 32 MB); "
         "evaluate also renders its files in N processes when N is given (faster, but "
         "two renderers' memory at once). The outputs are the same whatever the number.",
)

def _dask_scheduler(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--dask`` without the extra installed: a usage error (exit 2) saying how to install."""
    if value is not None:
        import importlib

        from patchpolicy.dask_cluster import INSTALL_HINT

        try:
            importlib.import_module("distributed")
        except ImportError:
            raise click.UsageError(INSTALL_HINT, ctx) from None
    return value


dask_option = click.option(
    "--dask", "dask", metavar="SCHEDULER", default=None, callback=_dask_scheduler,
    help="Judge a JSON Lines snapshot's host ranges on a Dask cluster: 'local' (a "
         "LocalCluster on this machine) or a scheduler address (tcp://host:8786). Needs "
         "pip install 'patchpolicy[dask]'; the outputs are the same as one process's.",
)

as_of_option = click.option(
    "--as-of", type=AS_OF, default=None,
    help="Evaluate at this instant (RFC 3339, or a date). Default: the snapshot's taken_at.",
)


