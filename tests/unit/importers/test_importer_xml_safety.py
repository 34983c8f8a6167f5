"""Hostile XML (issue 16 #4), for every XML format: external entities, entity bombs and
external DTDs are refused with exit 2 and a clear message; nothing is read, fetched or
expanded, and no snapshot is written."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.cli import main

SECRET = "TOP-SECRET-7f3a9c"
ROOTS = {"nessus": "NessusClientData_v2", "qualys": "ASSET_DATA_REPORT"}
REFUSED = "refused: the XML declares a DTD or entities"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: nothing may be fetched."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the importer opened a network connection")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _import(fmt: str, path: Path, tmp_path: Path) -> tuple[int, str]:
    out = tmp_path / "fleet.json"
    result = CliRunner().invoke(main, ["import", fmt, str(path), "-o", str(out)])
    assert not out.exists(), "a snapshot was written from hostile input"
    return result.exit_code, result.stdout + result.stderr


def _billion_laughs(root: str) -> str:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)
    ]
    return f'<?xml version="1.0"?>\n<!DOCTYPE {root} [{"".join(ents)}]>\n<{root}>&lol9;</{root}>\n'


@pytest.mark.parametrize("fmt", sorted(ROOTS))
def test_xxe_to_a_local_file_is_refused_and_nothing_is_read(fmt: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    root = ROOTS[fmt]
    evil = tmp_path / "evil.xml"
    evil.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY x SYSTEM "{secret.as_uri()}">]>\n'
        f"<{root}><x>&x;</x></{root}>\n"
    )
    code, output = _import(fmt, evil, tmp_path)
    assert code == 2
    assert f"evil.xml: {REFUSED}" in output
    assert SECRET not in output


@pytest.mark.parametrize("fmt", sorted(ROOTS))
def test_an_entity_bomb_is_refused_without_expanding_it(fmt: str, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(_billion_laughs(ROOTS[fmt]))  # 10^9 "lol"s if expanded: 3 GB
    start = time.monotonic()
    code, output = _import(fmt, bomb, tmp_path)
    assert code == 2
    assert f"bomb.xml: {REFUSED}" in output
    assert time.monotonic() - start < 10  # refused at the DOCTYPE, not after expanding


@pytest.mark.parametrize("fmt", sorted(ROOTS))
def test_an_external_parameter_entity_is_refused_without_fetching(fmt: str, tmp_path: Path) -> None:
    root = ROOTS[fmt]
    evil = tmp_path / "evil.xml"
    evil.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE {root} [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]>\n'
        f"<{root}/>\n"
    )
    code, output = _import(fmt, evil, tmp_path)
    assert code == 2
    assert REFUSED in output


@pytest.mark.parametrize("fmt", sorted(ROOTS))
def test_an_external_dtd_defining_entities_is_never_read(fmt: str, tmp_path: Path) -> None:
    """The DOCTYPE that only names an external DTD is accepted (Qualys writes one) but never
    read: an entity the DTD would define stays undefined, so the document is invalid."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    dtd = tmp_path / "evil.dtd"
    dtd.write_text(f'<!ENTITY x SYSTEM "{secret.as_uri()}">')
    root = ROOTS[fmt]
    evil = tmp_path / "evil.xml"
    evil.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE {root} SYSTEM "{dtd.as_uri()}">\n<{root}>&x;</{root}>\n')
    code, output = _import(fmt, evil, tmp_path)
    assert code == 2
    assert "evil.xml:3:" in output and "invalid XML" in output and "undefined entity" in output
    assert SECRET not in output


@pytest.mark.parametrize("fmt", sorted(ROOTS))
def test_an_external_dtd_with_an_internal_subset_is_refused(fmt: str, tmp_path: Path) -> None:
    root = ROOTS[fmt]
    evil = tmp_path / "evil.xml"
    evil.write_text(f'<?xml version="1.0"?>\n<!DOCTYPE {root} SYSTEM "http://127.0.0.1:9/x.dtd" [ ]>\n<{root}/>\n')
    code, output = _import(fmt, evil, tmp_path)
    assert code == 2
    assert REFUSED in output
