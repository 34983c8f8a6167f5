"""Views of an evaluation shared by the human and machine reports (no formatting here).

Every function is a pure function of the evaluation and returns its rows sorted, so the
reports built on them are deterministic.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from patchpolicy.model.common import format_timestamp
from patchpolicy.model.evaluation import Evaluation
from patchpolicy.model.results import (
    OPEN_VERDICTS,
    VERDICT_ORDER,
    Bucket,
    CheckVerdict,
    ControlReport,
    ControlStatus,
    HostCheck,
    Item,
    Verdict,
)

if TYPE_CHECKING:
    from patchpolicy.render.interface import RenderContext

#: Every verdict of an item that still needs a fix (errors cannot be judged: fail closed).
NOT_REMEDIATED = OPEN_VERDICTS | {Verdict.EXCEPTED, Verdict.ERROR}
BUCKET_ORDER = (Bucket.FAIL, Bucket.WARN, Bucket.WAIVED, Bucket.PASS)


def ts(dt: datetime | None) -> str:
    """RFC 3339 UTC text, ``-`` for none."""
    return format_timestamp(dt) if dt is not None else "-"


def day(dt: datetime | None) -> str:
    """The UTC date of an instant, ``-`` for none."""
    return format_timestamp(dt)[:10] if dt is not None else "-"


def stable_hash(*parts: str) -> str:
    """SHA-256 hex of the parts, NUL-separated (no two part lists collide)."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 policy``, ``2 policies``, ``0 hosts``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def item_ref(item: Item) -> str:
    """``policy/host/finding``: the reference control roll-ups use."""
    return f"{item.policy}/{item.host}/{item.finding}"


def check_ref(check: HostCheck) -> str:
    """``policy/host#check``: the reference control roll-ups use."""
    return f"{check.policy}/{check.host}#{check.check}"


def failing_checks(ev: Evaluation) -> list[HostCheck]:
    """Host checks that are not ``ok``, by policy, host, check."""
    return [c for c in ev.checks if c.verdict != CheckVerdict.OK]


def control_label(c: ControlReport) -> str:
    """``PCI-DSS 4.0.1 6.3.3``."""
    return f"{c.framework} {c.framework_version} {c.control}"


def control_state(c: ControlReport) -> str:
    """``satisfied`` or ``not satisfied, 3 failing``."""
    if c.status == ControlStatus.SATISFIED:
        return "satisfied"
    if c.status == ControlStatus.NOT_ASSESSED:
        return "NOT ASSESSED: no host in scope"
    return f"not satisfied, {c.failing_total} failing"


def failing_checks_too(c: ControlReport, failing_items: int) -> str:
    """What else fails a control besides its items: host checks (listed under Host hygiene)."""
    n = c.failing_total - failing_items
    return f" (and {count(n, 'failing host check')}, under Host hygiene)" if n > 0 else ""


def ran_by(ctx: RenderContext) -> str:
    """``; run: https://ci/run/1; policies at git commit 0123abc`` (empty when neither
    is known): who or what ran the evaluation, from which policies."""
    o = ctx.options
    return (f"; run: {o.run_by}" if o.run_by else "") + (
        f"; policies at git commit {o.policy_commit}" if o.policy_commit else "")


VALUE: dict[Any, str] = {m: m.value for enum in (Verdict, Bucket) for m in enum}
"""A verdict's or bucket's value by lookup, not the enum's property: renderers' keys take
it once per item (millions of property calls at fleet scale)."""


def result_word(failing: int) -> str:
    return "FAIL" if failing else "PASS"


@dataclass(frozen=True)
class AgeBin:
    """One bar of the ageing chart: open findings whose days to deadline fall in [lo, hi]."""

    label: str
    lo: int | None
    hi: int | None
    overdue: bool
    count: int = 0


# Days from as-of to the deadline (negative: past it). Inclusive bounds; None is open.
AGE_BINS: tuple[tuple[str, int | None, int | None], ...] = (
    ("> 90 days overdue", None, -91),
    ("31-90 days overdue", -90, -31),
    ("8-30 days overdue", -30, -8),
    ("1-7 days overdue", -7, -1),
    ("due in 0-7 days", 0, 7),
    ("due in 8-30 days", 8, 30),
    ("due in 31-90 days", 31, 90),
    ("due in > 90 days", 91, None),
)


_BIN_LOWS = [lo for _, lo, _ in AGE_BINS[1:] if lo is not None]
"""The lower bounds after the first bin: the bins are consecutive and cover every int."""
assert len(_BIN_LOWS) == len(AGE_BINS) - 1


def age_bin(days_left: int) -> int:
    """The index in ``AGE_BINS`` of the bin holding ``days_left`` (the bins cover every int)."""
    return bisect.bisect_right(_BIN_LOWS, days_left)


def age_bins(counts: list[int]) -> list[AgeBin]:
    """The bins of ``AGE_BINS`` with these counts: every bin, empty ones too, so the
    chart's axis does not move between runs."""
    return [AgeBin(label, lo, hi, overdue=hi is not None and hi < 0, count=n)
            for (label, lo, hi), n in zip(AGE_BINS, counts, strict=True)]


def verdict_rows(ev: Evaluation) -> list[tuple[str, str, int, dict[str, int]]]:
    """(verdict, bucket, total, per-policy counts) for every verdict that occurred."""
    from patchpolicy.model.results import BUCKET_OF

    rows = []
    for v in sorted(Verdict, key=lambda v: VERDICT_ORDER[v]):
        total = ev.tally.by_verdict.get(v, 0)
        if not total:
            continue
        per = {p: int(c.get(v, 0)) for p, c in sorted(ev.tally.by_policy.items())}
        rows.append((v.value, BUCKET_OF[v].value, int(total), per))
    return rows


def days_text(item: Item) -> str:
    """``12d overdue``, ``3d left`` or ``-``."""
    if item.days_left is None or item.verdict not in NOT_REMEDIATED:
        return "-"
    if item.days_left < 0:
        return f"{-item.days_left}d overdue"
    return f"{item.days_left}d left"
