"""``patchpolicy import FORMAT FILE --also FORMAT:FILE``: two formats in one run."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from patchpolicy.cli import main
from patchpolicy.model.fleet import FleetSnapshot

REALDATA = Path(__file__).parents[1] / "data" / "realdata"


def test_nessus_and_trivy_in_one_run_give_one_host(tmp_path: Path) -> None:
    trivy = json.loads((REALDATA / "scanners/trivy/trivy-debian-buster.json").read_text())
    trivy["ArtifactName"] = "44.228.249.3"  # trivy rootfs run on the host, named by its address
    trivy.pop("Metadata")
    t = tmp_path / "rootfs.json"
    t.write_text(json.dumps(trivy))
    out = tmp_path / "fleet.json"
    nessus = REALDATA / "scanners/nessus/nessus-with-cvssv3.nessus"
    result = CliRunner().invoke(main, ["import", "nessus", str(nessus), "--also", f"trivy:{t}", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert f"{t}: trivy: host testphp.vulnweb.com (same host as nessus {nessus}: 44.228.249.3): " in result.stdout
    assert "1 reports matched to a host another report names" in result.stdout
    snap = FleetSnapshot.model_validate_json(out.read_bytes())
    assert [h.id for h in snap.hosts] == ["testphp.vulnweb.com"]
    assert {"CVE-2019-18224", "CVE-2019-18276"} <= {f.vuln for f in snap.hosts[0].findings}
    assert snap.source is not None and snap.source.tool == "nessus+trivy"


def test_also_needs_a_format_and_a_file(tmp_path: Path) -> None:
    nessus = REALDATA / "scanners/nessus/nessus-with-cvssv3.nessus"
    for bad, message in [("trivy", "expected FORMAT:FILE"), ("qualis:x.xml", "'qualis' is not a format")]:
        result = CliRunner().invoke(main, ["import", "nessus", str(nessus), "--also", bad, "-o", str(tmp_path / "o.json")])
        assert result.exit_code == 2
        assert message in result.stderr
    assert not (tmp_path / "o.json").exists()
