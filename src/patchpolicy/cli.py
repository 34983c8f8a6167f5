"""The ``patchpolicy`` command: thin click wrappers that parse options, call the API and map
errors to exit codes (see ``ExitCode``). Nothing here decides a verdict.
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

from patchpolicy.errors import InputError, OutputError, PatchPolicyError, ValidationError
from patchpolicy.model.common import parse_duration, parse_start_instant
from patchpolicy.model.gate import FailOn, Gate
from patchpolicy.render.interface import RenderOptions
from patchpolicy.render.sanitize import lines as _safe_lines
from patchpolicy.render.sanitize import text as _safe
from patchpolicy.render.text import empty_scope_lines
from patchpolicy.schema import DocumentKind
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


def _fail(message: str, code: ExitCode = ExitCode.INPUT) -> None:
    click.echo(_safe_lines(message), err=True)
    sys.exit(int(code))


def _bug() -> None:
    """An exception nobody meant: the traceback, one line saying so, exit 3."""
    import traceback

    traceback.print_exc()
    _fail(f"this is a bug in patchpolicy {__version__}: please report it with the traceback above",
          ExitCode.INTERNAL)


def handle_errors(func: F) -> F:
    """Map patchpolicy's error tree to exit codes; messages go to stderr."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationError as e:
            for d in e.diagnostics:
                click.echo(_safe_lines(d), err=True)
            n = sum(1 for d in e.diagnostics if d.severity == "error")
            _fail(f"{n} error{'s' if n != 1 else ''}")
        except InputError as e:
            _fail(f"error: {e}")
        except OutputError as e:
            # An unusable output path is bad usage, not a failed gate and not a bug.
            _fail(f"error: {e}")
        except PatchPolicyError as e:
            _fail(f"error: {e}", ExitCode.INTERNAL)
        except BrokenPipeError:
            # The reader went away (``| head``): what was written stays written; no
            # traceback, and the shell's convention for SIGPIPE (128 + 13) as the status.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(141)
        except OSError as e:
            if e.filename is None:
                _bug()
            _fail(f"error: {e.filename}: {e.strerror or e}")
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception:  # noqa: BLE001 - the last resort: say it is a bug, exit 3
            _bug()

    return wrapper  # type: ignore[return-value]


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


# click exits 2 on usage errors already, which matches ExitCode.INPUT.
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="patchpolicy")
def main() -> None:
    """Patch SLAs, windows, freezes and exceptions as code: validate policies, evaluate a
    fleet snapshot into audit evidence, gate CI, and plan remediation.

    Exit codes: 0 ok, 1 something fails the gate, 2 bad input or usage, 3 internal error.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@handle_errors
def validate(paths: tuple[Path, ...], strict: bool) -> None:
    """Validate policy, exception, test and snapshot documents (files or directories).

    Prints one line per valid document; on errors prints every problem as
    file:line:col: message and exits 2.
    """
    from patchpolicy.loader import SourceDocument, check_bundle

    documents: list[SourceDocument] = []
    bundle, diags = check_bundle(paths, documents)
    errors = [d for d in diags if d.severity == "error" or strict]
    for d in diags:
        click.echo(_safe_lines(d), err=bool(errors))
    if errors:
        n = len(errors)
        _fail(f"{n} error{'s' if n != 1 else ''} in {len({d.location.file for d in errors})} file(s)")
    assert bundle is not None
    for doc in documents:
        click.echo(_safe(f"{doc.where()}: ok {_summary(doc, bundle)}"))


def _summary(doc: Any, bundle: Any) -> str:
    kind, name = doc.kind, doc.name
    if kind == "PatchPolicy":
        p = bundle.policy(name)
        spec = p.policy.spec
        parts = [f"{len(spec.rules)} rule(s)"]
        for label, items in (("window", spec.windows), ("freeze", spec.freezes), ("ring", spec.rings)):
            if items:
                parts.append(f"{len(items)} {label}(s)")
        if p.policy.metadata.controls:
            parts.append(f"{len(p.policy.metadata.controls)} control(s)")
        return f"PatchPolicy {name} {p.version}: " + ", ".join(parts)
    if kind == "ExceptionSet":
        n = sum(1 for e in bundle.exceptions if e.exception_set.metadata.name == name)
        return f"ExceptionSet {name}: {n} exception(s)"
    if kind == "PolicyTest":
        for t, _ in bundle.tests:
            if t.metadata.name == name:
                return f"PolicyTest {name}: {len(t.spec.cases)} case(s)"
    if kind == "FleetSnapshot":
        hosts = doc.data.get("hosts", [])
        n = sum(len(h.get("findings", [])) for h in hosts)
        return f"FleetSnapshot: {len(hosts)} host(s), {n} finding(s)"
    return str(kind)


@main.command()
@click.argument("kind", type=click.Choice([k.value for k in DocumentKind]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a document kind."""
    from patchpolicy.schema import schema_text

    click.echo(schema_text(DocumentKind(kind)), nl=False)


# -- further commands are added below this line --

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
sarif_options = [
    click.option("--sarif-max-results", type=click.IntRange(min=1), default=25_000,
                 show_default=True, help="At most this many SARIF results (the worst kept)."),
    click.option("--sarif-group-threshold", type=click.IntRange(min=0), default=10,
                 show_default=True,
                 help="One SARIF result per rule and vulnerability on at least this many "
                      "hosts; 0 never groups."),
]


def sarif_options_of(max_results: int, group_threshold: int) -> RenderOptions:
    return RenderOptions(sarif_max_results=max_results, sarif_group_threshold=group_threshold)


def with_sarif_options(f: Any) -> Any:
    for option in reversed(sarif_options):
        f = option(f)
    return f


as_of_option = click.option(
    "--as-of", type=AS_OF, default=None,
    help="Evaluate at this instant (RFC 3339, or a date). Default: the snapshot's taken_at.",
)


@main.command()
@policies_option
@snapshot_option
@as_of_option
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Evidence bundle directory (replaced atomically).")
@fail_on_option
@allow_empty_scope_option
@click.option("--force", is_flag=True,
              help="Replace DIR even when it is not empty and was not written by patchpolicy.")
@click.option("--sign", "sign_key", type=click.Path(path_type=Path), default=None, metavar="KEY",
              help="Sign the bundle with this private key (PEM; password in "
                   "PATCHPOLICY_KEY_PASSWORD): writes attestation.intoto.jsonl.")
@with_sarif_options
@handle_errors
def evaluate(
    policies: tuple[Path, ...], snapshot: Path, as_of: datetime | None, out_dir: Path,
    fail_on: tuple[str, ...], allow_empty_scope: bool, force: bool, sign_key: Path | None,
    sarif_max_results: int, sarif_group_threshold: int,
) -> None:
    """Evaluate a snapshot and write the evidence bundle (evidence.json, reports, SHA256SUMS).

    Exits 0 when nothing fails, 1 when something fails, 2 on bad input.
    """
    from patchpolicy.outdir import check_output_dir
    from patchpolicy.render.bundle import write_bundle
    from patchpolicy.verify import build_bundle

    # Before evaluating: a directory that must not be replaced fails fast, writing nothing.
    check_output_dir(out_dir, inputs=[*policies, snapshot], force=force)
    signer = None
    if sign_key is not None:
        from patchpolicy.attest import load_private_key

        signer = load_private_key(sign_key)  # before evaluating: a bad key fails fast
    gate = Gate.of(fail_on, allow_empty_scope=allow_empty_scope)
    ev, files = build_bundle(policies, snapshot, as_of=as_of, gate=gate,
                             options=sarif_options_of(sarif_max_results, sarif_group_threshold))
    if signer is not None:
        from patchpolicy.attest import ATTESTATION_FILE, attest

        files[ATTESTATION_FILE] = attest(files, signer)
    write_bundle(out_dir, files)
    result = gate.judge(ev)
    for line in empty_scope_lines(ev, result):
        click.echo(line, err=True)
    click.echo(
        f"wrote {len(files)} files to {out_dir}: {ev.tally.hosts_read} hosts, "
        f"{ev.tally.findings_read} findings, {ev.tally.items} items; "
        f"{result.word} ({result.failing} failing)"
    )
    if signer is not None:
        click.echo(f"signed: {ATTESTATION_FILE} with {signer.public.describe()}")
    sys.exit(result.exit_code)


@main.command()
@policies_option
@snapshot_option
@as_of_option
@fail_on_option
@allow_empty_scope_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "junit", "markdown"]),
              default="text", show_default=True,
              help="Output on stdout: text, json (evidence), sarif, junit, markdown (PR comment).")
@click.option("--limit", default=10, show_default=True, help="Worst items to list.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Processes for a JSON Lines snapshot (default: every core for files over 32 MB).")
@with_sarif_options
@handle_errors
def check(
    policies: tuple[Path, ...], snapshot: Path, as_of: datetime | None,
    fail_on: tuple[str, ...], allow_empty_scope: bool, fmt: str, limit: int, jobs: int | None,
    sarif_max_results: int, sarif_group_threshold: int,
) -> None:
    """The CI gate: a one-screen summary; exit 0 pass, 1 fail, 2 bad input."""
    from patchpolicy.api import evaluate_files
    from patchpolicy.render import CheckFormat, check_renderer
    from patchpolicy.render.interface import RenderContext

    form = CheckFormat(fmt)
    ev, inputs = evaluate_files(
        policies, snapshot, as_of=as_of, keep_items=form.needs_items, keep_worst=limit,
        jobs=jobs,
    )
    result = Gate.of(fail_on, allow_empty_scope=allow_empty_scope).judge(ev)
    options = sarif_options_of(sarif_max_results, sarif_group_threshold)
    out = check_renderer(form, limit=limit).render(RenderContext(ev, inputs, gate=result,
                                                                 options=options))
    click.echo(out, nl=False)
    if form is not CheckFormat.TEXT:
        for line in empty_scope_lines(ev, result):
            click.echo(line, err=True)
    sys.exit(result.exit_code)


@main.command()
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("-p", "--policies", "policies", multiple=True, type=click.Path(path_type=Path),
              help="The policy bundle evaluated (repeatable); with -s, re-evaluate and compare.")
@click.option("-s", "--snapshot", type=click.Path(path_type=Path), default=None,
              help="The fleet snapshot evaluated; with -p, re-evaluate and compare.")
@click.option("--key", "public_key", type=click.Path(path_type=Path), default=None,
              metavar="PUBLIC.pem",
              help="Check attestation.intoto.jsonl with this public key: the signature, every "
                   "signed file's digest, no unsigned file.")
@handle_errors
def verify(
    bundle_dir: Path, policies: tuple[Path, ...], snapshot: Path | None, public_key: Path | None,
) -> None:
    """Check that an evidence bundle is complete and was not edited: the files evidence.json
    requires, every file against SHA256SUMS (missing, extra, changed or non-regular files
    fail), with --key the signed attestation, and, given -p and -s, a re-evaluation at the
    recorded as-of that must reproduce every byte.

    Exits 0 when everything matches, 1 on any difference, 2 on bad input.
    """
    from patchpolicy.verify import reproduce_bundle, verify_bundle

    if bool(policies) != (snapshot is not None):
        _fail("error: give both -p and -s to re-evaluate, or neither to only re-hash")
    key = None
    if public_key is not None:
        from patchpolicy.attest import load_public_key

        key = load_public_key(public_key)
    if snapshot is not None:
        result = reproduce_bundle(bundle_dir, policies, snapshot, key)
    else:
        result = verify_bundle(bundle_dir, key)
    for line in result.lines():
        click.echo(_safe(line))
    what = "re-hashed" + (" and reproduced" if snapshot is not None else "")
    if result.ok and key is not None:
        click.echo(f"ok: {result.checked} files {what}, signature verified with "
                   f"{key.describe()} ({public_key}): {bundle_dir}")
    elif result.ok and result.signed:
        click.echo(f"ok: {result.checked} files {what}: {bundle_dir} (signed but unverified: "
                   "give --key PUBLIC.pem to check the signature)")
    elif result.ok:
        click.echo(f"ok: {result.checked} files {what}: {bundle_dir}")
    else:
        click.echo(f"FAIL: {bundle_dir} differs from its evidence")
    sys.exit(int(ExitCode.OK if result.ok else ExitCode.FAILED))


@main.command()
@policies_option
@snapshot_option
@as_of_option
@click.option("--host", required=True, help="Host id.")
@click.option("--finding", default=None, help="Finding id or vulnerability id.")
@handle_errors
def explain(
    policies: tuple[Path, ...], snapshot: Path, as_of: datetime | None, host: str, finding: str | None
) -> None:
    """Say in words why each verdict for a host (or one finding) is what it is."""
    from patchpolicy.evaluator import evaluate as run
    from patchpolicy.loader import load_bundle
    from patchpolicy.render.text import explain as explain_text
    from patchpolicy.snapshot import open_snapshot

    bundle = load_bundle(policies)
    snap = open_snapshot(snapshot)
    hosts = [h for h in snap.hosts() if h.id == host]
    if not hosts:
        _fail(f"error: {snapshot}: no host with id {host!r}")
    when = as_of if as_of is not None else snap.header.taken_at
    ev = run(bundle, hosts, as_of=when, taken_at=snap.header.taken_at)
    if finding is not None and not any(i.finding == finding or i.vuln == finding for i in ev.items):
        _fail(f"error: host {host!r} has no finding {finding!r} in any policy's scope")
    click.echo(explain_text(ev, host, finding), nl=False)


def _importer_formats() -> list[str]:
    from patchpolicy.importers.interface import ImporterFormat

    return [f.value for f in ImporterFormat]


@main.command("import")
@click.argument("fmt", metavar="FORMAT", type=click.Choice(_importer_formats()))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Snapshot to write: .json, or .jsonl to stream JSON Lines.")
@click.option("--inventory", type=click.Path(path_type=Path), help="Hosts (YAML or CSV CMDB export).")
@click.option("--kev", type=click.Path(path_type=Path), help="CISA known_exploited_vulnerabilities.json.")
@click.option("--epss", type=click.Path(path_type=Path), help="FIRST EPSS scores CSV.")
@click.option("--previous", type=click.Path(path_type=Path),
              help="The last snapshot: keeps first_seen_at, marks vanished findings fixed.")
@click.option("--scan-time", type=SCAN_TIME,
              help="Scan time for reports that carry none (a timestamp, or 'now'); default: the"
                   " file's modification time, said in the summary and in each finding's provenance.")
@click.option("--taken-at", type=AS_OF, help="Snapshot time (default: the latest scan).")
@handle_errors
def import_(
    fmt: str, files: tuple[Path, ...], output: Path, inventory: Path | None, kev: Path | None,
    epss: Path | None, previous: Path | None, scan_time: datetime | None, taken_at: datetime | None,
) -> None:
    """Import scanner reports (FORMAT: trivy, grype, osv-scanner, cyclonedx) into a fleet
    snapshot; prints entries in and findings out per file, with every merge explained."""
    from patchpolicy.importers import ImporterFormat, run_import

    report = run_import(
        [(ImporterFormat(fmt), f) for f in files], output, inventory=inventory, kev=kev,
        epss=epss, previous=previous, scan_time=scan_time, taken_at=taken_at,
    )
    for line in report.lines():
        click.echo(_safe(line))


@main.command()
@policies_option
@snapshot_option
@as_of_option
@click.option("--horizon", type=DURATION, default="90d", show_default=True,
              help="Plan into windows starting before as-of + horizon.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory for tasks.json and tasks.csv (each written atomically).")
@click.option("--ics", "ics_file", type=click.Path(path_type=Path), default=None,
              help="Also write the scheduled tasks as an iCalendar file.")
@handle_errors
def plan(
    policies: tuple[Path, ...], snapshot: Path, as_of: datetime | None, horizon: Any,
    out_dir: Path, ics_file: Path | None,
) -> None:
    """Plan remediation: one task per host and window, with deadlines and at-risk flags.

    Writes tasks.json and tasks.csv (stable task ids for ticket de-duplication) and
    prints a summary. Exits 0, or 2 on bad input.
    """
    from patchpolicy.api import evaluate_files
    from patchpolicy.planner import plan as make_plan
    from patchpolicy.planner import plan_summary, write_plan
    from patchpolicy.snapshot import open_snapshot

    snap = open_snapshot(snapshot, retain_hosts=True)
    ev, _ = evaluate_files(policies, snap, as_of=as_of)
    result = make_plan(ev.bundle, ev, snap.hosts(), as_of=ev.as_of, horizon=horizon)
    written = write_plan(result, out_dir)
    if ics_file is not None:
        from patchpolicy.render.ics import plan_events, render_ics
        from patchpolicy.snapshot import atomic_write

        atomic_write(ics_file, [render_ics(plan_events(result), stamp=ev.as_of, name="patch tasks")])
        written.append(ics_file)
    click.echo(plan_summary(result))
    click.echo("wrote " + ", ".join(str(w) for w in written))


@main.command()
@policies_option
@click.option("--host", default=None, help="Only windows selecting this host (needs --snapshot).")
@click.option("-s", "--snapshot", type=click.Path(path_type=Path), default=None,
              help="Fleet snapshot: the host's record, and the default --from (taken_at).")
@click.option("--from", "start", type=AS_OF, default=None,
              help="List occurrences at or after this instant (default: the snapshot's taken_at).")
@click.option("--count", default=5, show_default=True, type=click.IntRange(min=1),
              help="Occurrences per window.")
@click.option("--ics", "ics_file", type=click.Path(path_type=Path), default=None,
              help="Also write the occurrences as an iCalendar file.")
@handle_errors
def windows(
    policies: tuple[Path, ...], host: str | None, snapshot: Path | None, start: datetime | None,
    count: int, ics_file: Path | None,
) -> None:
    """List the next maintenance-window occurrences, in UTC and local time, with freezes."""
    from patchpolicy.loader import load_bundle
    from patchpolicy.planner import format_upcoming, upcoming_windows
    from patchpolicy.snapshot import open_snapshot

    if host is not None and snapshot is None:
        _fail("error: --host needs --snapshot (the host's record selects its windows)")
    bundle = load_bundle(policies)
    record = None
    if snapshot is not None:
        snap = open_snapshot(snapshot)
        start = start if start is not None else snap.header.taken_at
        if host is not None:
            record = next((h for h in snap.hosts() if h.id == host), None)
            if record is None:
                _fail(f"error: {snapshot}: no host with id {host!r}")
    if start is None:
        _fail("error: give --from or --snapshot: patchpolicy never reads the wall clock")
    assert start is not None
    upcoming, problems = upcoming_windows(bundle, start, count, record)
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    click.echo(format_upcoming(upcoming) or "no window occurrences\n", nl=False)
    if ics_file is not None:
        from patchpolicy.render.ics import render_ics, window_events
        from patchpolicy.snapshot import atomic_write

        atomic_write(ics_file, [render_ics(window_events(upcoming), stamp=start,
                                           name="maintenance windows")])
        click.echo(f"wrote {ics_file}")


@main.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--coverage", "show_coverage", is_flag=True,
              help="List rules, windows, freezes and exceptions no test exercises.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=None, metavar="PERCENT",
              help="Fail when coverage is below PERCENT (implies --coverage).")
@handle_errors
def test_command(paths: tuple[Path, ...], show_coverage: bool, min_coverage: float | None) -> None:
    """Run the PolicyTest documents under PATHS (files or directories), like `opa test`.

    Prints PASS/FAIL per case with expected vs actual; exits 0 when every case passes
    (and coverage reaches --min-coverage), 1 otherwise, 2 on bad input.
    """
    from patchpolicy.review.testing import format_report, run_tests

    run = run_tests(paths)
    click.echo(format_report(run, coverage=show_coverage, min_coverage=min_coverage), nl=False)
    sys.exit(run.exit_code(min_coverage))


@main.command("diff")
@click.argument("specs", nargs=-1, required=True, metavar="OLD [NEW]")
@click.option("--base", metavar="REV", default=None,
              help="Compare the bundle PATH in the working tree with its state at git REV.")
@click.option("-s", "--snapshot", type=click.Path(path_type=Path), default=None,
              help="Also evaluate both versions on this fleet snapshot and list what changes.")
@as_of_option
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Output on stdout: text, markdown (PR comment), json.")
@click.option("--fail-on", "fail_on", multiple=True,
              type=click.Choice(["weakening", "unknown", "bump", "now_failing"]),
              help="Also fail (exit 1) on these (repeatable); version errors always fail.")
@click.option("--allow-minor-weakening", is_flag=True,
              help="Do not fail when a weakening is published with less than a major bump.")
@handle_errors
def diff(
    specs: tuple[str, ...], base: str | None, snapshot: Path | None, as_of: datetime | None,
    fmt: str, fail_on: tuple[str, ...], allow_minor_weakening: bool,
) -> None:
    """Semantic diff of two policy bundles: each change classified weakening, unknown,
    strengthening or neutral, with the version bump it needs and, with --snapshot, the
    items whose verdict or deadline changes.

    OLD and NEW are paths or git revisions of one (REV:PATH); `--base REV PATH` compares
    PATH in the working tree with REV. Exits 0, 1 on a version error or a --fail-on
    condition, 2 on bad input.
    """
    from patchpolicy.review.diff import DiffFailOn, render, run_diff

    result = run_diff(specs, base=base, snapshot=snapshot, as_of=as_of)
    click.echo(render(result, fmt), nl=False)
    gate = frozenset(DiffFailOn(f) for f in fail_on)
    for reason in result.failures(gate, allow_minor_weakening=allow_minor_weakening):
        click.echo(f"diff fails: {reason}", err=True)
    sys.exit(result.exit_code(gate, allow_minor_weakening=allow_minor_weakening))


@main.command()
@click.option("-o", "--out", "prefix", required=True, metavar="PREFIX",
              help="Write PREFIX.key.pem (private, mode 0600) and PREFIX.pub.pem (public).")
@click.option("--type", "key_type", type=click.Choice(["ed25519", "ecdsa-p256"]),
              default="ed25519", show_default=True, help="Signature algorithm.")
@handle_errors
def keygen(prefix: str, key_type: str) -> None:
    """Make a key pair for signing evidence bundles (evaluate --sign, verify --key).

    The private key is encrypted with PATCHPOLICY_KEY_PASSWORD when that is set; existing
    files are never overwritten. Exits 0, or 2 on bad input.
    """
    from patchpolicy.attest import PASSWORD_ENV, KeyType, load_public_key, write_keypair

    private, public, encrypted = write_keypair(prefix, KeyType(key_type))
    how = f"encrypted with ${PASSWORD_ENV}" if encrypted else f"NOT encrypted: set {PASSWORD_ENV}"
    click.echo(f"wrote {private} (private, {how})")
    click.echo(f"wrote {public} (public: give it to auditors; {load_public_key(public).describe()})")
