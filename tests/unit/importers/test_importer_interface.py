"""The importer extension point: every format has an importer, and formats are sniffed."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpolicy.errors import ImporterError, InputError, PatchPolicyError
from patchpolicy.importers import Importer, ImporterFormat, get_importer
from patchpolicy.importers._json import load_json
from patchpolicy.importers.detect import sniff


@pytest.mark.parametrize("fmt", list(ImporterFormat))
def test_every_format_has_an_importer(fmt: ImporterFormat) -> None:
    importer = get_importer(fmt)
    assert isinstance(importer, Importer)
    assert importer.format is fmt


SAMPLES = {
    ImporterFormat.TRIVY: "scanners/trivy/trivy-debian-buster.json",
    ImporterFormat.GRYPE: "scanners/grype/grype-keycloak-21.0.2.json",
    ImporterFormat.OSV_SCANNER: "scanners/osv-scanner/osv-scanner-results-go-cargo.json",
    ImporterFormat.CYCLONEDX: "scanners/trivy/trivy-pom-cyclonedx-1.6.json",
    ImporterFormat.AWS_INSPECTOR2: "scanners/aws-inspector2/inspector2-many-vul.json",
}


# sniff() and the "looks like" hint are for the JSON formats; Nessus is XML, Qualys XML or CSV.
NOT_JSON_FORMATS = [ImporterFormat.NESSUS, ImporterFormat.QUALYS]
JSON_FORMATS = [f for f in ImporterFormat if f not in NOT_JSON_FORMATS]


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_sniff_recognises_each_format(realdata: Path, fmt: ImporterFormat) -> None:
    assert sniff(load_json(realdata / SAMPLES[fmt], "x")) is fmt


@pytest.mark.parametrize("right", JSON_FORMATS)
@pytest.mark.parametrize("wrong", JSON_FORMATS)
def test_a_file_of_another_format_is_rejected_with_a_hint(
    realdata: Path, right: ImporterFormat, wrong: ImporterFormat
) -> None:
    if right is wrong:
        return
    with pytest.raises(ImporterError) as e:
        get_importer(wrong).load(realdata / SAMPLES[right], "in.json")
    msg = str(e.value)
    assert msg.startswith("in.json: $")
    assert f"not a {wrong.value} report" in msg
    assert f"it looks like a {right.value} report (use: import {right.value} ...)" in msg


@pytest.mark.parametrize("wrong", NOT_JSON_FORMATS)
@pytest.mark.parametrize("right", JSON_FORMATS)
def test_a_json_report_passed_as_an_xml_format_is_rejected(
    realdata: Path, right: ImporterFormat, wrong: ImporterFormat
) -> None:
    with pytest.raises(ImporterError, match=rf"^in\.json: not a {wrong.value} report: it is JSON"):
        get_importer(wrong).load(realdata / SAMPLES[right], "in.json")


def test_importer_errors_are_input_errors_under_the_one_root() -> None:
    assert issubclass(ImporterError, InputError)
    assert issubclass(ImporterError, PatchPolicyError)


def test_truncated_json_names_file_line_and_column(tmp_path: Path, realdata: Path) -> None:
    text = (realdata / SAMPLES[ImporterFormat.TRIVY]).read_text()
    p = tmp_path / "trivy.json"
    p.write_text(text[: len(text) // 2])
    with pytest.raises(ImporterError, match=r"^trivy\.json:\d+:\d+: invalid JSON"):
        get_importer(ImporterFormat.TRIVY).load(p, "trivy.json")


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "e.json"
    empty.write_text("  \n")
    with pytest.raises(ImporterError, match="empty file"):
        get_importer(ImporterFormat.GRYPE).load(empty)
    with pytest.raises(ImporterError, match="cannot read"):
        get_importer(ImporterFormat.GRYPE).load(tmp_path / "missing.json")


def test_a_non_object_document_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "list.json"
    p.write_text("[1, 2]")
    for fmt in JSON_FORMATS:
        with pytest.raises(ImporterError, match=r"\$: expected an object, got an array"):
            get_importer(fmt).load(p)


def test_a_report_that_is_not_utf8_or_is_compressed_says_so_at_its_place(tmp_path: Path) -> None:
    import gzip

    from patchpolicy.errors import ImporterError
    from patchpolicy.importers._json import load_json

    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"SchemaVersion": 2,\n "ArtifactName": "x\xff"}')
    with pytest.raises(ImporterError) as e:
        load_json(bad, "bad.json")
    assert str(e.value).startswith("bad.json:2:20: not UTF-8 text: invalid start byte (byte 40, 0xff)")
    packed = tmp_path / "packed.json"
    packed.write_bytes(gzip.compress(b'{"SchemaVersion": 2}'))
    with pytest.raises(ImporterError) as e:
        load_json(packed, "packed.json")
    assert str(e.value) == "packed.json:1:1: gzip-compressed: decompress it first (a report is JSON text)"
