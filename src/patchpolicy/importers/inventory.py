"""Host inventory (a CMDB export): which report artifacts are which host, and the host
attributes scanners do not know (env, tags, labels, owner, criticality, exposure).

Two shapes, one meaning:

* YAML: an optional ``apiVersion: patchpolicy/v1`` / ``kind: Inventory`` header and a
  ``hosts:`` list (or just the list) of mappings with the keys below;
* CSV with a header row: ``id`` (required), ``artifacts``, ``name``, ``env``, ``tags``,
  ``labels``, ``owner``, ``criticality``, ``exposure``, and any ``label.<key>`` column.
  List cells are ``;``-separated (``cde;internet-facing``), labels ``k=v;k=v``.

``artifacts`` lists the names reports give the artifact (Trivy ArtifactName, image
reference or digest, Grype userInput, OSV source path, CycloneDX component); a report
whose name is listed, or equals the host id, becomes that host. Every bad row is
reported (``file:line: ...``), all at once, as a ``ValidationError``; unknown keys and
columns are errors.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from patchpolicy.errors import Diagnostic, Location, ValidationError
from patchpolicy.model.fleet import (
    API_VERSION,
    CriticalityName,
    ExposureName,
)

_CRITICALITY: tuple[str, ...] = get_args(CriticalityName)
_EXPOSURE: tuple[str, ...] = get_args(ExposureName)
_FIELDS = ("id", "artifacts", "name", "env", "tags", "labels", "owner", "criticality", "exposure")


@dataclass(frozen=True)
class InventoryHost:
    """One host row: its id, the report names that map to it, and its attributes."""

    id: str
    location: Location
    artifacts: tuple[str, ...] = ()
    name: str | None = None
    env: str | None = None
    tags: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    owner: str | None = None
    criticality: CriticalityName | None = None
    exposure: ExposureName | None = None


@dataclass(frozen=True)
class Inventory:
    """Hosts by id and by every artifact name; ``lookup`` resolves a report's names."""

    path: str
    hosts: tuple[InventoryHost, ...]

    def __post_init__(self) -> None:
        by_id = {h.id: h for h in self.hosts}
        index = dict(by_id)
        for h in self.hosts:
            for a in h.artifacts:
                index.setdefault(a, h)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_by_id", by_id)

    def lookup(self, keys: Iterable[str]) -> InventoryHost | None:
        """The host for the first of a report's names that the inventory knows."""
        index: dict[str, InventoryHost] = self._index  # type: ignore[attr-defined]
        for key in keys:
            host = index.get(key)
            if host is not None:
                return host
        return None

    def get(self, host_id: str) -> InventoryHost | None:
        """The host with this id (not an artifact name)."""
        by_id: dict[str, InventoryHost] = self._by_id  # type: ignore[attr-defined]
        return by_id.get(host_id)


class _Rows:
    """Collects diagnostics while rows are checked, so every bad row is reported."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.diags: list[Diagnostic] = []

    def err(self, line: int, message: str, col: int = 1) -> None:
        # Rows have no better column than their first; Location prints file:line:col.
        self.diags.append(Diagnostic(Location(self.path, line, col if line > 0 else 0), message))

    def text(self, line: int, host: str, key: str, value: object) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.err(line, f"host {host!r}: {key}: expected a string, got {type(value).__name__}")
            return None
        text = str(value).strip()
        return text or None

    def choice(self, line: int, host: str, key: str, value: object, allowed: tuple[str, ...]) -> Any:
        text = self.text(line, host, key, value)
        if text is None:
            return None
        if text.lower() not in allowed:
            self.err(line, f"host {host!r}: unknown {key} {text!r}: expected one of {', '.join(allowed)}")
            return None
        return text.lower()

    def str_list(self, line: int, host: str, key: str, value: object) -> tuple[str, ...]:
        if value is None:
            return ()
        items: list[object]
        if isinstance(value, str):
            items = list(value.split(";"))
        elif isinstance(value, list):
            items = list(value)
        else:
            self.err(line, f"host {host!r}: {key}: expected a list, got {type(value).__name__}")
            return ()
        out = [t for t in (self.text(line, host, key, v) for v in items) if t]
        return tuple(dict.fromkeys(out))

    def label_map(self, line: int, host: str, value: object) -> dict[str, str]:
        if value is None:
            return {}
        pairs: list[tuple[object, object]] = []
        if isinstance(value, str):
            for part in (p.strip() for p in value.split(";")):
                if not part:
                    continue
                k, sep, v = part.partition("=")
                if not sep:
                    self.err(line, f"host {host!r}: labels: {part!r} is not key=value")
                    continue
                pairs.append((k, v))
        elif isinstance(value, dict):
            pairs = list(value.items())
        else:
            self.err(line, f"host {host!r}: labels: expected a mapping, got {type(value).__name__}")
            return {}
        out: dict[str, str] = {}
        for raw_key, raw_value in pairs:
            key = self.text(line, host, "labels", raw_key)
            val = self.text(line, host, f"labels.{key}", raw_value)
            if key is None:
                self.err(line, f"host {host!r}: labels: empty label key")
            elif val is not None:
                out[key] = val
        return out

    def host(self, line: int, row: dict[str, object], labels_extra: dict[str, str] | None = None) -> InventoryHost | None:
        unknown = sorted(k for k in row if k not in _FIELDS)
        raw_id = row.get("id")
        host_id = self.text(line, "?", "id", raw_id)
        if host_id is None:
            self.err(line, "host row without an id")
            return None
        for k in unknown:
            self.err(line, f"host {host_id!r}: unknown field {k!r} (expected: {', '.join(_FIELDS)})")
        labels = self.label_map(line, host_id, row.get("labels"))
        labels.update(labels_extra or {})
        return InventoryHost(
            id=host_id,
            location=Location(self.path, line),
            artifacts=self.str_list(line, host_id, "artifacts", row.get("artifacts")),
            name=self.text(line, host_id, "name", row.get("name")),
            env=self.text(line, host_id, "env", row.get("env")),
            tags=self.str_list(line, host_id, "tags", row.get("tags")),
            labels=labels,
            owner=self.text(line, host_id, "owner", row.get("owner")),
            criticality=self.choice(line, host_id, "criticality", row.get("criticality"), _CRITICALITY),
            exposure=self.choice(line, host_id, "exposure", row.get("exposure"), _EXPOSURE),
        )


def load_inventory(path: Path, label: str | None = None) -> Inventory:
    """Read a ``.yaml``/``.yml`` or ``.csv`` inventory; raises ``ValidationError`` listing
    every bad row as ``file:line``, or ``ImporterError``-style load failures as one."""
    name = label if label is not None else str(path)
    rows = _Rows(name)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ValidationError([Diagnostic(Location(name), f"cannot read inventory: {e}")]) from e
    suffix = path.suffix.lower()
    if suffix == ".csv":
        hosts = _csv_hosts(text, rows)
    elif suffix in (".yaml", ".yml"):
        hosts = _yaml_hosts(text, rows)
    else:
        raise ValidationError(
            [Diagnostic(Location(name), "unknown inventory format: use a .yaml, .yml or .csv file")]
        )
    seen: dict[str, InventoryHost] = {}
    owner_of: dict[str, InventoryHost] = {}
    for h in hosts:
        if h.id in seen:
            rows.err(h.location.line, f"duplicate host id {h.id!r} (first at line {seen[h.id].location.line})")
            continue
        seen[h.id] = h
    for h in seen.values():
        for a in h.artifacts:
            other = owner_of.get(a) or (seen.get(a) if a != h.id else None)
            if other is not None and other.id != h.id:
                rows.err(
                    h.location.line,
                    f"host {h.id!r}: artifact {a!r} already belongs to host {other.id!r} "
                    f"(line {other.location.line})",
                )
            owner_of.setdefault(a, h)
    if rows.diags:
        raise ValidationError(rows.diags)
    return Inventory(name, tuple(seen.values()))


def _csv_hosts(text: str, rows: _Rows) -> list[InventoryHost]:
    reader = csv.reader(text.splitlines(keepends=True))
    try:
        header = next(reader)
    except StopIteration:
        rows.err(1, "empty inventory: expected a header row with an 'id' column")
        return []
    except csv.Error as e:
        rows.err(1, f"invalid CSV: {e}")
        return []
    columns = [c.strip() for c in header]
    if "id" not in columns:
        rows.err(1, f"header has no 'id' column (columns: {', '.join(columns)})")
        return []
    for c in columns:
        if c not in _FIELDS and not (c.startswith("label.") and len(c) > 6):
            rows.err(1, f"unknown column {c!r} (expected: {', '.join(_FIELDS)}, label.<key>)")
    if rows.diags:
        return []
    hosts = []
    end = reader.line_num
    try:
        for record in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(columns):
                rows.err(start, f"expected {len(columns)} cells, got {len(record)}")
                continue
            row: dict[str, object] = {}
            extra: dict[str, str] = {}
            for col, cell in zip(columns, record, strict=True):
                if col.startswith("label."):
                    if cell.strip():
                        extra[col[6:]] = cell.strip()
                elif cell.strip():
                    row[col] = cell
            host = rows.host(start, row, extra)
            if host is not None:
                hosts.append(host)
    except csv.Error as e:
        rows.err(reader.line_num, f"invalid CSV: {e}")
    return hosts


def _yaml_hosts(text: str, rows: _Rows) -> list[InventoryHost]:
    try:
        doc = YAML(typ="rt").load(text)
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        rows.err(line, f"invalid YAML: {e.problem or e.context}", col)
        return []
    except YAMLError as e:
        rows.err(0, f"invalid YAML: {e}")
        return []
    items: object = doc
    if isinstance(doc, CommentedMap):
        for key in doc:
            if key not in ("apiVersion", "kind", "hosts"):
                rows.err(doc.lc.key(key)[0] + 1, f"unknown top-level key {key!r} (expected hosts)")
        if "apiVersion" in doc and doc["apiVersion"] != API_VERSION:
            rows.err(doc.lc.value("apiVersion")[0] + 1, f"apiVersion must be {API_VERSION!r}")
        if "kind" in doc and doc["kind"] != "Inventory":
            rows.err(doc.lc.value("kind")[0] + 1, "kind must be 'Inventory'")
        items = doc.get("hosts")
    if not isinstance(items, CommentedSeq):
        rows.err(1, "expected a list of hosts (or a mapping with a 'hosts' list)")
        return []
    hosts = []
    for i, item in enumerate(items):
        line = items.lc.item(i)[0] + 1
        if not isinstance(item, CommentedMap):
            rows.err(line, f"host entry must be a mapping, got {type(item).__name__}")
            continue
        row = {str(k): _plain(v) for k, v in item.items()}
        host = rows.host(line, row)
        if host is not None:
            hosts.append(host)
    return hosts


def _plain(value: object) -> object:
    if isinstance(value, CommentedMap):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, CommentedSeq):
        return [_plain(v) for v in value]
    return value
