"""Make an evidence bundle, and verify one: nothing edited, and (given the inputs) reproducible.

``build_bundle`` is the one way a bundle's bytes are made: ``evaluate`` writes what it
returns and ``verify`` compares against it, so the two cannot drift. ``verify_bundle``
re-hashes a bundle directory against its ``SHA256SUMS`` (a missing, extra or changed file
is a difference); ``reproduce_bundle`` re-evaluates the inputs at the as-of recorded in
``evidence.json`` and compares every file byte for byte.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from patchpolicy.errors import InputError
from patchpolicy.evaluator import Evaluation
from patchpolicy.model.common import parse_timestamp
from patchpolicy.model.gate import Gate
from patchpolicy.render.bundle import SUMS_FILE, render_all

#: Remediation tasks in a bundle cover windows starting before as-of + this.
PLAN_HORIZON = timedelta(days=90)

_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class BundleError(InputError):
    """A bundle directory that cannot be verified at all (not a difference: bad input)."""


@dataclass
class Verification:
    """What ``verify`` found; ``ok`` when there is no difference of any kind."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    not_reproduced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.extra or self.changed or self.not_reproduced)

    def lines(self) -> list[str]:
        """One line per difference, then the notes."""
        out = [f"missing: {p}" for p in self.missing]
        out += [f"extra (not in {SUMS_FILE}): {p}" for p in self.extra]
        out += [f"changed (sha256 differs): {p}" for p in self.changed]
        out += [f"not reproduced (differs from a re-evaluation): {p}" for p in self.not_reproduced]
        return out + self.notes


def build_bundle(
    policy_paths: Sequence[str | Path],
    snapshot_path: str | Path,
    *,
    as_of: datetime | None = None,
    gate: Gate | None = None,
) -> tuple[Evaluation, dict[str, bytes]]:
    """Evaluate, plan, and render every bundle file plus ``SHA256SUMS`` (nothing written)."""
    from patchpolicy.api import evaluate_files
    from patchpolicy.planner import plan
    from patchpolicy.render import bundle_renderers
    from patchpolicy.render.interface import RenderContext
    from patchpolicy.snapshot import open_snapshot

    # One read of the snapshot: the planner sees the records that were evaluated.
    snapshot = open_snapshot(snapshot_path, retain_hosts=True)
    ev, inputs = evaluate_files(policy_paths, snapshot, as_of=as_of)
    tasks = plan(ev.bundle, ev, snapshot.hosts(), as_of=ev.as_of,
                 horizon=PLAN_HORIZON)
    result = (gate or Gate()).judge(ev)
    return ev, render_all(RenderContext(ev, inputs, tasks, result), bundle_renderers())


def read_sums(bundle_dir: Path) -> dict[str, str]:
    """``SHA256SUMS`` as path -> digest; ``BundleError`` when absent or malformed."""
    path = bundle_dir / SUMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise BundleError(f"{path}: no {SUMS_FILE}: not an evidence bundle") from e
    except (OSError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: cannot read: {e}") from e
    sums: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _SUM_LINE.match(line)
        if m is None:
            raise BundleError(f"{path}:{n}: not a sha256sum line")
        name = m.group(2)
        if name in sums or name.startswith("/") or ".." in Path(name).parts:
            raise BundleError(f"{path}:{n}: bad or duplicate path {name!r}")
        sums[name] = m.group(1)
    return sums


def bundle_files(bundle_dir: Path) -> dict[str, bytes]:
    """Every regular file under ``bundle_dir`` by its POSIX relative path."""
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: not a directory")
    try:
        return {
            p.relative_to(bundle_dir).as_posix(): p.read_bytes()
            for p in sorted(bundle_dir.rglob("*"))
            if p.is_file() or p.is_symlink()
        }
    except OSError as e:
        raise BundleError(f"{bundle_dir}: cannot read: {e}") from e


def verify_bundle(bundle_dir: str | Path) -> Verification:
    """Re-hash every file against ``SHA256SUMS``; the sums file itself is the root of trust
    here (compare it, or ``evidence.json``'s input digests, with a copy kept elsewhere)."""
    d = Path(bundle_dir)
    files = bundle_files(d)
    sums = read_sums(d)
    v = Verification()
    for name, digest in sorted(sums.items()):
        data = files.get(name)
        if data is None:
            v.missing.append(name)
            continue
        v.checked += 1
        if hashlib.sha256(data).hexdigest() != digest:
            v.changed.append(name)
    v.extra = sorted(n for n in files if n not in sums and n != SUMS_FILE)
    return v


class _GateHead(msgspec.Struct):
    fail_on: list[str] = []
    allow_empty_scope: bool = False


class _SummaryHead(msgspec.Struct):
    gate: _GateHead = msgspec.field(default_factory=_GateHead)


class _Head(msgspec.Struct):
    as_of: str
    summary: _SummaryHead = msgspec.field(default_factory=_SummaryHead)


def _recorded(bundle_dir: Path) -> tuple[datetime, Gate]:
    """The as-of instant and the gate configuration ``evidence.json`` records."""
    path = bundle_dir / "evidence.json"
    try:
        head = msgspec.json.decode(path.read_bytes(), type=_Head)
        g = head.summary.gate
        return parse_timestamp(head.as_of), Gate.of(tuple(g.fail_on), allow_empty_scope=g.allow_empty_scope)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError, ValueError) as e:
        raise BundleError(f"{path}: cannot read the recorded as-of and gate: {e}") from e


def recorded_as_of(bundle_dir: Path) -> datetime:
    """The as-of instant ``evidence.json`` records."""
    return _recorded(bundle_dir)[0]


def reproduce_bundle(
    bundle_dir: str | Path,
    policy_paths: Sequence[str | Path],
    snapshot_path: str | Path,
) -> Verification:
    """Re-hash (``verify_bundle``), then re-evaluate the inputs at the recorded as-of and
    compare every file byte for byte. Paths are recorded as given to ``evaluate``: pass
    the same paths (from the same directory) for ``evidence.json`` to match."""
    d = Path(bundle_dir)
    v = verify_bundle(d)
    as_of, gate = _recorded(d)
    _, fresh = build_bundle(policy_paths, snapshot_path, as_of=as_of, gate=gate)
    on_disk = bundle_files(d)
    v.not_reproduced = sorted(
        name for name in set(fresh) | set(on_disk) if fresh.get(name) != on_disk.get(name)
    )
    if v.not_reproduced:
        v.notes.append(
            "note: inputs and paths must be those recorded in evidence.json (same digests, "
            "same paths relative to the same working directory)"
        )
    return v
