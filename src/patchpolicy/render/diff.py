"""``patchpolicy diff`` output: plain text, a markdown PR comment, or JSON; deterministic."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from patchpolicy.model.common import format_timestamp
from patchpolicy.review.diff.bundles import BundleDiff, DocumentDiff
from patchpolicy.review.diff.changes import Classification
from patchpolicy.review.impact import Impact

__all__ = ["MARKDOWN_IMPACT_ROWS", "OutputFormat", "as_json", "render"]


class OutputFormat(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


_HEADINGS = {
    Classification.WEAKENING: "Weakening",
    Classification.UNKNOWN: "Changed, effect unknown",
    Classification.STRENGTHENING: "Strengthening",
    Classification.NEUTRAL: "Neutral",
}
_DIRECTION_LABELS = {
    "now_failing": "now failing",
    "no_longer_failing": "no longer failing",
    "deadline_earlier": "deadline earlier",
    "deadline_later": "deadline later",
    "verdict_changed": "verdict changed",
}
MARKDOWN_IMPACT_ROWS = 50
"""Changed items listed in a markdown comment (the counts always cover all)."""


def render(result: BundleDiff, fmt: OutputFormat | str = OutputFormat.TEXT) -> str:
    """The diff as plain text, a markdown PR comment, or JSON; deterministic."""
    fmt = OutputFormat(fmt)
    if fmt == OutputFormat.JSON:
        return json.dumps(as_json(result), indent=2, ensure_ascii=False) + "\n"
    if fmt == OutputFormat.MARKDOWN:
        return _markdown(result)
    return _text(result)


def _ts(dt: datetime | None) -> str:
    return format_timestamp(dt) if dt is not None else "-"


def as_json(result: BundleDiff) -> dict[str, Any]:
    """The machine form: summary, documents, changes (weakenings first), impact."""
    counts = result.counts()
    out: dict[str, Any] = {
        "apiVersion": "patchpolicy/v1",
        "kind": "PolicyDiff",
        "old": result.old,
        "new": result.new,
        "summary": {
            **{k.value: v for k, v in counts.items()},
            "version_errors": len(result.version_issues("error")),
            "version_warnings": len(result.version_issues("warning")),
        },
        "documents": [d.as_json() for d in result.documents],
        "changes": [c.as_json() for c in result.changes],
        "impact": None,
    }
    if result.impact is not None:
        im = result.impact
        out["impact"] = {
            "snapshot": im.snapshot,
            "as_of": format_timestamp(im.as_of),
            "counts": {k.value: v for k, v in im.counts.items()},
            "items": [
                {
                    "direction": e.direction.value,
                    "policy": e.policy,
                    "host": e.host,
                    "finding": e.finding,
                    "check": e.check,
                    "old_verdict": e.old_verdict,
                    "new_verdict": e.new_verdict,
                    "old_deadline": format_timestamp(e.old_deadline) if e.old_deadline else None,
                    "new_deadline": format_timestamp(e.new_deadline) if e.new_deadline else None,
                    "old_rule": e.old_rule,
                    "new_rule": e.new_rule,
                }
                for e in im.entries
            ],
        }
    return out


def _arrow(old: str | None, new: str | None) -> str:
    return f"{old if old is not None else '(none)'} -> {new if new is not None else '(none)'}"


def _version_text(d: DocumentDiff) -> str:
    if d.old_version == d.new_version:
        return d.new_version or "-"
    return _arrow(d.old_version, d.new_version)


def _text(result: BundleDiff) -> str:
    counts = result.counts()
    errors, warnings = result.version_issues("error"), result.version_issues("warning")
    lines = [
        f"patchpolicy diff: {result.old} -> {result.new}",
        ", ".join(f"{n} {k.value}" for k, n in counts.items())
        + f"; version: {len(errors)} error(s), {len(warnings)} warning(s)",
    ]
    changes = result.changes
    if not changes:
        lines.append("no semantic changes")
    for cls in Classification:
        group = [c for c in changes if c.classification == cls]
        if not group:
            continue
        lines += ["", f"{_HEADINGS[cls].upper()} ({len(group)})"]
        for c in group:
            values = f": {_arrow(c.old, c.new)}" if c.old is not None or c.new is not None else ""
            where = f"  [{c.location}]" if c.location else ""
            lines.append(f"  {c.kind} {c.document}: {c.what}{values}")
            lines.append(f"      {c.reason}{where}")
    checked = [d for d in result.documents if d.version is not None]
    if checked:
        lines += ["", "VERSIONS"]
        for d in checked:
            assert d.version is not None
            lines.append(f"  {d.version.severity:<7} {d.kind} {d.name} "
                         f"{_version_text(d)}: {d.version.message}")
    if result.impact is not None:
        im = result.impact
        lines += ["", f"IMPACT on {im.snapshot} at {format_timestamp(im.as_of)}",
                  "  " + ", ".join(f"{_DIRECTION_LABELS[k.value]} {n}" for k, n in im.counts.items())]
        for e in im.entries:
            lines.append(
                f"  {_DIRECTION_LABELS[e.direction.value]:<17} {e.policy} {e.host} {e.subject}: "
                f"{_arrow(e.old_verdict, e.new_verdict)}, deadline "
                f"{_ts(e.old_deadline)} -> {_ts(e.new_deadline)}"
            )
    return "\n".join(lines) + "\n"


def _code(text: str | None) -> str:
    """An inline code span that survives backticks and table pipes."""
    if text is None:
        return "*(none)*"
    text = text.replace("|", "\\|").replace("\n", " ")
    longest = 0
    run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown(result: BundleDiff) -> str:
    counts = result.counts()
    out = [
        "### patchpolicy diff",
        "",
        f"{_code(result.old)} → {_code(result.new)}",
        "",
    ]
    headline = [f"**{counts[Classification.WEAKENING]} weakening**" if counts[Classification.WEAKENING]
                else "0 weakening"]
    headline += [f"{counts[k]} {k.value}" for k in list(Classification)[1:]]
    errors, warnings = result.version_issues("error"), result.version_issues("warning")
    headline.append(
        f"**{len(errors)} version error(s)**" if errors else "0 version errors"
    )
    headline.append(f"{len(warnings)} version warning(s)")
    out += [" · ".join(headline), ""]
    out += _markdown_documents(result)
    out += _markdown_changes(result)
    if result.impact is not None:
        out += _markdown_impact(result.impact)
    return "\n".join(out).rstrip("\n") + "\n"


def _markdown_documents(result: BundleDiff) -> list[str]:
    """The table of documents with their counts and version check."""
    out: list[str] = []
    shown = [d for d in result.documents if d.status != "unchanged" or d.version is not None]
    if shown:
        out += [
            "| document | status | version | weakening | unknown | strengthening | neutral | version check |",
            "|---|---|---|---:|---:|---:|---:|---|",
        ]
        for d in shown:
            dc = d.counts()
            check = "-" if d.version is None else (
                "ok" if d.version.severity == "ok"
                else f"**{d.version.severity}**: {d.version.message}"
            )
            out.append(
                f"| {d.kind} {_code(d.name)} | {d.status} | {_version_text(d).replace('->', '→')} "
                f"| {dc[Classification.WEAKENING]} | {dc[Classification.UNKNOWN]} "
                f"| {dc[Classification.STRENGTHENING]} | {dc[Classification.NEUTRAL]} "
                f"| {check.replace('|', chr(92) + '|')} |"
            )
        out.append("")
    else:
        out += ["No semantic changes.", ""]
    return out


def _markdown_changes(result: BundleDiff) -> list[str]:
    """One section per classification; neutral changes folded."""
    out: list[str] = []
    for cls in Classification:
        group = [c for c in result.changes if c.classification == cls]
        if not group:
            continue
        body = []
        for c in group:
            values = ""
            if c.old is not None or c.new is not None:
                values = f": {_code(c.old)} → {_code(c.new)}"
            where = f" ({_code(c.location)})" if c.location else ""
            body.append(f"- **{c.kind} {_code(c.document)}** {c.what}{values} — {c.reason}{where}")
        if cls == Classification.NEUTRAL:
            out += [f"<details><summary>{_HEADINGS[cls]} ({len(group)})</summary>", "", *body,
                    "", "</details>", ""]
        else:
            out += [f"#### {_HEADINGS[cls]} ({len(group)})", "", *body, ""]
    return out


def _markdown_impact(im: Impact) -> list[str]:
    """The impact counts, and the first MARKDOWN_IMPACT_ROWS changed items folded."""
    out = [
        f"#### Impact on {_code(im.snapshot)} at {format_timestamp(im.as_of)}",
        "",
        "| " + " | ".join(_DIRECTION_LABELS[k.value] for k in im.counts) + " |",
        "|" + "---:|" * len(im.counts),
        "| " + " | ".join(str(n) for n in im.counts.values()) + " |",
        "",
    ]
    if im.entries:
        rows = im.entries[:MARKDOWN_IMPACT_ROWS]
        more = len(im.entries) - len(rows)
        out += [
            f"<details><summary>Changed items ({len(im.entries)})</summary>",
            "",
            "| direction | policy | host | finding / check | verdict | deadline |",
            "|---|---|---|---|---|---|",
        ]
        out += [
            f"| {_DIRECTION_LABELS[e.direction.value]} | {_code(e.policy)} | {_code(e.host)} "
            f"| {_code(e.subject)} | {e.old_verdict or '-'} → {e.new_verdict or '-'} "
            f"| {_ts(e.old_deadline)} → {_ts(e.new_deadline)} |"
            for e in rows
        ]
        if more:
            out.append(f"| … {more} more (see `--format json`) | | | | | |")
        out += ["", "</details>", ""]
    return out
