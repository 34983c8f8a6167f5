"""Verify an evidence bundle: complete, nothing edited, signed by the key given, and
(given the inputs) reproducible. The bundle is made by ``evidence_bundle.build_bundle``.

``verify_bundle`` checks completeness (every file ``evidence.json`` names as required is
present and a regular file; ``SHA256SUMS`` lists exactly the files present), re-hashes
every file against ``SHA256SUMS`` and, given a public key, checks ``attestation.intoto.jsonl``
(signature, every subject's digest, no unlisted file); ``reproduce_bundle`` re-evaluates
the inputs at the as-of recorded in ``evidence.json`` and compares every file byte for
byte, against the files ``build_bundle`` makes from them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from patchpolicy.attest import ATTESTATION_FILE, EVIDENCE_FILE, PublicKey, check_attestation
from patchpolicy.errors import InputError
from patchpolicy.evidence_bundle import Watch, build_bundle
from patchpolicy.model.common import parse_timestamp
from patchpolicy.model.gate import Gate
from patchpolicy.outdir import OUTPUT_MARKER, FileBody, Streamed, body_sha256
from patchpolicy.render.bundle import SUMS_FILE
from patchpolicy.render.interface import RenderOptions

if TYPE_CHECKING:
    from patchpolicy.api import Jobs, Snapshots

_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")

#: Files a bundle may hold that ``SHA256SUMS`` does not list: the attestation signs the
#: sums (it cannot be inside them), and the output marker is not evidence.
UNLISTED_OK = frozenset({ATTESTATION_FILE, OUTPUT_MARKER})
#: Required whatever ``evidence.json`` says: it names the rest.
ALWAYS_REQUIRED = frozenset({EVIDENCE_FILE, SUMS_FILE})
#: A period report (``patchpolicy report``) has no evidence.json: its ``metrics.json``
#: names its files instead, and is required with ``SHA256SUMS``.
PERIOD_REPORT_FILE = "metrics.json"
REPORT_REQUIRED = frozenset({PERIOD_REPORT_FILE, SUMS_FILE})


def _head_file(present: dict[str, str]) -> str:
    """The file that names the others: evidence.json, or metrics.json in a period report
    (a directory with metrics.json and no evidence.json)."""
    if EVIDENCE_FILE not in present and PERIOD_REPORT_FILE in present:
        return PERIOD_REPORT_FILE
    return EVIDENCE_FILE


class BundleError(InputError):
    """A bundle directory that cannot be verified at all (not a difference: bad input)."""


@dataclass
class Verification:
    """What ``verify`` found; ``ok`` when there is no difference of any kind."""

    checked: int = 0
    missing: list[str] = field(default_factory=list)
    not_regular: dict[str, str] = field(default_factory=dict)
    extra: list[str] = field(default_factory=list)
    not_required: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    attestation: list[str] = field(default_factory=list)
    not_reproduced: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: ``attestation.intoto.jsonl`` is present (checked only when a key is given).
    signed: bool = False
    #: The signature verified with the key given, and so did every subject.
    signature_verified: bool = False

    @property
    def ok(self) -> bool:
        return not (
            self.missing or self.not_regular or self.extra or self.not_required or self.changed
            or self.incomplete or self.attestation or self.not_reproduced
        )

    def lines(self) -> list[str]:
        """One line per difference (the attestation's first: it is the root of trust when
        checked), then the notes."""
        out = list(self.attestation)
        out += [f"missing: {p}" for p in self.missing]
        out += [f"not a regular file ({kind}): {p}" for p, kind in self.not_regular.items()]
        out += [f"extra (not in {SUMS_FILE}): {p}" for p in self.extra]
        out += [f"extra (not among the files {EVIDENCE_FILE} requires): {p}"
                for p in self.not_required]
        out += [f"changed (sha256 differs): {p}" for p in self.changed]
        out += self.incomplete
        out += [f"not reproduced (differs from a re-evaluation): {p}" for p in self.not_reproduced]
        return out + self.notes


def read_sums(bundle_dir: Path) -> tuple[dict[str, str], list[str]]:
    """``SHA256SUMS`` as path -> digest, and a problem per line that is not a sum line
    (an edited bundle: a difference, not bad input); ``BundleError`` when unreadable."""
    path = bundle_dir / SUMS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise BundleError(f"{path}: no {SUMS_FILE}: not an evidence bundle") from e
    except (OSError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: cannot read: {e}") from e
    sums: dict[str, str] = {}
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _SUM_LINE.match(line)
        if m is None:
            problems.append(f"malformed: {SUMS_FILE}:{n}: not a sha256sum line")
            continue
        name = m.group(2)
        if name in sums or name.startswith("/") or ".." in Path(name).parts:
            problems.append(f"malformed: {SUMS_FILE}:{n}: bad or duplicate path {name!r}")
            continue
        sums[name] = m.group(1)
    return sums, problems


def scan_bundle(bundle_dir: Path) -> dict[str, str]:
    """Every entry under ``bundle_dir`` (directories aside) by its POSIX relative path, as
    ``file``, ``symlink`` or ``special`` (FIFO, socket, device). Symlinks are not
    followed, and nothing is opened."""
    if not bundle_dir.is_dir():
        raise BundleError(f"{bundle_dir}: not a directory")
    found: dict[str, str] = {}

    def walk(d: Path, prefix: str) -> None:
        with os.scandir(d) as it:
            for entry in sorted(it, key=lambda e: e.name):
                name = prefix + entry.name
                if entry.is_symlink():
                    found[name] = "symlink"
                elif entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), name + "/")
                elif entry.is_file(follow_symlinks=False):
                    found[name] = "file"
                else:
                    found[name] = "special"

    try:
        walk(bundle_dir, "")
    except OSError as e:
        raise BundleError(f"{bundle_dir}: cannot read: {e.strerror or e}") from e
    return found


def _sha256(path: Path) -> str:
    """Streamed: a bundle file is never read into memory whole to be hashed."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as e:
        raise BundleError(f"{path}: cannot read: {e.strerror or e}") from e


_READ_WHOLE = 64 * 2**20
"""Files up to this size are read into memory; larger ones (items.jsonl) are streamed."""


def bundle_files(bundle_dir: Path) -> dict[str, FileBody]:
    """Every regular file under ``bundle_dir`` by its POSIX relative path, the attestation
    and the output marker aside (what a bundle's bytes are compared and signed over)."""
    try:
        out: dict[str, FileBody] = {}
        for name, kind in scan_bundle(bundle_dir).items():
            if kind != "file" or name in UNLISTED_OK:
                continue
            path = bundle_dir / name
            out[name] = Streamed.of_file(path) if path.stat().st_size > _READ_WHOLE else path.read_bytes()
        return out
    except OSError as e:
        raise BundleError(f"{bundle_dir}: cannot read: {e.strerror or e}") from e


def _required(bundle_dir: Path, present: dict[str, str], v: Verification) -> frozenset[str] | None:
    """The files ``evidence.json`` (or a period report's ``metrics.json``) requires (its
    ``files`` list), always with itself and ``SHA256SUMS``; ``None`` when it cannot be
    read (reported as missing or not a regular file), with a line in ``v.incomplete``
    when it names none."""

    class _Files(msgspec.Struct):
        files: list[str]

    head = _head_file(present)
    if present.get(head) != "file":
        return None
    path = bundle_dir / head
    try:
        names = msgspec.json.decode(path.read_bytes(), type=_Files).files
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        v.incomplete.append(
            f"incomplete: {path}: no list of required files (files): cannot prove the "
            f"bundle complete: {e}"
        )
        return None
    bad = [n for n in names if not n or n.startswith("/") or ".." in Path(n).parts]
    if bad:
        v.incomplete.append(f"incomplete: {path}: files: bad path {bad[0]!r}")
    always = REPORT_REQUIRED if head == PERIOD_REPORT_FILE else ALWAYS_REQUIRED
    return always | (set(names) - set(bad))


class _ItemsFile(msgspec.Struct):
    path: str
    count: int
    size: int
    sha256: str


class _ItemsHead(msgspec.Struct):
    items_file: _ItemsFile | None = None


def _check_items_file(bundle_dir: Path, digests: dict[str, str | None], v: Verification) -> None:
    """``evidence.json`` names items.jsonl by digest, size and line count: the summary and
    the items must describe one evaluation, even if both were re-hashed into SHA256SUMS."""
    if not digests.get(EVIDENCE_FILE):
        return
    try:
        head = msgspec.json.decode((bundle_dir / EVIDENCE_FILE).read_bytes(), type=_ItemsHead)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return  # reported by _required
    ref = head.items_file
    if ref is None:
        return
    where = f"{bundle_dir / EVIDENCE_FILE}: items_file"
    if ref.path not in digests:
        v.incomplete.append(f"incomplete: {where}: names {ref.path!r}, which is not in the bundle")
        return
    path = bundle_dir / ref.path
    if digests[ref.path] != ref.sha256:
        v.incomplete.append(f"inconsistent: {where}.sha256 is not the digest of {ref.path}")
        return
    lines = 0
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
            size += len(chunk)
    if (lines, size) != (ref.count, ref.size):
        v.incomplete.append(
            f"inconsistent: {where}: {ref.count} items of {ref.size} bytes recorded,"
            f" {ref.path} holds {lines} lines of {size} bytes"
        )


def verify_bundle(bundle_dir: str | Path, key: PublicKey | None = None) -> Verification:
    """Check completeness (the files ``evidence.json`` requires are all present and
    regular; ``SHA256SUMS`` lists exactly the files present), re-hash every file against
    ``SHA256SUMS``, and, given ``key``, check the attestation: its signature, every
    subject's digest, no file outside its subjects.

    Without a key, ``SHA256SUMS`` is the root of trust (compare it, or ``evidence.json``'s
    input digests, with a copy kept elsewhere): whoever edits a file can re-hash it."""
    d = Path(bundle_dir)
    present = scan_bundle(d)
    if SUMS_FILE not in present:
        raise BundleError(f"{d / SUMS_FILE}: no {SUMS_FILE}: not an evidence bundle")
    v = Verification()
    v.not_regular = {n: kind for n, kind in present.items() if kind != "file"}
    sums, v.incomplete = read_sums(d) if present[SUMS_FILE] == "file" else ({}, [])
    required = _required(d, present, v)
    listed = set(sums) | {SUMS_FILE}
    always = REPORT_REQUIRED if _head_file(present) == PERIOD_REPORT_FILE else ALWAYS_REQUIRED
    v.missing = sorted((listed | (required or always)) - set(present))
    digests = {
        n: (_sha256(d / n) if kind == "file" else None)
        for n, kind in present.items() if n != ATTESTATION_FILE and n != OUTPUT_MARKER
    }
    for name, digest in sorted(sums.items()):
        if name not in digests:
            continue
        v.checked += 1
        if digests[name] is not None and digests[name] != digest:
            v.changed.append(name)
    _check_items_file(d, digests, v)
    if present[SUMS_FILE] == "file":
        v.extra = sorted(set(digests) - listed)
        if required is not None:
            v.not_required = sorted((set(digests) & listed) - required)
    v.signed = ATTESTATION_FILE in present
    if key is not None:
        if not v.signed:
            v.attestation.append(
                f"signature: FAILED: {d} is not signed (no {ATTESTATION_FILE}), but a key was given"
            )
        elif present[ATTESTATION_FILE] == "file":
            evidence = (d / EVIDENCE_FILE).read_bytes() if digests.get(EVIDENCE_FILE) else None
            check = check_attestation((d / ATTESTATION_FILE).read_bytes(), key, digests, evidence)
            v.attestation = check.problems
            v.signature_verified = not check.problems
    return v


class _GateHead(msgspec.Struct):
    fail_on: list[str] = []
    allow_empty_scope: bool = False


class _SummaryHead(msgspec.Struct):
    gate: _GateHead = msgspec.field(default_factory=_GateHead)


class _Head(msgspec.Struct):
    as_of: str
    summary: _SummaryHead = msgspec.field(default_factory=_SummaryHead)
    render_options: Any = None
    """Read as it is, converted (or not) by ``_recorded_options``."""


def _recorded(bundle_dir: Path) -> tuple[datetime, Gate, RenderOptions]:
    """The as-of instant, the gate configuration and the render options ``evidence.json``
    records (one read of it)."""
    path = bundle_dir / "evidence.json"
    try:
        head = msgspec.json.decode(path.read_bytes(), type=_Head)
        g = head.summary.gate
        as_of = parse_timestamp(head.as_of)
        gate = Gate.of(tuple(g.fail_on), allow_empty_scope=g.allow_empty_scope)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError, ValueError) as e:
        raise BundleError(f"{path}: cannot read the recorded as-of and gate: {e}") from e
    return as_of, gate, _recorded_options(bundle_dir, head.render_options)


def _recorded_options(bundle_dir: Path, recorded: Any) -> RenderOptions:
    """The caps and grouping evidence.json records (``render_options``); for a bundle made
    before it recorded them, the SARIF ones ``results.sarif`` records; else the defaults
    (the comparison then reports the files made otherwise)."""
    if recorded is not None:
        try:
            return msgspec.convert(recorded, RenderOptions)
        except (msgspec.ValidationError, TypeError):
            pass
    try:
        props = msgspec.json.decode((bundle_dir / "results.sarif").read_bytes())["runs"][0]["properties"]
        return RenderOptions(sarif_max_results=int(props["maxResults"]),
                             sarif_group_threshold=int(props["groupThreshold"]))
    except (OSError, msgspec.DecodeError, KeyError, IndexError, TypeError, ValueError):
        return RenderOptions()


def reproduce_bundle(
    bundle_dir: str | Path,
    policy_paths: Sequence[str | Path],
    snapshot_path: Snapshots,
    key: PublicKey | None = None,
    jobs: Jobs = 1,
    dask: str | None = None,
    watch: Watch | None = None,
) -> Verification:
    """Re-hash (``verify_bundle``), then re-evaluate the inputs at the recorded as-of and
    compare every file byte for byte (the attestation aside: its signature needs the
    private key). Paths are recorded as given to ``evaluate``: pass the same paths (from
    the same directory) for ``evidence.json`` to match."""
    d = Path(bundle_dir)
    v = verify_bundle(d, key)
    as_of, gate, options = _recorded(d)
    _, fresh = build_bundle(policy_paths, snapshot_path, as_of=as_of, gate=gate, watch=watch,
                            options=options, jobs=jobs, dask=dask)
    on_disk = bundle_files(d)
    v.not_reproduced = sorted(
        name for name in set(fresh) | set(on_disk)
        if name not in fresh or name not in on_disk or body_sha256(fresh[name]) != body_sha256(on_disk[name])
    )
    if v.not_reproduced:
        v.notes.append(
            "note: inputs and paths must be those recorded in evidence.json (same digests, "
            "same paths relative to the same working directory)"
        )
    return v
