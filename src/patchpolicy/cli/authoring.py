"""Commands for policy authors and reviewers: validate, schema, test, diff."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from patchpolicy.cli.common import (
    ExitCode,
    as_of_option,
    handle_errors,
    main,
)
from patchpolicy.cli.output import ErrorFormat, error_format, info, is_quiet, report, warn
from patchpolicy.render.sanitize import lines as _safe_lines
from patchpolicy.render.sanitize import text as _safe
from patchpolicy.schema import DocumentKind


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@handle_errors
def validate(paths: tuple[Path, ...], strict: bool) -> None:
    """Validate policy, exception, test and snapshot documents (files or directories).

    Prints one line per valid document; on errors prints every problem as
    file:line:col: message and exits 2.

    \b
    Examples:
      patchpolicy validate policies
      patchpolicy validate --strict policies fleet.json
      patchpolicy validate fleet.jsonl
      cat policy.yaml | patchpolicy validate -
      patchpolicy validate --error-format json policies
    """
    from patchpolicy.loader import SnapshotSummary, SourceDocument, check_bundle

    documents: list[SourceDocument] = []
    snapshots: list[SnapshotSummary] = []
    bundle, diags = check_bundle(paths, documents, snapshots)
    errors = [d for d in diags if d.severity == "error" or strict]
    if errors:
        n = len(errors)
        count = f"{n} error{'s' if n != 1 else ''} in {len({d.location.file for d in errors})} file(s)"
        report(diags, "\n".join([*(str(d) for d in diags), count]))
        sys.exit(int(ExitCode.INPUT))
    for d in diags:  # warnings: on stdout in the text form, records on stderr otherwise
        if error_format() is ErrorFormat.TEXT:
            click.echo(_safe_lines(d))
        else:
            warn(str(d), d.code)
    assert bundle is not None
    for doc in documents:
        info(_safe(f"{doc.where()}: ok {_summary(doc, bundle)}"))
    for s in snapshots:
        info(_safe(f"{s.path}: ok FleetSnapshot: {s.hosts} host(s), {s.findings} finding(s)"))


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
        return f"ExceptionSet {name}: {bundle.exception_count(name)} exception(s)"
    if kind == "PolicyTest" and (t := bundle.test(name)) is not None:
        return f"PolicyTest {name}: {len(t.spec.cases)} case(s)"
    if kind == "FleetSnapshot":
        hosts = doc.data.get("hosts", [])
        n = sum(len(h.get("findings", [])) for h in hosts)
        return f"FleetSnapshot: {len(hosts)} host(s), {n} finding(s)"
    return str(kind)


@main.command()
@click.argument("kind", type=click.Choice([k.value for k in DocumentKind]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a document kind.

    \b
    Examples:
      patchpolicy schema PatchPolicy > PatchPolicy.schema.json
      patchpolicy schema FleetSnapshot
    """
    from patchpolicy.schema import schema_text

    click.echo(schema_text(DocumentKind(kind)), nl=False)




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

    \b
    Examples:
      patchpolicy test policies
      patchpolicy test --coverage --min-coverage 80 policies
      patchpolicy test -q policies
    """
    from patchpolicy.review.testing import format_report, run_tests

    run = run_tests(paths)
    click.echo(format_report(run, coverage=show_coverage, min_coverage=min_coverage,
                             quiet=is_quiet()), nl=False)
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

    \b
    Examples:
      patchpolicy diff old/policies policies
      patchpolicy diff main:policies HEAD:policies
      patchpolicy diff --base origin/main policies -s fleet.json --format markdown
      patchpolicy diff --base v1.2.0 policies --fail-on weakening --fail-on bump
    """
    from patchpolicy.render.diff import render
    from patchpolicy.review.diff import DiffFailOn, run_diff

    result = run_diff(specs, base=base, snapshot=snapshot, as_of=as_of)
    click.echo(render(result, fmt), nl=False)
    gate = frozenset(DiffFailOn(f) for f in fail_on)
    for reason in result.failures(gate, allow_minor_weakening=allow_minor_weakening):
        click.echo(f"diff fails: {reason}", err=True)
    sys.exit(result.exit_code(gate, allow_minor_weakening=allow_minor_weakening))
