"""Snapshot input as strict as policy input (issue 19): duplicate keys, positions,
limits, non-regular files, hostile bytes; and each input read once (issue 11.9)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchpolicy.cli import main
from patchpolicy.errors import SnapshotError
from patchpolicy.snapshot import limits as snapmod
from patchpolicy.snapshot import open_snapshot

ROOT = Path(__file__).parents[2]
FLEET = ROOT / "examples" / "fleet.json"
POLICIES = ROOT / "examples" / "policies"


def _error(path: Path | str) -> str:
    with pytest.raises(SnapshotError) as info:
        src = open_snapshot(path)
        list(src.hosts())
    return str(info.value)


def _header_line() -> str:
    doc = json.loads(FLEET.read_text())
    return json.dumps({k: v for k, v in doc.items() if k != "hosts"})


# ---------------------------------------------------------------- duplicate keys


def test_trailing_hosts_key_in_json_is_an_error_at_the_second_key(tmp_path: Path) -> None:
    text = FLEET.read_text().rstrip()
    assert text.endswith("}")
    path = tmp_path / "fleet.json"
    path.write_text(text[:-1] + ',\n "hosts": []\n}\n')
    line = text.count("\n") + 2
    assert _error(path) == (
        f"{path}:{line}:2: $.hosts: duplicate key \"hosts\" (the later value would silently "
        "replace the earlier one)"
    )


@pytest.mark.parametrize("key", ["id", "status"])
def test_repeated_finding_key_in_jsonl(tmp_path: Path, key: str) -> None:
    doc = json.loads(FLEET.read_text())
    host = json.dumps(doc["hosts"][0])
    # Repeat the key inside the first finding, right after its "id".
    first = host.index('"findings": [{') + len('"findings": [{')
    value = "renamed" if key == "id" else "fixed"
    bad = host[:first] + f'"{key}": "{value}", ' + host[first:]
    assert bad.count(f'"{key}"') >= 2
    path = tmp_path / "fleet.jsonl"
    path.write_text(_header_line() + "\n" + bad + "\n")
    message = _error(path)
    assert message.startswith(f"{path}:2:")
    assert f"$.findings[0].{key}: duplicate key \"{key}\"" in message
    col = int(message.split(":")[2])
    assert bad[col - 1 :].startswith(f'"{key}"')  # the second occurrence's column
    assert bad.index(f'"{key}"', first) < col - 1


def test_duplicate_in_header_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    header = _header_line()
    path.write_text(header[:-1] + ', "kind": "FleetSnapshot"}\n')
    assert "$.kind: duplicate key" in _error(path)
    path.write_text(header + '\n{"id": "a", "labels": {"ring": "a", "ring": "b"}}\n')
    assert _error(path).startswith(f"{path}:2:37: $.labels.ring: duplicate key \"ring\"")


def test_escaped_colons_do_not_hide_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(_header_line() + '\n{"id": "a", "labels": {"a\\u003a": "1", "x": "1", "x": "2"}}\n')
    assert "$.labels.x: duplicate key" in _error(path)
    path.write_text(_header_line() + '\n{"id": "a", "labels": {"a\\u003a": "1", "x": "1"}}\n')
    assert [h.labels for h in open_snapshot(path).hosts()] == [{"a:": "1", "x": "1"}]


def test_equal_keys_in_different_objects_are_fine(tmp_path: Path) -> None:
    src = open_snapshot(FLEET)
    assert len(list(src.hosts())) == 7


# ---------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty file: a snapshot is a JSON document or JSON Lines"),
        (gzip.compress(b"{}"), "gzip-compressed: decompress it first"),
        (b'{"apiVersion": "patchpolicy/v1",\n  "kind"\x00: 1}', ":2:9: NUL byte"),
        (b"   \n  ", ":1:1: empty: no JSON document"),
        (b'{"apiVersion": NaN}', ":1:16: malformed JSON: NaN and Infinity are not JSON numbers"),
        (b'{"hosts": [{"id": "a", "findings": [{"id": "f", "vuln": "v", "cvss": -Infinity}]}]}',
         ":1:71: malformed JSON: NaN and Infinity"),
        (b"[1, 2]", ":1:1: $: expected `object`, got `array`"),
        (b'{"kind": "FleetSnapshot",\n "kind2": 1}', ":2:2: $: object contains unknown field `kind2`"),
    ],
)
def test_messages_for_hostile_json(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "fleet.json"
    path.write_bytes(content)
    message = _error(path)
    assert message.startswith(str(path))
    assert expected in message
    assert "jSON" not in message and "surrogates" not in message


def test_utf8_bom_is_read_and_hashed(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + FLEET.read_bytes()
    path = tmp_path / "fleet.json"
    path.write_bytes(data)
    src = open_snapshot(path)
    assert src.sha256 == hashlib.sha256(data).hexdigest()
    assert len(list(src.hosts())) == 7
    jsonl = tmp_path / "fleet.jsonl"
    jsonl.write_bytes(b"\xef\xbb\xbf" + _header_line().encode() + b"\n")
    assert list(open_snapshot(jsonl).hosts()) == []


def test_bom_does_not_shift_columns(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    path.write_bytes(b'\xef\xbb\xbf{"kind": "FleetSnapshot",\n "taken_at": NaN}')
    assert _error(path).startswith(f"{path}:2:14: malformed JSON: NaN")


def test_naive_timestamp_and_out_of_range_keep_their_messages(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(_header_line() + '\n{"id": "a", "last_scan": "2026-11-20T06:00:00"}\n')
    assert _error(path) == (
        f"{path}:2:13: $.last_scan: expected `datetime` with a timezone component"
    )
    path.write_text(_header_line() + '\n{"id": "a", "findings": [{"id": "f", "vuln": "v", "cvss": 1e400}]}\n')
    assert _error(path) == f"{path}:2:51: $.findings[0].cvss: number out of range"
    path.write_text(_header_line() + '\n{"id": "a", "findings": [{"id": "f", "vuln": "v", "cvss": 11}]}\n')
    assert "$.findings[0].cvss: expected `float` <= 10.0" in _error(path)


# ---------------------------------------------------------------- limits and file kinds


def test_dev_zero_and_directories_are_refused(tmp_path: Path) -> None:
    assert _error("/dev/zero") == (
        "/dev/zero: is a character device: a snapshot must be a regular file, a pipe, or - "
        "for standard input"
    )
    assert _error(tmp_path).startswith(f"{tmp_path}: is a directory")


def test_header_and_record_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapmod, "MAX_HEADER_BYTES", 64)
    path = tmp_path / "fleet.jsonl"
    path.write_text(_header_line() + "\n")
    assert _error(path) == (
        f"{path}:1:1: line 1: the header longer than 64 bytes (the documented limit); is this "
        "a snapshot?"
    )
    monkeypatch.setattr(snapmod, "MAX_HEADER_BYTES", 1 << 20)
    monkeypatch.setattr(snapmod, "MAX_RECORD_BYTES", 100)
    path.write_text(_header_line() + '\n{"id": "a"}\n{"id": "' + "x" * 200 + '"}\n')
    assert _error(path).startswith(f"{path}:3:1: line 3: a JSON Lines record longer than 100 bytes")
    monkeypatch.setattr(snapmod, "MAX_DOCUMENT_BYTES", 1000)
    big = tmp_path / "big.json"
    big.write_text('{"apiVersion": "' + "x" * 3_000_000 + '"}')
    assert "a single-document snapshot longer than 1,000 bytes" in _error(big)


def test_endless_zeros_on_a_pipe_stop_at_the_first_byte(tmp_path: Path) -> None:
    fifo = tmp_path / "zeros.jsonl"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the writer child
        try:
            with open(fifo, "wb") as w:
                while True:
                    w.write(b"\x00" * 65536)
        finally:
            os._exit(0)
    try:
        assert _error(fifo) == f"{fifo}:1:1: NUL byte: binary data, not JSON text"
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)


# ---------------------------------------------------------------- read once; stdin


def test_jsonl_digest_is_of_the_bytes_decoded_and_checked_on_a_second_pass(tmp_path: Path) -> None:
    doc = json.loads(FLEET.read_text())
    path = tmp_path / "fleet.jsonl"
    path.write_text("\n".join([_header_line(), *(json.dumps(h) for h in doc["hosts"])]) + "\n")
    src = open_snapshot(path)
    assert len(list(src.hosts())) == 7
    assert src.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_text(path.read_text().replace('"prod"', '"dev"', 1))
    with pytest.raises(SnapshotError, match="changed while it was being read"):
        list(src.hosts())


def test_retained_hosts_are_not_read_again(tmp_path: Path) -> None:
    doc = json.loads(FLEET.read_text())
    path = tmp_path / "fleet.jsonl"
    path.write_text("\n".join([_header_line(), *(json.dumps(h) for h in doc["hosts"])]) + "\n")
    src = open_snapshot(path, retain_hosts=True)
    first = list(src.hosts())
    path.unlink()
    assert list(src.hosts()) == first


@pytest.mark.parametrize("form", ["json", "jsonl"])
def test_check_reads_standard_input(tmp_path: Path, form: str) -> None:
    if form == "json":
        data = FLEET.read_bytes()
    else:
        doc = json.loads(FLEET.read_text())
        data = ("\n".join([_header_line(), *(json.dumps(h) for h in doc["hosts"])]) + "\n").encode()
    runner = CliRunner()
    from_stdin = runner.invoke(main, ["check", "-p", str(POLICIES), "-s", "-", "--format", "json"],
                               input=data)
    (tmp_path / f"fleet.{form}").write_bytes(data)
    from_file = runner.invoke(main, ["check", "-p", str(POLICIES), "-s", str(tmp_path / f"fleet.{form}"),
                                     "--format", "json"])
    assert from_stdin.exit_code == from_file.exit_code != 2, from_stdin.output
    a, b = json.loads(from_stdin.stdout), json.loads(from_file.stdout)
    assert a["inputs"]["snapshot"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert a["inputs"]["snapshot"]["path"] == "<stdin>"
    a["inputs"]["snapshot"]["path"] = b["inputs"]["snapshot"]["path"]
    assert a == b


def test_cli_duplicate_key_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "fleet.json"
    text = FLEET.read_text().rstrip()
    path.write_text(text[:-1] + ', "hosts": []}')
    result = CliRunner().invoke(main, ["check", "-p", str(POLICIES), "-s", str(path)])
    assert result.exit_code == 2
    assert 'duplicate key "hosts"' in result.output


# ---------------------------------------------------------------- fuzzing

_EXAMPLE = FLEET.read_bytes()


@settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(_EXAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       st.sampled_from(["json", "jsonl"]))
def test_random_byte_mutations_give_hosts_or_a_positioned_error(
    tmp_path: Path, edits: list[tuple[int, int]], form: str
) -> None:
    data = bytearray(_EXAMPLE)
    if form == "jsonl":
        doc: dict[str, Any] = json.loads(_EXAMPLE)
        data = bytearray(("\n".join([_header_line(), *(json.dumps(h) for h in doc["hosts"])]) + "\n").encode())
    for at, value in edits:
        data[at % len(data)] = value
    path = tmp_path / f"m.{form}"
    path.write_bytes(bytes(data))
    try:
        src = open_snapshot(path)
        hosts = list(src.hosts())
    except SnapshotError as e:
        message = str(e)
        assert message.startswith(f"{path}:"), message
        rest = message[len(str(path)) + 1 :]
        line, col = rest.split(":")[:2]
        assert line.isdigit() and col.isdigit(), message
    else:
        assert src.sha256 == hashlib.sha256(bytes(data)).hexdigest()
        assert all(h.id for h in hosts)
