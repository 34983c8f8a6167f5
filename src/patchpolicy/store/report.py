"""The files of a period report (``patchpolicy report``): metrics.json (the whole content,
and the list of files), metrics.csv (one metric value per row), statements.md (one
statement per control, every late item listed), report.md, report.html (self-contained:
inline CSS and SVG, no script, a CSP that forbids every fetch) and SHA256SUMS, so that
``patchpolicy verify`` checks the directory like an evidence bundle."""

from __future__ import annotations

import csv
import functools
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from patchpolicy.outdir import FileBody
from patchpolicy.render import sanitize
from patchpolicy.render.bundle import SUMS_FILE, sha256sums, write_bundle
from patchpolicy.verify import PERIOD_REPORT_FILE as REPORT_FILE

FILES = (SUMS_FILE, REPORT_FILE, "metrics.csv", "report.html", "report.md", "statements.md")
CSP = "default-src 'none'; style-src 'unsafe-inline'"
SEVERITIES = ("critical", "high", "medium", "low", "none", "unknown")
COLOURS = ("#b3261e", "#e8710a", "#f9ab00", "#1e8e3e", "#5f6368", "#5b5fc7", "#12b5cb",
           "#9334e6")


#: HTML escapes memoised: a year's late items repeat the same hosts, severities and
#: times tens of thousands of times (the escape is a pure function).
_html_cell = functools.lru_cache(maxsize=1 << 16)(sanitize.html)


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def metrics_csv(r: dict[str, Any]) -> bytes:
    """Long form: bucket, policy, dimension, key, metric, value (formula cells neutralised)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["bucket", "policy", "dimension", "key", "metric", "value"])
    rows: list[list[str]] = []
    rows.extend([x["bucket"], x["policy"], x["dimension"], x["key"], f"sla_{m}", _num(x[m])]
                for x in r["sla"]
                for m in ("due", "met", "late", "waived", "pending", "attainment_pct"))
    rows.extend([x["bucket"], x["policy"], x["dimension"], x["key"], f"mttr_{m}", _num(x[m])]
                for x in r["mttr"] for m in ("fixed", "mean_days", "median_days", "p90_days"))
    for x in r["backlog"]:
        rows.append([x["as_of"], x["policy"], "evaluation", "", "backlog_open", _num(x["open"])])
        rows.append([x["as_of"], x["policy"], "evaluation", "", "backlog_overdue", _num(x["overdue"])])
    for x in r["ageing"]:
        for k, v in x.items():
            if k not in ("bucket", "policy", "as_of"):
                rows.append([x["bucket"], x["policy"], "age", k, "open_items", _num(v)])
    for x in r["exceptions"]:
        rows.append([x["bucket"], x["policy"], "", "", "exceptions_active", _num(len(x["active"]))])
        rows.append([x["bucket"], x["policy"], "", "", "exceptions_expired_while_open",
                     _num(len(x["expired_while_open"]))])
    for x in r["scan_cadence"]:
        rows.append([x["bucket"], x["policy"], "", "", "scan_hosts", _num(x["hosts"])])
        rows.append([x["bucket"], x["policy"], "", "", "scan_missed", _num(x["missed"])])
        rows.extend([x["bucket"], x["policy"], "host", h, "scan_missed_host", "1"]
                    for h in x["missed_hosts"])
    for row in rows:
        w.writerow([sanitize.csv_cell(c) for c in row])
    return buf.getvalue().encode()


@functools.lru_cache(maxsize=1 << 16, typed=True)
def _md_value(c: Any) -> str:
    """One markdown table cell (memoised by value and type: 1 and 1.0 print apart)."""
    return sanitize.markdown(_num(c)) if c is not None and c != "" else "-"


@functools.lru_cache(maxsize=1 << 16, typed=True)
def _html_value(c: Any) -> str:
    """One HTML table cell, ``<td>`` included (memoised like ``_md_value``)."""
    return f"<td>{_html_cell(_num(c)) if c not in (None, '') else '-'}</td>"


def _md_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join([_md_value(c) for c in row]) + " |" for row in rows]
    return out


def _period_line(r: dict[str, Any]) -> str:
    p = r["period"]
    return (f"from {p['from']} to {p['to']} (exclusive), by {p['by']}"
            + (f", policy {p['policy']}" if p["policy"] else "")
            + f"; {len(r['evaluations'])} evaluations")


def statements_md(r: dict[str, Any]) -> bytes:
    out = ["# Control statements", "", sanitize.markdown(_period_line(r)), ""]
    for c in r["controls"]:
        out += [f"## {sanitize.markdown(c['framework'])} {sanitize.markdown(c['framework_version'])} "
                f"{sanitize.markdown(c['control'])}: {sanitize.markdown(c['title'])} "
                f"(policy {sanitize.markdown(c['policy'])})", "", sanitize.markdown(c["statement"]), ""]
        late = c["items"]["late"]
        if late:
            out += ["Late items (deadline in the period, not fixed by it):", ""]
            out += _md_table(["host", "finding", "severity", "deadline", "fixed at"],
                             [[x["host"], x["finding"], x["severity"], x["deadline"],
                               x["fixed_at"] or "not fixed"] for x in late])
            out.append("")
        sc = c.get("scans")
        if sc and sc["missed_hosts"]:
            out += ["Hosts whose scan cadence missed max_scan_age:", ""]
            out += _md_table(["host", "largest gap (days)"],
                             [[x["host"], x["largest_gap_days"] if x["largest_gap_days"] is not None
                               else "never scanned"] for x in sc["per_host"] if x["missed"]])
            out.append("")
    return ("\n".join(out).rstrip("\n") + "\n").encode()


def _sev_rows(r: dict[str, Any], table: str, bucket: str) -> list[dict[str, Any]]:
    return [x for x in r[table] if x["bucket"] == bucket and x["dimension"] == "severity"]


def report_md(r: dict[str, Any]) -> bytes:
    out = ["# Period report", "", sanitize.markdown(_period_line(r)), ""]
    out += ["## SLA attainment by severity", ""]
    out += _md_table(["bucket", "policy", "severity", "due", "met", "late", "waived", "pending",
                      "attainment %"],
                     [[x["bucket"], x["policy"], x["key"], x["due"], x["met"], x["late"],
                       x["waived"], x["pending"], x["attainment_pct"]]
                      for x in r["sla"] if x["dimension"] == "severity"])
    out += ["", "## Time to remediate (days) by severity", ""]
    out += _md_table(["bucket", "policy", "severity", "fixed", "mean", "median", "p90"],
                     [[x["bucket"], x["policy"], x["key"], x["fixed"], x["mean_days"],
                       x["median_days"], x["p90_days"]]
                      for x in r["mttr"] if x["dimension"] == "severity"])
    out += ["", "## Open backlog at each evaluation", ""]
    out += _md_table(["as-of", "policy", "open", "overdue"],
                     [[x["as_of"], x["policy"], x["open"], x["overdue"]] for x in r["backlog"]])
    out += ["", "## Ageing of the open backlog (at each bucket's last evaluation)", ""]
    if r["ageing"]:
        keys = [k for k in r["ageing"][0] if k not in ("bucket", "policy", "as_of")]
        out += _md_table(["bucket", "policy", "as-of", *keys],
                         [[x["bucket"], x["policy"], x["as_of"], *(x[k] for k in keys)]
                          for x in r["ageing"]])
    out += ["", "## Exceptions", ""]
    out += _md_table(["bucket", "policy", "active", "expired while open"],
                     [[x["bucket"], x["policy"], ", ".join(x["active"]) or "none",
                       ", ".join(x["expired_while_open"]) or "none"] for x in r["exceptions"]])
    out += ["", "## Scan cadence", ""]
    out += _md_table(["bucket", "policy", "max scan age (days)", "hosts", "missed", "missed hosts"],
                     [[x["bucket"], x["policy"], x["max_scan_age_days"], x["hosts"], x["missed"],
                       ", ".join(x["missed_hosts"]) or "none"] for x in r["scan_cadence"]])
    out += ["", "## Control statements", ""]
    out += [f"- {sanitize.markdown(c['statement'])}" for c in r["controls"]]
    out += ["", "Every late item is listed in statements.md."]
    return ("\n".join(out) + "\n").encode()


# ------------------------------------------------------------------ SVG charts

W, H, PAD_L, PAD_B, PAD_T = 760, 240, 48, 56, 16


def _axis(ymax: float, unit: str) -> list[str]:
    e = sanitize.html
    out = [f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" stroke="#5f6368"/>',
           f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - 8}" y2="{H - PAD_B}" stroke="#5f6368"/>']
    for k in range(5):
        v = ymax * k / 4
        y = H - PAD_B - (H - PAD_B - PAD_T) * k / 4
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
                   f"{e(f'{v:.0f}' if ymax >= 8 else f'{v:.1f}')}{e(unit)}</text>")
    return out


def _legend(names: Sequence[str]) -> list[str]:
    e = sanitize.html
    return [f'<rect x="{PAD_L + 110 * i}" y="{H - 14}" width="10" height="10" '
            f'fill="{COLOURS[i % len(COLOURS)]}"/><text x="{PAD_L + 110 * i + 14}" y="{H - 5}" '
            f'font-size="11">{e(n)}</text>' for i, n in enumerate(names)]


def line_chart(title: str, labels: Sequence[str], series: dict[str, list[float]], unit: str = "") -> str:
    """One polyline per series over ``labels`` (x: the labels' order)."""
    e = sanitize.html
    ymax = max([1.0, *(v for vs in series.values() for v in vs)])
    n = max(1, len(labels) - 1)
    x = [PAD_L + (W - 8 - PAD_L) * i / n for i in range(len(labels))]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {W} {H}" '
           f'width="{W}" height="{H}"><title>{e(title)}</title>', *_axis(ymax, unit)]
    for i, (name, vs) in enumerate(sorted(series.items())):
        pts = " ".join(f"{x[j]:.1f},{H - PAD_B - (H - PAD_B - PAD_T) * v / ymax:.1f}"
                       for j, v in enumerate(vs))
        out.append(f'<polyline fill="none" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="2" '
                   f'points="{pts}"><title>{e(name)}</title></polyline>')
    if labels:
        out.append(f'<text x="{PAD_L}" y="{H - PAD_B + 14}" font-size="10">{e(labels[0])}</text>')
        out.append(f'<text x="{W - 8}" y="{H - PAD_B + 14}" text-anchor="end" font-size="10">'
                   f"{e(labels[-1])}</text>")
    out += _legend(sorted(series))
    return "".join(out) + "</svg>"


def bar_chart(title: str, groups: Sequence[str], series: dict[str, list[float | None]],
              unit: str = "", ymax: float | None = None) -> str:
    """Grouped bars: one group per ``groups`` entry, one bar per series (None: no bar)."""
    e = sanitize.html
    names = list(series)
    top = ymax or max([1.0, *(v for vs in series.values() for v in vs if v is not None)])
    gw = (W - 8 - PAD_L) / max(1, len(groups))
    bw = max(2.0, gw * 0.8 / max(1, len(names)))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {W} {H}" '
           f'width="{W}" height="{H}"><title>{e(title)}</title>', *_axis(top, unit)]
    for g, label in enumerate(groups):
        gx = PAD_L + gw * g + gw * 0.1
        for s, name in enumerate(names):
            v = series[name][g]
            if v is None:
                continue
            h = (H - PAD_B - PAD_T) * v / top
            out.append(f'<rect x="{gx + bw * s:.1f}" y="{H - PAD_B - h:.1f}" width="{bw:.1f}" '
                       f'height="{h:.1f}" fill="{COLOURS[s % len(COLOURS)]}"><title>'
                       f"{e(label)} {e(name)}: {e(_num(v))}{e(unit)}</title></rect>")
        out.append(f'<text x="{gx + gw * 0.4:.1f}" y="{H - PAD_B + 14}" text-anchor="middle" '
                   f'font-size="10">{e(label)}</text>')
    out += _legend(names)
    return "".join(out) + "</svg>"


def _sev_order(keys: set[str]) -> list[str]:
    return [s for s in SEVERITIES if s in keys] + sorted(keys - set(SEVERITIES) - {"all"})


def charts(r: dict[str, Any]) -> list[tuple[str, str]]:
    """(heading, svg) of each chart."""
    out = []
    evals = sorted({x["as_of"] for x in r["backlog"]})
    overdue: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(evals))
    pos = {a: i for i, a in enumerate(evals)}
    for x in r["backlog"]:
        overdue[x["policy"]][pos[x["as_of"]]] = float(x["overdue"])
    out.append(("Overdue backlog over time",
                line_chart("overdue items at each evaluation", [a[:10] for a in evals], dict(overdue))))
    labels = [b["label"] for b in r["buckets"]]
    sla = [x for x in r["sla"] if x["dimension"] == "severity" and x["bucket"] != "period"]
    sevs = _sev_order({x["key"] for x in sla})
    att: dict[str, list[float | None]] = {s: [None] * len(labels) for s in sevs}
    bpos = {b: i for i, b in enumerate(labels)}
    for x in sla:
        if x["key"] in att and x["attainment_pct"] is not None:
            # Several policies: the worst attainment shows (a bar never hides a miss).
            cur = att[x["key"]][bpos[x["bucket"]]]
            att[x["key"]][bpos[x["bucket"]]] = (x["attainment_pct"] if cur is None
                                                else min(cur, x["attainment_pct"]))
    out.append((f"SLA attainment per {r['period']['by']} by severity",
                bar_chart("share fixed by the deadline", labels, att, "%", 100.0)))
    mt = [x for x in r["mttr"] if x["dimension"] == "severity" and x["bucket"] == "period"]
    pols = sorted({x["policy"] for x in mt})
    msev = _sev_order({x["key"] for x in mt})
    mser: dict[str, list[float | None]] = {p: [None] * len(msev) for p in pols}
    for x in mt:
        if x["key"] in msev:
            mser[x["policy"]][msev.index(x["key"])] = x["mean_days"]
    out.append(("Mean time to remediate by severity (days, whole period)",
                bar_chart("mean days from clock start to fix", msev, mser, "d")))
    miss: dict[str, list[float | None]] = {}
    for x in r["scan_cadence"]:
        miss.setdefault(x["policy"], [None] * len(labels))[bpos[x["bucket"]]] = float(x["missed"])
    out.append((f"Scan-cadence misses per {r['period']['by']} (hosts)",
                bar_chart("hosts whose largest scan gap exceeded max_scan_age", labels, miss)))
    return out


CSS = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1d1d1f; margin: 0 auto; max-width: 1100px;
       padding: 24px 32px 64px; }
h1 { font-size: 24px; } h2 { font-size: 18px; border-bottom: 2px solid #dadce0; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { border: 1px solid #dadce0; padding: 3px 8px; text-align: left; font-size: 13px; }
th { background: #f1f3f4; } .late { color: #b3261e; } p.lead { color: #5f6368; }
"""


def _html_table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    e = _html_cell
    return ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
            + "".join(["<tr>" + "".join([_html_value(c) for c in row]) + "</tr>" for row in rows])
            + "</table>")


def report_html(r: dict[str, Any]) -> bytes:
    e = sanitize.html
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">',
             "<title>patchpolicy period report</title>", f"<style>{CSS}</style></head><body>",
             "<h1>Period report</h1>", f'<p class="lead">{e(_period_line(r))}</p>']
    parts.append("<h2>Control statements</h2><ul>")
    parts += [f"<li>{e(c['statement'])}</li>" for c in r["controls"]]
    parts.append("</ul>")
    for heading, svg in charts(r):
        parts.append(f"<h2>{e(heading)}</h2>{svg}")
    parts.append("<h2>SLA attainment and time to remediate, whole period</h2>")
    mt = {(x["policy"], x["dimension"], x["key"]): x for x in r["mttr"] if x["bucket"] == "period"}
    parts.append(_html_table(
        ["policy", "severity", "due", "met", "late", "waived", "attainment %", "fixed",
         "MTTR mean (d)", "median (d)", "p90 (d)"],
        [[x["policy"], x["key"], x["due"], x["met"], x["late"], x["waived"], x["attainment_pct"],
          mt[(x["policy"], "severity", x["key"])]["fixed"],
          mt[(x["policy"], "severity", x["key"])]["mean_days"],
          mt[(x["policy"], "severity", x["key"])]["median_days"],
          mt[(x["policy"], "severity", x["key"])]["p90_days"]]
         for x in r["sla"] if x["bucket"] == "period" and x["dimension"] == "severity"]))
    for c in r["controls"]:
        late = c["items"]["late"]
        if late:
            parts.append(f"<h2>Late items: {e(c['framework'])} {e(c['control'])} "
                         f"({e(c['policy'])})</h2>")
            parts.append(_html_table(["host", "finding", "severity", "deadline", "fixed at"],
                                     [[x["host"], x["finding"], x["severity"], x["deadline"],
                                       x["fixed_at"] or "not fixed"] for x in late]))
    parts.append("<h2>Exceptions</h2>")
    parts.append(_html_table(["bucket", "policy", "active", "expired while open"],
                             [[x["bucket"], x["policy"], ", ".join(x["active"]) or "none",
                               ", ".join(x["expired_while_open"]) or "none"]
                              for x in r["exceptions"]]))
    parts.append("</body></html>\n")
    return "".join(parts).encode()


def report_files(r: dict[str, Any]) -> dict[str, FileBody]:
    """Every file of the report directory, SHA256SUMS included (nothing written)."""
    content = {**r, "files": sorted(FILES)}
    files: dict[str, FileBody] = {
        REPORT_FILE: orjson.dumps(content, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2) + b"\n",
        "metrics.csv": metrics_csv(r),
        "statements.md": statements_md(r),
        "report.md": report_md(r),
        "report.html": report_html(r),
    }
    files[SUMS_FILE] = sha256sums(files)
    return files


def write_report(out_dir: Path, r: dict[str, Any]) -> dict[str, FileBody]:
    files = report_files(r)
    write_bundle(out_dir, files)
    return files
