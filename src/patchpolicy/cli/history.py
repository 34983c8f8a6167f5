"""Commands over the evidence store: record (a bundle into it), history (one host's
lifecycles), store info / store prune, and report (a period's metrics)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click

from patchpolicy.cli.common import AS_OF, ExitCode, fail, handle_errors, main
from patchpolicy.render.sanitize import text as _safe

store_option = click.option(
    "--store", "store_url", default=None, metavar="URL",
    help="The store: a SQLite file (path or sqlite:///path) or postgresql://...; "
         "default: $PATCHPOLICY_STORE.",
)


def describe_record(bundle_dir: Path, store_shown: str, result: object) -> str:
    from patchpolicy.store import RecordResult

    assert isinstance(result, RecordResult)
    if not result.recorded:
        return (f"already recorded: {bundle_dir} (bundle {result.bundle_sha256[:16]}, as-of "
                f"{result.as_of}) is in {store_shown}; nothing changed")
    how = " (backfill: later evaluations were already recorded)" if result.backfill else ""
    return (f"recorded {bundle_dir} into {store_shown}: as-of {result.as_of}, bundle "
            f"{result.bundle_sha256[:16]}, {result.items} items and {result.checks} host checks "
            f"of {', '.join(result.policies) or 'no policy'}; {result.spans_opened} lifecycle "
            f"changes, {result.spans_extended} unchanged, {result.spans_split} split{how}")


@main.command()
@click.argument("bundle_dir", metavar="BUNDLE_DIR", type=click.Path(path_type=Path))
@store_option
@handle_errors
def record(bundle_dir: Path, store_url: str | None) -> None:
    """Record an evidence bundle (one that verify accepts) into the store. Recording the
    same bundle twice changes nothing; bundles may be recorded in any order.

    Exits 0 when recorded or already there, 2 on a bundle verify rejects or a bad store.

    \b
    Examples:
      patchpolicy record evidence --store history.db
      patchpolicy record evidence --store postgresql://ci@db.example/patchpolicy
      PATCHPOLICY_STORE=history.db patchpolicy record evidence
    """
    from patchpolicy.store import open_store, record_bundle

    store = open_store(store_url, create=True)
    try:
        result = record_bundle(store, bundle_dir)
    finally:
        store.close()
    click.echo(_safe(describe_record(bundle_dir, store.location.shown, result)))


def _fmt_state(state: dict[str, object]) -> str:
    parts = [str(state["verdict"])]
    if state.get("rule"):
        parts.append(f"rule {state['rule']}")
    if state.get("deadline"):
        parts.append(f"deadline {state['deadline']}")
    if state.get("exception"):
        parts.append(f"excepted by {state['exception']}")
    if state.get("fixed_at"):
        parts.append(f"fixed {state['fixed_at']}")
    return ", ".join(parts)


@main.command()
@store_option
@click.option("--host", required=True, help="Host id.")
@click.option("--finding", default=None, help="Finding id or vulnerability id.")
@handle_errors
def history(store_url: str | None, host: str, finding: str | None) -> None:
    """Print each finding's lifecycle on a host: first seen, every verdict change with the
    evaluation it happened in, the exceptions that covered it, when it was fixed.

    Exits 0, or 2 when the store is unusable or holds nothing for the host (or finding).

    \b
    Examples:
      patchpolicy history --store history.db --host web-01
      patchpolicy history --store history.db --host web-01 --finding CVE-2024-6387
    """
    from patchpolicy.store import open_store
    from patchpolicy.store.queries import history as lifecycles

    store = open_store(store_url)
    try:
        found = lifecycles(store, host, finding)
    finally:
        store.close()
    if not found:
        what = f"host {host!r}" + (f" finding {finding!r}" if finding else "")
        fail(f"error: {store.location.shown}: nothing recorded for {what}")
    out: list[str] = []
    for lc in found:
        head = lc.spans[0]
        out.append(f"{lc.policy} {lc.host} {lc.finding} ({lc.vuln}, severity "
                   f"{head.state['severity']})")
        out.append(f"  first seen {head.first}"
                   + (f", clock start {head.state['clock_start']}" if head.state["clock_start"] else ""))
        prev: dict[str, object] | None = None
        covering: list[str] = []
        for ch in lc.spans:
            if prev is None or ch.state != prev:
                out.append(f"  {ch.first}: {_fmt_state(ch.state)}")
            if ch.state.get("exception") and (not covering or covering[-1] != ch.state["exception"]):
                covering.append(str(ch.state["exception"]))
            prev = ch.state
        last = lc.spans[-1]
        out.append(f"  last seen {last.last}")
        if covering:
            out.append(f"  exceptions: {', '.join(covering)}")
        fixed = [c.state["fixed_at"] for c in lc.spans if c.state.get("fixed_at")]
        out.append(f"  fixed {fixed[-1]}" if fixed else "  not fixed as of its last evaluation")
    for line in out:
        click.echo(_safe(line))


@main.group("store")
def store_group() -> None:
    """Look after the evidence store: what it holds, and pruning old evidence.

    \b
    Examples:
      patchpolicy store info    # the store named by $PATCHPOLICY_STORE
      patchpolicy store prune   # see: patchpolicy store prune -h
    """


@store_group.command("info")
@store_option
@handle_errors
def store_info(store_url: str | None) -> None:
    """Print the store's size, evaluations, period covered and schema version.

    \b
    Examples:
      patchpolicy store info --store history.db
    """
    from patchpolicy.store import open_store
    from patchpolicy.store.queries import info

    store = open_store(store_url)
    try:
        i = info(store)
    finally:
        store.close()
    lines = [
        f"store: {i.url} ({i.dialect}, schema version {i.schema_version})",
        f"size: {i.size_bytes} bytes ({i.size_bytes / 2**20:.1f} MiB)",
        f"evaluations: {i.evaluations}"
        + (f", from {i.first_as_of} to {i.last_as_of}" if i.first_as_of else ""),
        f"items: {i.item_keys} (policy, host, finding) keys in {i.item_spans} lifecycle spans; "
        f"{i.check_spans} host-check spans; {i.host_scans} scan times",
    ]
    for name, version, years in i.policies:
        lines.append(f"policy {name} {version}"
                     + (f": retention {years} years" if years is not None else ""))
    for line in lines:
        click.echo(_safe(line))


@store_group.command("prune")
@store_option
@click.option("--before", required=True, type=AS_OF, metavar="DATE",
              help="Delete the evaluations with as-of before this instant (a date: its start UTC).")
@click.option("--today", "today", default=None, metavar="DATE",
              help="The date retention is measured to (default: today's date, UTC).")
@click.option("--force-delete-retained-evidence", "force", is_flag=True,
              help="Delete even evidence that a recorded policy's metadata.retention still requires.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@handle_errors
def store_prune(store_url: str | None, before: datetime, today: str | None, force: bool,
                dry_run: bool) -> None:
    """Delete old evaluations (and what only they show). Refuses, exit 2, to delete
    evidence a recorded policy's retention still requires, unless
    --force-delete-retained-evidence.

    \b
    Examples:
      patchpolicy store prune --store history.db --before 2020-01-01 --dry-run
      patchpolicy store prune --store history.db --before 2020-01-01
    """
    from patchpolicy.model.common import parse_day
    from patchpolicy.store import open_store
    from patchpolicy.store.queries import prune

    try:
        day = parse_day(today) if today is not None else datetime.now(UTC).date()
    except ValueError as e:
        fail(f"error: --today: {e}")
        return
    assert isinstance(day, date)
    store = open_store(store_url)
    try:
        r = prune(store, before, day, force_delete_retained=force, dry_run=dry_run)
    finally:
        store.close()
    for ret in r.retained[:20]:
        click.echo(_safe(f"retained: evaluation {ret.as_of}: policy {ret.policy} keeps evidence "
                         f"{ret.years} years ({ret.basis or 'metadata.retention'}), until {ret.until}"),
                   err=True)
    if len(r.retained) > 20:
        click.echo(f"retained: ... and {len(r.retained) - 20} more", err=True)
    if r.retained and not force:
        fail(f"error: refusing to delete {r.evaluations} evaluations before {before:%Y-%m-%d}: "
             f"retention still requires {len(r.retained)} policy records among them (on {day}); "
             "nothing deleted; pass --force-delete-retained-evidence to delete them anyway")
    if dry_run or not r.deleted:
        click.echo(f"would delete {r.evaluations} evaluations before {before:%Y-%m-%d}"
                   if dry_run else f"nothing to delete before {before:%Y-%m-%d}")
    else:
        click.echo(f"deleted {r.evaluations} evaluations before {before:%Y-%m-%d}"
                   + (f" ({len(r.retained)} still under retention, forced)" if r.retained else ""))
    sys.exit(int(ExitCode.OK))


@main.command()
@store_option
@click.option("--from", "date_from", required=True, metavar="DATE",
              help="First day of the period (its start, UTC), or an RFC 3339 instant.")
@click.option("--to", "date_to", required=True, metavar="DATE",
              help="Last day of the period (through its end, UTC), or an exclusive RFC 3339 instant.")
@click.option("--by", type=click.Choice(["month", "quarter", "week"]), default="month",
              show_default=True, help="Buckets of the metrics (calendar, UTC; ISO weeks).")
@click.option("--policy", default=None, help="Only this policy.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Report directory (replaced atomically).")
@click.option("--force", is_flag=True,
              help="Replace DIR even when it is not empty and was not written by patchpolicy.")
@handle_errors
def report(store_url: str | None, date_from: str, date_to: str, by: str, policy: str | None,
           out_dir: Path, force: bool) -> None:
    """Write a period report from the store: metrics.json, metrics.csv (SLA attainment,
    MTTR, backlog, ageing, exceptions, scan cadence), report.html, report.md,
    statements.md (one statement per control, every late item listed) and SHA256SUMS.

    Exits 0 when written, 2 on bad input (an empty period, an unusable store).

    \b
    Examples:
      patchpolicy report --store history.db --from 2026-01-01 --to 2026-12-31 -o report
      patchpolicy report --store history.db --from 2026-07-01 --to 2026-09-30 --by week --policy pci-dss -o q3
    """
    from patchpolicy.model.common import format_timestamp, parse_end_instant, parse_start_instant
    from patchpolicy.outdir import check_output_dir
    from patchpolicy.store import open_store
    from patchpolicy.store.period import BucketBy, build_period, late_total
    from patchpolicy.store.report import write_report

    try:
        lo = parse_start_instant(date_from)
    except ValueError as e:
        fail(f"error: --from: {e}")
        return
    try:
        hi = parse_end_instant(date_to)
    except ValueError as e:
        fail(f"error: --to: {e}")
        return
    if hi <= lo:
        fail(f"error: --to {date_to} is not after --from {date_from}")
    check_output_dir(out_dir, force=force)
    store = open_store(store_url)
    try:
        content = build_period(store, lo, hi, BucketBy(by), policy)
    finally:
        store.close()
    files = write_report(out_dir, content)
    click.echo(_safe(
        f"wrote {len(files)} files to {out_dir}: {format_timestamp(lo)} to {format_timestamp(hi)}"
        f", {len(content['evaluations'])} evaluations, {len(content['controls'])} control "
        f"statements, {late_total(content)} late items listed"))
