"""`patchpolicy plan` and `patchpolicy windows` on the example bundle and fleet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from patchpolicy.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"
FLEET = ROOT / "examples" / "fleet.json"

pytestmark = pytest.mark.skipif(
    not (POLICIES.is_dir() and FLEET.is_file()), reason="the example bundle is not present"
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def plan_dir(tmp_path: Path, *extra: str) -> tuple[Path, str]:
    out = tmp_path / "plan"
    code, stdout, stderr = invoke("plan", "-p", str(POLICIES), "-s", str(FLEET), "-o", str(out), *extra)
    assert code == 0, stderr
    return out, stdout.replace(str(tmp_path), "<tmp>")


def test_plan_example_fleet(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    out, stdout = plan_dir(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == ["tasks.csv", "tasks.json"]
    assert stdout == snapshot(name="summary")
    assert (out / "tasks.json").read_text() == snapshot(name="tasks.json")
    assert (out / "tasks.csv").read_text() == snapshot(name="tasks.csv")


def test_plan_example_fleet_in_the_year_end_freeze(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    out, _ = plan_dir(tmp_path, "--as-of", "2026-12-14", "--horizon", "60d")
    doc = json.loads((out / "tasks.json").read_text())
    # KEV and critical fixes go into the frozen windows; the rest waits for 10 January.
    for task in doc["tasks"]:
        if task["start"] < "2027-01-04":
            assert task["freezes_allowed"] == ["year-end"]
            assert all(f["kev"] or f["severity"] == "critical" for f in task["findings"])
    assert (out / "tasks.json").read_text() == snapshot(name="tasks.json")


def test_plan_is_byte_identical_across_runs(tmp_path: Path) -> None:
    first, _ = plan_dir(tmp_path / "a")
    second, _ = plan_dir(tmp_path / "b")
    for name in ("tasks.json", "tasks.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_plan_json_and_csv_agree(tmp_path: Path) -> None:
    out, _ = plan_dir(tmp_path)
    doc = json.loads((out / "tasks.json").read_text())
    rows = list(csv.DictReader(io.StringIO((out / "tasks.csv").read_text())))
    assert [r["id"] for r in rows] == [t["id"] for t in doc["tasks"]]
    assert doc["counts"]["tasks"] == len(rows)
    planned = {f["id"] for t in doc["tasks"] for f in t["findings"]}
    # Excepted, not_affected, error, untracked and remediated items are not planned.
    assert "CVE-2024-6387/openssh-server" not in planned
    assert "CVE-2020-25649/jackson-databind" not in planned
    assert "CVE-2026-10220/postgresql-15" not in planned
    for task in doc["tasks"]:
        assert task["start"] is None or task["start"] >= doc["as_of"]


def test_plan_writes_an_ics_of_scheduled_tasks(tmp_path: Path) -> None:
    ics = tmp_path / "tasks.ics"
    out, _ = plan_dir(tmp_path, "--ics", str(ics))
    data = ics.read_bytes()
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    doc = json.loads((out / "tasks.json").read_text())
    uids = [line for line in data.replace(b"\r\n ", b"").split(b"\r\n") if line.startswith(b"UID:")]
    assert sorted(uids) == sorted(f"UID:task-{t['id']}@patchpolicy".encode() for t in doc["tasks"])
    assert b"DTSTAMP:20261120T060000Z\r\n" in data


def test_plan_bad_input_exits_2(tmp_path: Path) -> None:
    code, _, stderr = invoke("plan", "-p", str(POLICIES), "-s", str(tmp_path / "missing.json"),
                             "-o", str(tmp_path / "o"))
    assert code == 2 and "cannot read snapshot" in stderr
    code, _, stderr = invoke("plan", "-p", str(POLICIES), "-s", str(FLEET), "--horizon", "3mo",
                             "-o", str(tmp_path / "o"))
    assert code == 2 and "invalid duration" in stderr
    assert not (tmp_path / "o").exists()


def test_windows_lists_occurrences_with_freezes(snapshot: SnapshotAssertion) -> None:
    code, stdout, _ = invoke("windows", "-p", str(POLICIES), "--from", "2026-12-14", "--count", "4")
    assert code == 0
    assert stdout == snapshot


def test_windows_for_one_host(tmp_path: Path, snapshot: SnapshotAssertion) -> None:
    ics = tmp_path / "w.ics"
    code, stdout, _ = invoke("windows", "-p", str(POLICIES), "-s", str(FLEET), "--host", "build-01",
                             "--count", "2", "--ics", str(ics))
    assert code == 0
    assert stdout.replace(str(tmp_path), "<tmp>") == snapshot(name="stdout")
    assert ics.read_bytes().decode() == snapshot(name="ics")
    assert "prod-sunday" not in stdout  # build-01 is staging


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "web-01"], "--host needs --snapshot"),
        ([], "give --from or --snapshot"),
        (["-s", str(FLEET), "--host", "nope"], "no host with id 'nope'"),
    ],
)
def test_windows_usage_errors_exit_2(args: list[str], message: str) -> None:
    code, _, stderr = invoke("windows", "-p", str(POLICIES), *args)
    assert code == 2 and message in stderr


def test_windows_without_host_marks_frozen_only_where_the_freeze_applies(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {name: p, version: 1.0.0}\n"
        "spec:\n  rules:\n    - {id: all, when: 'true', within: 10d}\n"
        "  windows:\n"
        "    - {id: site-a, hosts: 'host.labels[\"site\"] == \"a\"', rrule: 'FREQ=DAILY',"
        " start: '02:00', duration: 2h, timezone: UTC}\n"
        "  freezes:\n"
        "    - {id: site-b-freeze, hosts: 'host.labels[\"site\"] == \"b\"', from: '2026-12-01T00:00:00Z',"
        " until: '2026-12-31T00:00:00Z'}\n"
        "    - {id: all-freeze, from: '2026-12-20T00:00:00Z', until: '2026-12-21T00:00:00Z'}\n"
    )
    code, stdout, stderr = invoke("windows", "-p", str(tmp_path), "--from", "2026-12-19", "--count", "3")
    assert code == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 3
    # The site-b freeze does not freeze site A's windows: it is named with its selector.
    assert all("[FROZEN site-b-freeze" not in line for line in lines)
    assert all('frozen for hosts matching host.labels["site"] == "b" (site-b-freeze)' in line for line in lines)
    # A freeze of every host does freeze the window it overlaps.
    assert sum("[FROZEN all-freeze" in line for line in lines) == 1


def test_evaluate_writes_the_calendar_plan_writes(tmp_path: Path) -> None:
    ics = tmp_path / "tasks.ics"
    code, out, err = invoke("plan", "-p", str(POLICIES), "-s", str(FLEET), "-o", str(tmp_path / "p"),
                            "--ics", str(ics))
    assert code == 0, err
    code, out, err = invoke("evaluate", "-p", str(POLICIES), "-s", str(FLEET), "-o", str(tmp_path / "b"))
    assert code == 1, err
    assert (tmp_path / "b" / "tasks.ics").read_bytes() == ics.read_bytes()
    assert b"SEQUENCE:" in ics.read_bytes()
    rows = list(csv.DictReader(io.StringIO((tmp_path / "b" / "tasks.csv").read_text())))
    pci = [r for r in rows if "pci-dss" in r["policies"].split(";")]
    assert pci and all("PCI-DSS 4.0.1 6.3.3" in r["controls"].split(";") for r in pci)
