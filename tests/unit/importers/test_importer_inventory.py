"""Inventories (YAML and CSV CMDB exports): good rows map hosts, bad rows say file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpolicy.errors import ValidationError
from patchpolicy.importers.inventory import load_inventory

YAML_OK = """\
apiVersion: patchpolicy/v1
kind: Inventory
hosts:
  - id: web-01
    artifacts: [testdata/fixtures/images/debian-buster.tar.gz]
    name: web-01.corp
    env: prod
    tags: [cde, internet-facing]
    labels: {ring: canary}
    owner: team-web
    criticality: High
    exposure: internet
  - id: build-01
"""

CSV_OK = """\
id,artifacts,env,tags,labels,owner,criticality,exposure,label.site
web-01,testdata/fixtures/images/debian-buster.tar.gz;ghcr.io/x:1,prod,cde;pci,ring=canary;tier=1,team-web,high,internet,fra
db-01,,staging,,,,low,internal,
"""


def test_yaml_inventory(tmp_path: Path) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text(YAML_OK)
    inv = load_inventory(p)
    web = inv.lookup(["nope", "testdata/fixtures/images/debian-buster.tar.gz"])
    assert web is not None and web.id == "web-01"
    assert (web.env, web.tags, web.labels, web.owner) == ("prod", ("cde", "internet-facing"), {"ring": "canary"}, "team-web")
    assert (web.criticality, web.exposure) == ("high", "internet")
    assert inv.lookup(["build-01"]) is not None  # a report named like the host id
    assert web.location.line == 4


def test_csv_inventory(tmp_path: Path) -> None:
    p = tmp_path / "cmdb.csv"
    p.write_text(CSV_OK)
    inv = load_inventory(p)
    web = inv.lookup(["ghcr.io/x:1"])
    assert web is not None and web.id == "web-01"
    assert web.labels == {"ring": "canary", "tier": "1", "site": "fra"}
    assert web.tags == ("cde", "pci")
    db = inv.get("db-01")
    assert db is not None and (db.env, db.criticality, db.exposure, db.location.line) == ("staging", "low", "internal", 3)


def test_every_bad_csv_row_is_reported_with_its_line(tmp_path: Path) -> None:
    p = tmp_path / "cmdb.csv"
    p.write_text(
        "id,env,criticality,exposure,labels\n"
        "ok-1,prod,high,internal,\n"
        "bad-1,prod,sev1,internal,\n"
        ",prod,high,internal,\n"
        "bad-2,prod,low,dmz,\n"
        "ok-1,prod,low,internal,\n"
        "bad-3,prod,low,internal,noequals\n"
        "short,prod\n"
    )
    with pytest.raises(ValidationError) as e:
        load_inventory(p, "cmdb.csv")
    lines = str(e.value).splitlines()
    assert lines == [
        "cmdb.csv:3:1: host 'bad-1': unknown criticality 'sev1': expected one of critical, high, medium, low",
        "cmdb.csv:4:1: host row without an id",
        "cmdb.csv:5:1: host 'bad-2': unknown exposure 'dmz': expected one of internet, partner, internal, isolated",
        "cmdb.csv:6:1: duplicate host id 'ok-1' (first at line 2)",
        "cmdb.csv:7:1: host 'bad-3': labels: 'noequals' is not key=value",
        "cmdb.csv:8:1: expected 5 cells, got 2",
    ]


def test_unknown_columns_and_keys_are_errors(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_text("id,enviroment\nx,prod\n")
    with pytest.raises(ValidationError, match=r"c.csv:1:1: unknown column 'enviroment'"):
        load_inventory(p, "c.csv")
    y = tmp_path / "h.yaml"
    y.write_text("hosts:\n  - id: a\n    enviroment: prod\n  - id: b\n    artifacts: [img]\n  - id: c\n    artifacts: [img]\n")
    with pytest.raises(ValidationError) as e:
        load_inventory(y, "h.yaml")
    assert str(e.value).splitlines() == [
        "h.yaml:2:1: host 'a': unknown field 'enviroment' (expected: id, artifacts, name, env, tags, labels, owner, criticality, exposure)",
        "h.yaml:6:1: host 'c': artifact 'img' already belongs to host 'b' (line 4)",
    ]


def test_yaml_syntax_and_duplicate_keys(tmp_path: Path) -> None:
    y = tmp_path / "h.yaml"
    y.write_text("hosts:\n  - id: a\n    env: prod\n    env: dev\n")
    with pytest.raises(ValidationError, match=r"^h.yaml:4:\d+: invalid YAML"):
        load_inventory(y, "h.yaml")
    y.write_text("hosts: [\n")
    with pytest.raises(ValidationError, match=r"^h.yaml:\d+:\d+: invalid YAML"):
        load_inventory(y, "h.yaml")
    t = tmp_path / "h.txt"
    t.write_text("x")
    with pytest.raises(ValidationError, match="use a .yaml, .yml or .csv file"):
        load_inventory(t)
