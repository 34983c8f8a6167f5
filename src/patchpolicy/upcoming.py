"""The next occurrences of a bundle's maintenance windows, with the freezes overlapping each:
what the ``windows`` command lists (and writes as iCalendar with ``--ics``).

Selectors are read fail closed as in ``planner``: a window selector that fails does not
select the host, a freeze selector that fails binds it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from patchpolicy.model.common import format_timestamp
from patchpolicy.model.fleet import HostRecord
from patchpolicy.model.plan import FreezeNote, UpcomingWindow
from patchpolicy.selection import BundleSelectors
from patchpolicy.windows import freeze_intervals, iter_occurrences

if TYPE_CHECKING:
    from patchpolicy.model.bundle import Bundle

__all__ = ["format_upcoming", "upcoming_windows"]


def upcoming_windows(
    bundle: Bundle, after: datetime, count: int, host: HostRecord | None = None
) -> tuple[list[UpcomingWindow], list[str]]:
    """The next ``count`` occurrences of each window (at or after ``after``), sorted.

    With ``host``, only windows that select it, and each freeze says whether it binds the
    host (fail closed as in ``plan``). Returns the occurrences and the CEL problems met.
    """
    if after.tzinfo is None:
        raise ValueError("after must be an aware datetime")
    selectors = BundleSelectors(bundle)
    out: list[UpcomingWindow] = []
    for p, w in selectors.windows:
        what = f'window "{w.window.id}" (policy "{p.name}")'
        if host is not None and not selectors.selects(what, w.hosts, host, False):
            continue
        for occ in itertools.islice(iter_occurrences(w.window, after), count):
            notes = []
            for fp, fz in selectors.freezes:
                if not freeze_intervals(fz.freeze, occ.start, occ.end):
                    continue
                binds = None
                if host is not None:
                    binds = selectors.selects(
                        f'freeze "{fz.freeze.id}" (policy "{fp.name}")', fz.hosts, host, True
                    )
                # Without a host, a freeze whose selector is the window's freezes every host
                # of the window; any other selector is named, never shown as a freeze of all.
                selector = None if fz.freeze.hosts in (None, w.window.hosts) else fz.freeze.hosts
                notes.append(FreezeNote(fz.freeze.id, fp.name, fz.freeze.allow, binds, selector))
            out.append(UpcomingWindow(p.name, w.window.id, w.window.hosts, occ, tuple(notes)))
    out.sort(key=lambda u: (u.occurrence.start, u.policy, u.window))
    return out, sorted(selectors.problems)


def format_upcoming(upcoming: Sequence[UpcomingWindow]) -> str:
    """Terminal text: one line per occurrence, UTC and local, with its freezes."""
    from patchpolicy.render.sanitize import text as _t

    lines = []
    for u in upcoming:
        occ = u.occurrence
        local = f"{occ.local_start:%Y-%m-%d %H:%M %Z} .. {occ.local_end:%Y-%m-%d %H:%M %Z}"
        line = (
            f"{format_timestamp(occ.start)} .. {format_timestamp(occ.end)}  "
            f"{_t(u.policy)}/{_t(u.window)}  ({_t(local)}, {_t(occ.timezone)})"
        )
        for f in u.freezes:
            allowed = f"allowed: {f.allow}" if f.allow else "nothing allowed"
            if f.binds is False:
                line += f"  [freeze {_t(f.freeze)}: not this host]"
            elif f.applies:
                line += f"  [FROZEN {_t(f.freeze)}: {_t(allowed)}]"
            else:
                line += f"  [frozen for hosts matching {_t(f.hosts)} ({_t(f.freeze)}): {_t(allowed)}]"
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")
