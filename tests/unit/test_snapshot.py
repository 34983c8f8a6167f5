"""Reading and writing fleet snapshots (the snapshot package): JSON and JSON Lines, messages with
line and JSON path, atomic writes."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from patchpolicy.errors import InputError, OutputError, SnapshotError
from patchpolicy.model.fleet import HostRecord, SnapshotHeader
from patchpolicy.snapshot import atomic_write, open_snapshot, write_snapshot

FLEET = Path(__file__).parents[2] / "examples" / "fleet.json"


def _fleet() -> dict[str, Any]:
    return json.loads(FLEET.read_text(encoding="utf-8"))


def _jsonl(path: Path, header: dict[str, Any], hosts: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(x) for x in [header, *hosts]) + "\n")
    return path


def _header(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "hosts"}


# ---------------------------------------------------------------- reading


def test_open_json_snapshot() -> None:
    src = open_snapshot(FLEET)
    data = FLEET.read_bytes()
    assert src.sha256 == hashlib.sha256(data).hexdigest()
    assert src.size == len(data)
    assert src.streaming is False
    assert src.header.kind == "FleetSnapshot"
    assert src.header.taken_at.isoformat() == "2026-11-20T06:00:00+00:00"
    hosts = list(src.hosts())
    assert [h.id for h in hosts] == [h["id"] for h in _fleet()["hosts"]]


def test_json_lines_equals_json(tmp_path: Path) -> None:
    doc = _fleet()
    path = _jsonl(tmp_path / "fleet.jsonl", _header(doc), doc["hosts"])
    src = open_snapshot(path)
    assert src.streaming is True
    assert src.header == open_snapshot(FLEET).header
    assert list(src.hosts()) == list(open_snapshot(FLEET).hosts())
    # Streaming re-reads the file on every pass.
    assert list(src.hosts()) == list(src.hosts())


def test_json_lines_skips_blank_lines(tmp_path: Path) -> None:
    doc = _fleet()
    path = tmp_path / "fleet.ndjson"
    path.write_text(
        json.dumps(_header(doc)) + "\n\n" + json.dumps(doc["hosts"][0]) + "\n   \n"
    )
    assert [h.id for h in open_snapshot(path).hosts()] == [doc["hosts"][0]["id"]]


def test_header_only_jsonl_has_no_hosts(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "empty.jsonl", _header(_fleet()), [])
    assert list(open_snapshot(path).hosts()) == []


def test_rewritten_json_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    shutil.copy(FLEET, path)
    assert len(list(open_snapshot(path).hosts())) == 7
    doc = _fleet()
    doc["hosts"] = doc["hosts"][:2]
    path.write_text(json.dumps(doc))
    assert len(list(open_snapshot(path).hosts())) == 2


# ---------------------------------------------------------------- errors


def _error(path: Path) -> str:
    with pytest.raises(SnapshotError) as info:
        src = open_snapshot(path)
        list(src.hosts())
    assert isinstance(info.value, InputError)  # the CLI exits 2
    return str(info.value)


def test_json_error_names_the_json_path(tmp_path: Path) -> None:
    doc = _fleet()
    doc["hosts"][1]["findings"][0]["severity"] = "CRITICAL"
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(doc))
    message = _error(path)
    assert message == (
        f"{path}:1:2348: $.hosts[1].findings[0].severity: invalid enum value 'CRITICAL' "
        "(expected one of critical, high, medium, low, none, unknown)"
    )


def test_jsonl_error_names_line_and_json_path(tmp_path: Path) -> None:
    doc = _fleet()
    hosts = doc["hosts"][:3]
    hosts[2]["findings"][0]["published_at"] = "2024-07-01T13:15:00"  # no offset
    path = _jsonl(tmp_path / "fleet.jsonl", _header(doc), hosts)
    src = open_snapshot(path)  # the header is fine; hosts are decoded lazily
    seen = []
    with pytest.raises(SnapshotError) as info:
        seen.extend(host.id for host in src.hosts())
    assert seen == [hosts[0]["id"], hosts[1]["id"]]
    assert str(info.value) == (
        f"{path}:4:761: $.findings[0].published_at: expected `datetime` with a timezone component"
    )


def test_jsonl_syntax_error_names_the_line(tmp_path: Path) -> None:
    doc = _fleet()
    path = tmp_path / "fleet.jsonl"
    path.write_text(json.dumps(_header(doc)) + "\n" + json.dumps(doc["hosts"][0]) + "\n{not json\n")
    assert _error(path) == f"{path}:3:2: malformed JSON: object keys must be strings"


def test_jsonl_bad_header(tmp_path: Path) -> None:
    header = {**_header(_fleet()), "kind": "PatchPolicy"}
    path = _jsonl(tmp_path / "fleet.jsonl", header, [])
    assert _error(path).startswith(f"{path}:1:34: $.kind: invalid enum value 'PatchPolicy'")


def test_jsonl_header_with_hosts_is_rejected(tmp_path: Path) -> None:
    doc = _fleet()
    path = tmp_path / "fleet.jsonl"
    path.write_text(json.dumps(doc) + "\n")
    assert _error(path) == f"{path}:1:142: $: object contains unknown field `hosts`"


def test_empty_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "fleet.jsonl"
    path.write_text("\n")
    assert _error(path) == f"{path}:1: empty snapshot: line 1 must be the header"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"taken_at": "2026-11-20T06:00:00"}, "$.taken_at: expected `datetime` with a timezone component"),
        ({"apiVersion": "patchpolicy/v2"}, "$.apiVersion: "),
        ({"hosts": None}, "$.hosts: expected `array`, got `null`"),
        ({"extra": 1}, "object contains unknown field `extra`"),
    ],
)
def test_json_document_errors(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps({**_fleet(), **change}))
    message = _error(path)
    assert re.match(rf"{re.escape(str(path))}:1:\d+: ", message)
    assert expected in message


def test_missing_snapshot(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.json") == f"{tmp_path / 'nope.json'}: cannot read snapshot: No such file or directory"


def test_invalid_json_syntax(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_text('{"apiVersion": "patchpolicy/v1",')
    assert _error(path) == (
        f"{path}:1:33: malformed JSON: the input ends in the middle of a value (truncated?)"
    )


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("name", ["out.json", "out.jsonl"])
def test_write_then_read_round_trips_byte_identically(tmp_path: Path, name: str) -> None:
    src = open_snapshot(FLEET)
    hosts = list(src.hosts())
    path = tmp_path / name
    write_snapshot(path, src.header, hosts)
    back = open_snapshot(path)
    assert back.header == src.header
    assert list(back.hosts()) == hosts
    first = path.read_bytes()
    write_snapshot(path, back.header, list(back.hosts()))
    assert path.read_bytes() == first
    assert first.endswith(b"\n")
    if name.endswith(".jsonl"):
        assert len(first.splitlines()) == 1 + len(hosts)
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left


def test_write_creates_parent_directories(tmp_path: Path) -> None:
    src = open_snapshot(FLEET)
    path = tmp_path / "a" / "b" / "fleet.jsonl"
    write_snapshot(path, src.header, src.hosts())
    assert path.is_file()


def _failing_hosts(hosts: list[HostRecord]) -> Iterator[HostRecord]:
    yield hosts[0]
    raise RuntimeError("importer crashed half-way")


@pytest.mark.parametrize("name", ["out.json", "out.jsonl"])
def test_failed_write_leaves_nothing(tmp_path: Path, name: str) -> None:
    src = open_snapshot(FLEET)
    path = tmp_path / name
    with pytest.raises(RuntimeError, match="half-way"):
        write_snapshot(path, src.header, _failing_hosts(list(src.hosts())))
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"previous\n")
    src = open_snapshot(FLEET)
    with pytest.raises(RuntimeError):
        write_snapshot(path, src.header, _failing_hosts(list(src.hosts())))
    assert path.read_bytes() == b"previous\n"
    assert list(tmp_path.iterdir()) == [path]


def test_atomic_write_os_error_is_output_error(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "child").write_text("x")  # a non-empty directory cannot be replaced by a file
    with pytest.raises(OutputError, match=f"^{target}: cannot write: "):
        atomic_write(target, [b"data"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    atomic_write(path, [b"a", b"b"])
    atomic_write(path, iter([b"c"]))
    assert path.read_bytes() == b"c"


def test_header_struct_rejects_naive_taken_at() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            b'{"apiVersion": "patchpolicy/v1", "kind": "FleetSnapshot", "taken_at": "2026-11-20T06:00:00"}',
            type=SnapshotHeader,
        )
