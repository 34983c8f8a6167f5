"""Host hygiene checks: is the host's last scan fresh, is a pending reboot overdue.

Each check gives one (check, verdict, detail); the detail states the numbers precisely
enough to support the verdict (see :func:`patchpolicy.clock.exceeds`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple

from patchpolicy.clock import age_text, exceeds
from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import HostRecord
from patchpolicy.model.policy import Hygiene
from patchpolicy.model.results import CheckVerdict

__all__ = ["CheckOutcome", "host_checks"]


class CheckOutcome(NamedTuple):
    """One check's verdict, its detail, and the instants it rests on."""

    check: str
    verdict: CheckVerdict
    detail: str
    observed_at: datetime | None = None
    """The host's last scan (scan_freshness), or since when a reboot is pending (reboot)."""
    due: datetime | None = None
    """When the check fails or failed: ``observed_at`` plus the policy's limit."""


def host_checks(hyg: Hygiene, host: HostRecord, as_of: datetime) -> Iterator[CheckOutcome]:
    """The hygiene checks ``hyg`` asks for, judged for ``host`` at ``as_of``."""
    if hyg.max_scan_age is not None:
        limit = hyg.max_scan_age
        last = host.last_scan
        if last is None:
            yield CheckOutcome("scan_freshness", CheckVerdict.NEVER_SCANNED, "host has no last_scan")
        else:
            age = as_of - last
            when = format_timestamp(last)
            if age > limit:
                age_s, limit_s = exceeds(age, limit)
                yield CheckOutcome("scan_freshness", CheckVerdict.SCAN_STALE,
                                   f"last scan {when} is {age_s} old, limit {limit_s}", last, last + limit)
            else:
                yield CheckOutcome("scan_freshness", CheckVerdict.OK,
                                   f"last scan {when} ({age_text(age)} old, limit {age_text(limit)})",
                                   last, last + limit)
    if hyg.max_reboot_pending is not None:
        limit = hyg.max_reboot_pending
        since = host.reboot_pending_since
        if since is None:
            yield CheckOutcome("reboot", CheckVerdict.OK, "no reboot pending")
        elif as_of - since > limit:
            age_s, limit_s = exceeds(as_of - since, limit)
            yield CheckOutcome("reboot", CheckVerdict.REBOOT_OVERDUE,
                               f"reboot pending since {format_timestamp(since)} ({age_s}), limit {limit_s}",
                               since, since + limit)
        else:
            yield CheckOutcome("reboot", CheckVerdict.OK,
                               f"reboot pending since {format_timestamp(since)}, within {age_text(limit)}",
                               since, since + limit)
