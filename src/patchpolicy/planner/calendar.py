"""What the planner knows before it sees a host: the bundle's windows expanded into
occurrences over the horizon (each with the freezes overlapping it), its freezes, rings and
controls. Built the same way in every process from the bundle, as-of and horizon."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from patchpolicy.selection import BundleSelectors
from patchpolicy.windows import Occurrence, freeze_intervals, iter_occurrences

if TYPE_CHECKING:
    from patchpolicy.model.bundle import Bundle, CompiledPolicy, CompiledRing

__all__ = ["Calendar", "Slot"]


@dataclass(frozen=True)
class Slot:
    """A window occurrence with where it came from and the freezes that overlap it."""

    occurrence: Occurrence
    policy: str
    window: str
    freezes: tuple[int, ...]

    @property
    def key(self) -> tuple[datetime, datetime, str, str]:
        return (self.occurrence.start, self.occurrence.end, self.policy, self.window)


class Calendar(BundleSelectors):
    """The bundle's windows, freezes and rings for one plan (as-of, horizon)."""

    def __init__(self, bundle: Bundle, as_of: datetime, horizon: timedelta) -> None:
        super().__init__(bundle)
        self.bundle = bundle
        self.as_of = as_of
        self.end = as_of + horizon
        #: Policy name -> the controls it evidences, as ``PCI-DSS 4.0.1 6.3.3``.
        self.controls: dict[str, tuple[str, ...]] = {
            p.name: tuple(f"{c.framework} {c.version} {c.id}" for c in p.policy.metadata.controls)
            for p in bundle.policies
        }
        self.rings: list[tuple[int, int, CompiledPolicy, CompiledRing]] = [
            (pi, ri, p, r)
            for pi, p in enumerate(bundle.policies)
            for ri, r in enumerate(p.rings)
        ]
        longest = max((w.window.duration for _, w in self.windows), default=timedelta(0))
        intervals = [
            freeze_intervals(f.freeze, as_of, self.end + longest) for _, f in self.freezes
        ]
        #: Per window (bundle order), its occurrences within the horizon.
        self.slots: list[list[Slot]] = []
        for p, w in self.windows:
            slots = []
            for occ in iter_occurrences(w.window, as_of, self.end):
                overlapping = tuple(
                    i
                    for i, ivs in enumerate(intervals)
                    if any(iv.start < occ.end and occ.start < iv.end for iv in ivs)
                )
                slots.append(Slot(occ, p.name, w.window.id, overlapping))
            self.slots.append(slots)

    def host_slots(self, windows: tuple[int, ...]) -> list[Slot]:
        """The occurrences of these windows, sorted."""
        slots = [s for i in windows for s in self.slots[i]]
        slots.sort(key=lambda s: s.key)
        return slots
