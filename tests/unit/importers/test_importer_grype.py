"""Grype JSON: field mapping checked against values read by hand from the real files."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchpolicy.errors import ImporterError
from patchpolicy.importers import ImporterFormat, build_snapshot, get_importer

GRYPE = "scanners/grype"


def test_keycloak_six_wont_fix_matches(realdata: Path) -> None:
    snap, report = build_snapshot([(ImporterFormat.GRYPE, realdata / GRYPE / "grype-keycloak-21.0.2.json")])
    (host,) = snap.hosts
    assert host.id == (
        "docker.io/keycloak/keycloak:21.0.2@sha256:"
        "347a0d748d05a050dc64b92de2246d2240db6eb38afbc17c3c08d0acb0db1b50"
    )
    assert host.os is not None and (host.os.family, host.os.version) == ("redhat", "9.1")
    # descriptor.timestamp, not descriptor.db.built
    assert host.last_scan == datetime(2023, 9, 1, 12, 13, 42, 201940, tzinfo=UTC)
    assert [f.id for f in host.findings] == [
        "CVE-2020-12413/nspr",
        "CVE-2020-12413/nss",
        "CVE-2020-12413/nss-softokn",
        "CVE-2020-12413/nss-softokn-freebl",
        "CVE-2020-12413/nss-sysinit",
        "CVE-2020-12413/nss-util",
    ]
    for f in host.findings:
        assert f.severity == "low"
        assert f.fixed_version is None
        assert f.provenance["fix_state"] == "wont-fix"
        assert (f.cvss, f.cvss_source) == (5.9, "nvd")
        assert f.published_at is None  # grype has no published date
        assert f.provenance["severity"] == "redhat"
    nss = host.findings[1]
    assert nss.package is not None
    assert nss.package.purl == (
        "pkg:rpm/rhel/nss@3.79.0-17.el9_1?arch=x86_64&upstream=nss-3.79.0-17.el9_1.src.rpm&distro=rhel-9.1"
    )
    assert (report.entries_read, report.findings_written, report.merged) == (6, 6, 0)


def test_chainguard_ruby_merges_the_ghsa_alias(realdata: Path) -> None:
    snap, report = build_snapshot([(ImporterFormat.GRYPE, realdata / GRYPE / "grype-chainguard-ruby.json")])
    (host,) = snap.hosts
    assert host.id == "cgr.dev/chainguard/ruby:latest-3.0"
    found = {f.id: f for f in host.findings}
    assert sorted(found) == ["CVE-2023-28755/ruby-3.0", "CVE-2023-28755/uri"]
    ruby = found["CVE-2023-28755/ruby-3.0"]
    assert ruby.fixed_version == "3.0.6-r0" and ruby.severity == "high"
    assert (ruby.cvss, ruby.cvss_source) == (7.5, "nvd")
    uri = found["CVE-2023-28755/uri"]
    assert uri.aliases == ("GHSA-hv5j-3h9f-99c2",)
    # the CVE match (fix state unknown) takes the GHSA match's fix
    assert uri.fixed_version == "0.10.2"
    assert uri.provenance["fixed_version"] == "from GHSA-hv5j-3h9f-99c2"
    assert uri.provenance["merged_entries"] == "2"
    (fr,) = report.files
    assert (fr.entries_read, fr.findings_written, len(fr.merged)) == (3, 2, 1)
    assert fr.merged[0].finding == "CVE-2023-28755/uri"
    assert fr.merged[0].reason.startswith("alias: GHSA-hv5j-3h9f-99c2")
    assert "$.matches[2]" in fr.merged[0].reason


def test_presenter_sample_without_a_scan_time_takes_the_file_mtime(realdata: Path) -> None:
    path = realdata / GRYPE / "grype-json-presenter-image.json"
    snap, report = build_snapshot([(ImporterFormat.GRYPE, path)])
    (fr,) = report.files
    assert fr.scan_time_source == "file_mtime"
    assert fr.scan_time == datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    when = datetime(2026, 1, 2, tzinfo=UTC)
    snap, _ = build_snapshot([(ImporterFormat.GRYPE, path)], scan_time=when)
    (host,) = snap.hosts
    assert host.id == "user-input" and host.last_scan == when
    p1, p2 = host.findings
    assert (p1.id, p1.severity, p1.cvss, p1.fixed_version) == ("CVE-1999-0001/package-1", "low", 8.2, "1.2.1")
    assert p1.provenance["fixed_versions"] == "1.2.1,2.1.3,3.4.0"
    assert (p1.epss, p1.epss_percentile, p1.provenance["epss"]) == (0.03, 0.42, "grype")
    # no purl in the report: built from the distro, epoch and arch it gives
    assert p1.package is not None and p1.package.purl == "pkg:rpm/centos/package-1@1.1.1?arch=x86_64&epoch=2"
    assert (p2.severity, p2.fixed_version, p2.kev) == ("critical", None, None)
    assert p2.provenance["grype_known_exploited"] == "Known"


def test_negligible_is_low_and_unknown_words_fail(
    realdata: Path, write_json: Callable[[str, object], Path]
) -> None:
    doc = json.loads((realdata / GRYPE / "grype-keycloak-21.0.2.json").read_text())
    doc["matches"][0]["vulnerability"]["severity"] = "Negligible"
    rep = get_importer(ImporterFormat.GRYPE).load(write_json("g.json", doc))
    assert rep.entries[0].severity == "low"
    doc["matches"][0]["vulnerability"]["severity"] = "Meh"
    with pytest.raises(ImporterError, match=r"\$\.matches\[0\]\.vulnerability\.severity: unknown severity 'Meh'"):
        get_importer(ImporterFormat.GRYPE).load(write_json("g.json", doc))
    doc["matches"][0]["vulnerability"]["severity"] = "Low"
    doc["matches"][0]["vulnerability"]["fix"]["state"] = "maybe"
    with pytest.raises(ImporterError, match="unknown Grype fix state 'maybe'"):
        get_importer(ImporterFormat.GRYPE).load(write_json("g.json", doc))
