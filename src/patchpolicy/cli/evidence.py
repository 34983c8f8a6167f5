"""Commands that judge a fleet: evaluate (the evidence bundle), check (the CI gate),
verify (the bundle's integrity) and explain (one host's verdicts in words)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from patchpolicy.cli.common import (
    ExitCode,
    allow_empty_scope_option,
    as_of_option,
    dask_option,
    fail,
    fail_on_option,
    handle_errors,
    jobs_option,
    main,
    policies_option,
    provenance_of,
    render_options_of,
    snapshot_option,
    snapshots_option,
    with_provenance_options,
    with_render_options,
)
from patchpolicy.cli.output import echo_gate_summary, info, is_quiet, warn
from patchpolicy.model.gate import Gate
from patchpolicy.render.sanitize import text as _safe
from patchpolicy.render.text import empty_scope_lines

if TYPE_CHECKING:
    from patchpolicy.api import Jobs
    from patchpolicy.attest import PrivateKey
    from patchpolicy.store.engine import Store


@main.command()
@policies_option
@snapshots_option
@as_of_option
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Evidence bundle directory (replaced atomically).")
@fail_on_option
@allow_empty_scope_option
@click.option("--force", is_flag=True,
              help="Replace DIR even when it is not empty and was not written by patchpolicy.")
@click.option("--sign", "sign_key", type=click.Path(path_type=Path), default=None, metavar="KEY",
              help="Sign the bundle with this private key (PEM; password in "
                   "PATCHPOLICY_KEY_PASSWORD; - for standard input): writes attestation.intoto.jsonl.")
@jobs_option
@dask_option
@with_render_options
@with_provenance_options
@click.option("--record", "record_it", is_flag=True,
              help="Then record the bundle into the store (--store or $PATCHPOLICY_STORE).")
@click.option("--store", "store_url", default=None, metavar="URL",
              help="The store --record writes to: a SQLite path or postgresql://...")
@handle_errors
def evaluate(
    policies: tuple[Path, ...], snapshot: tuple[Path, ...], as_of: datetime | None, out_dir: Path,
    fail_on: tuple[str, ...], allow_empty_scope: bool, force: bool, sign_key: Path | None,
    jobs: Jobs, dask: str | None,
    run_by: str | None, policy_commit: str | None, oscal_ssp: str | None,
    oscal_system_id: str | None, record_it: bool, store_url: str | None, **render: int,
) -> None:
    """Evaluate a snapshot and write the evidence bundle (evidence.json, reports, SHA256SUMS).

    Exits 0 when nothing fails, 1 when something fails, 2 on bad input (or a store that
    cannot be written: the bundle is then written, the recording not made).

    \b
    Examples:
      patchpolicy evaluate -p policies -s fleet.json -o evidence
      patchpolicy evaluate -p policies -s fleet.json -o evidence --as-of 2026-11-20
      patchpolicy evaluate -p policies -s fleet.json -o evidence --sign release.key.pem
      zcat fleet.jsonl.gz | patchpolicy evaluate -p policies -s - -o evidence
      patchpolicy evaluate -p policies -s fleet.jsonl -o evidence --record --store history.db
      patchpolicy evaluate -p policies -s shards/ -o evidence --jobs 4
      patchpolicy evaluate -p policies -s eu.jsonl -s us.jsonl -o evidence --dask local
    """
    from patchpolicy.evidence_bundle import build_bundle
    from patchpolicy.outdir import check_output_dir
    from patchpolicy.render.bundle import write_bundle

    # Before evaluating: a directory that must not be replaced fails fast, writing nothing.
    check_output_dir(out_dir, inputs=[*policies, *snapshot], force=force)
    signer, store = _signer_and_store(sign_key, record_it, store_url)
    gate = Gate.of(fail_on, allow_empty_scope=allow_empty_scope)
    options = render_options_of(**render, **provenance_of(policies, run_by, policy_commit,
                                                          oscal_ssp, oscal_system_id))
    ev, files = build_bundle(policies, snapshot, as_of=as_of, gate=gate, options=options,
                             jobs=jobs, dask=dask, watch=_watch("evaluating"))
    if signer is not None:
        from patchpolicy.attest import ATTESTATION_FILE, attest

        files[ATTESTATION_FILE] = attest(files, signer)
    write_bundle(out_dir, files)
    result = gate.judge(ev)
    for line in empty_scope_lines(ev, result):
        warn(line)
    info(
        f"wrote {len(files)} files to {out_dir}: {ev.tally.hosts_read} hosts, "
        f"{ev.tally.findings_read} findings, {ev.tally.items} items; "
        f"{result.word} ({result.failing} failing)"
    )
    if signer is not None:
        info(f"signed: {ATTESTATION_FILE} with {signer.public.describe()}")
    if store is not None:
        _record(store, out_dir)
    sys.exit(result.exit_code)


def _signer_and_store(sign_key: Path | None, record_it: bool,
                      store_url: str | None) -> tuple[PrivateKey | None, Store | None]:
    """The signing key and the store to record into, opened before evaluating so that a
    bad key or store fails fast."""
    signer = None
    if sign_key is not None:
        from patchpolicy.attest import load_private_key

        signer = load_private_key(sign_key)
    if store_url is not None and not record_it:
        fail("error: --store is given without --record")
    store = None
    if record_it:
        from patchpolicy.store import open_store

        store = open_store(store_url, create=True)
    return signer, store


def _record(store: Store, out_dir: Path) -> None:
    """Record the written bundle into the store, then close it."""
    from patchpolicy.cli.history import describe_record
    from patchpolicy.store import record_bundle

    try:
        recorded = record_bundle(store, out_dir)
    finally:
        store.close()
    info(_safe(describe_record(out_dir, store.location.shown, recorded)))


@main.command()
@policies_option
@snapshots_option
@as_of_option
@fail_on_option
@allow_empty_scope_option
@click.option("--format", "fmt", type=click.Choice(["text", "json", "sarif", "junit", "markdown"]),
              default="text", show_default=True,
              help="Output on stdout: text, json (evidence), sarif, junit, markdown (PR comment).")
@click.option("--limit", default=10, show_default=True, help="Worst items to list.")
@jobs_option
@dask_option
@with_render_options
@handle_errors
def check(
    policies: tuple[Path, ...], snapshot: tuple[Path, ...], as_of: datetime | None,
    fail_on: tuple[str, ...], allow_empty_scope: bool, fmt: str, limit: int, jobs: Jobs,
    dask: str | None, **render: int,
) -> None:
    """The CI gate: a one-screen summary; exit 0 pass, 1 fail, 2 bad input.

    \b
    Examples:
      patchpolicy check -p policies -s fleet.json
      patchpolicy check -p policies -s fleet.json --fail-on due_soon
      patchpolicy check -p policies -s fleet.json --format sarif > results.sarif
      patchpolicy check -q -p policies -s fleet.jsonl -j 4
      patchpolicy check -p policies -s shards/ --dask tcp://scheduler:8786
      patchpolicy check           # -p and -s from patchpolicy.toml
    """
    from patchpolicy.api import evaluate_files
    from patchpolicy.progress import snapshot_progress
    from patchpolicy.render import CheckFormat, check_renderer
    from patchpolicy.render.interface import RenderContext
    from patchpolicy.snapshot import open_snapshots

    form = CheckFormat(fmt)
    source = open_snapshots(snapshot)
    with snapshot_progress(source, "checking", quiet=is_quiet()):
        run = evaluate_files(
            policies, source, as_of=as_of, keep_items=form.needs_items, keep_worst=limit,
            jobs=jobs, dask=dask,
        )
    ev, inputs = run.evaluation, run.inputs
    result = Gate.of(fail_on, allow_empty_scope=allow_empty_scope).judge(ev)
    options = render_options_of(**render)
    out = check_renderer(form, limit=limit).render(RenderContext(ev, inputs, gate=result,
                                                                 options=options))
    if form is CheckFormat.TEXT:
        echo_gate_summary(out)
    else:
        click.echo(out, nl=False)
        for line in empty_scope_lines(ev, result):
            warn(line)
    sys.exit(result.exit_code)


@main.command()
@click.argument("bundle_dir", metavar="DIR", type=click.Path(path_type=Path))
@click.option("-p", "--policies", "policies", multiple=True, type=click.Path(path_type=Path),
              help="The policy bundle evaluated (repeatable); with -s, re-evaluate and compare.")
@click.option("-s", "--snapshot", "snapshot", multiple=True, type=click.Path(path_type=Path),
              help="The fleet snapshot evaluated (repeatable, or a directory of shards, as "
                   "evaluate was given it); with -p, re-evaluate and compare.")
@click.option("--key", "public_key", type=click.Path(path_type=Path), default=None,
              metavar="PUBLIC.pem",
              help="Check attestation.intoto.jsonl with this public key: the signature, every "
                   "signed file's digest, no unsigned file (- for standard input).")
@jobs_option
@dask_option
@handle_errors
def verify(
    bundle_dir: Path, policies: tuple[Path, ...], snapshot: tuple[Path, ...], public_key: Path | None,
    jobs: Jobs, dask: str | None,
) -> None:
    """Check that an evidence bundle is complete and was not edited: the files evidence.json
    requires, every file against SHA256SUMS (missing, extra, changed or non-regular files
    fail), with --key the signed attestation, and, given -p and -s, a re-evaluation at the
    recorded as-of that must reproduce every byte.

    Exits 0 when everything matches, 1 on any difference, 2 on bad input.

    \b
    Examples:
      patchpolicy verify evidence
      patchpolicy verify evidence --key release.pub.pem
      patchpolicy verify evidence -p policies -s fleet.json
      patchpolicy verify evidence -p policies -s shards/ --jobs 4
    """
    from patchpolicy.verify import reproduce_bundle, verify_bundle

    if bool(policies) != bool(snapshot):
        fail("error: give both -p and -s to re-evaluate, or neither to only re-hash")
    key = None
    if public_key is not None:
        from patchpolicy.attest import load_public_key

        key = load_public_key(public_key)
    if snapshot:
        result = reproduce_bundle(bundle_dir, policies, snapshot, key, jobs=jobs, dask=dask,
                                  watch=_watch("re-evaluating"))
    else:
        result = verify_bundle(bundle_dir, key)
    for line in result.lines():
        click.echo(_safe(line))
    what = "re-hashed" + (" and reproduced" if snapshot else "")
    if result.ok and key is not None:
        info(f"ok: {result.checked} files {what}, signature verified with "
                   f"{key.describe()} ({public_key}): {bundle_dir}")
    elif result.ok and result.signed:
        info(f"ok: {result.checked} files {what}: {bundle_dir} (signed but unverified: "
                   "give --key PUBLIC.pem to check the signature)")
    elif result.ok:
        info(f"ok: {result.checked} files {what}: {bundle_dir}")
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
    """Say in words why each verdict for a host (or one finding) is what it is.

    \b
    Examples:
      patchpolicy explain -p policies -s fleet.json --host web-01
      patchpolicy explain -p policies -s fleet.json --host web-01 --finding CVE-2026-1177
    """
    from patchpolicy.evaluator import evaluate as run
    from patchpolicy.loader import load_bundle
    from patchpolicy.render.text import explain as explain_text
    from patchpolicy.snapshot import open_snapshot

    bundle = load_bundle(policies)
    snap = open_snapshot(snapshot)
    hosts = [h for h in snap.hosts() if h.id == host]
    if not hosts:
        fail(f"error: {snapshot}: no host with id {host!r}")
    when = as_of if as_of is not None else snap.header.taken_at
    ev = run(bundle, hosts, as_of=when, taken_at=snap.header.taken_at)
    if finding is not None and not any(i.finding == finding or i.vuln == finding for i in ev.items):
        fail(f"error: host {host!r} has no finding {finding!r} in any policy's scope")
    click.echo(explain_text(ev, host, finding), nl=False)


def _watch(what: str) -> Any:
    """The progress bar around an evaluation (drawn only on a terminal, for a large input)."""
    from patchpolicy.progress import snapshot_progress

    return lambda source: snapshot_progress(source, what, quiet=is_quiet())
