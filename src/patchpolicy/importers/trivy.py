"""Trivy JSON reports (``trivy image|fs|repo|vm --format json``, SchemaVersion 2).

Mapping: ``Results[].Vulnerabilities[]`` are entries; ``Severity`` is Trivy's choice
among vendors (``SeveritySource`` goes to provenance); CVSS prefers NVD v3, then the
severity source's vendor; ``Status: will_not_fix`` drops the fixed version and records
``fix_state: wont-fix``; ``VendorIDs`` (DSA-..., RHSA-...) give the patch id. The host
id is the image's RepoTag when Trivy read an archive, a repository's RepoURL or
directory name (``_host_id_first``). Trivy's JSON carries no KEV field.
"""

from __future__ import annotations

from patchpolicy.importers._common import (
    FIX_STATE_WONT_FIX,
    CvssCandidate,
    best_cvss,
    build_purl,
    check_cvss,
    is_archive_path,
    last_path_component,
    normalize_source,
    purl_for_ecosystem,
    severity_word,
)
from patchpolicy.importers._json import Node
from patchpolicy.importers.detect import wrong_format
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, Importer, ParsedReport
from patchpolicy.model.fleet import OsRecord, PackageRecord

# Trivy Status -> (provenance fix_state, keeps the fixed version). "not_affected" is a status.
_STATUS: dict[str, tuple[str, bool]] = {
    "fixed": ("fixed", True),
    "affected": ("not-fixed", True),
    "will_not_fix": (FIX_STATE_WONT_FIX, False),
    "fix_deferred": ("deferred", True),
    "end_of_life": ("end-of-life", True),
    "under_investigation": ("under-investigation", True),
    "unknown": ("unknown", True),
    "not_affected": ("not-affected", True),
}

# Trivy result Type -> OSV ecosystem name, for building a purl when Trivy gave none.
_LANG_ECOSYSTEM = {
    "gomod": "Go", "gobinary": "Go", "cargo": "crates.io", "rustbinary": "crates.io",
    "npm": "npm", "yarn": "npm", "pnpm": "npm", "node-pkg": "npm", "pip": "PyPI",
    "pipenv": "PyPI", "poetry": "PyPI", "uv": "PyPI", "python-pkg": "PyPI",
    "bundler": "RubyGems", "gemspec": "RubyGems", "composer": "Packagist", "pom": "Maven",
    "jar": "Maven", "gradle": "Maven", "sbt": "Maven", "nuget": "NuGet", "pub": "Pub",
    "hex": "Hex", "debian": "Debian", "ubuntu": "Ubuntu", "alpine": "Alpine",
}
_RPM_FAMILIES = frozenset(
    {"redhat", "centos", "rocky", "alma", "amazon", "oracle", "fedora", "photon", "cbl-mariner"}
)


def _purl(result_type: str | None, name: str, version: str | None) -> str | None:
    if result_type is None:
        return None
    if result_type in _RPM_FAMILIES:
        epoch = None
        if version and ":" in version:
            epoch, _, version = version.partition(":")
        return build_purl("rpm", name, version, result_type, {"epoch": epoch} if epoch else None)
    ecosystem = _LANG_ECOSYSTEM.get(result_type)
    return None if ecosystem is None else purl_for_ecosystem(ecosystem, name, version)


class TrivyImporter(Importer):
    format = ImporterFormat.TRIVY

    def parse(self, root: Node) -> ParsedReport:
        root.as_dict()
        schema = root.get("SchemaVersion")
        if schema is None:
            raise wrong_format(root, self.format, "no 'SchemaVersion'")
        if schema.value != 2:
            raise schema.error(f"unsupported Trivy SchemaVersion {schema.value!r}: expected 2")
        artifact = root.get_str("ArtifactName")
        meta = root.get("Metadata")
        keys: list[str] = [artifact] if artifact else []
        match: list[str] = []
        os_rec = None
        if meta is not None:
            ref = meta.get_str("Reference")
            keys += [ref] if ref else []
            keys += meta.str_list("RepoTags") + meta.str_list("RepoDigests")
            image_id = meta.get_str("ImageID")
            keys += [image_id] if image_id else []
            # Content digests name the image whoever scanned it; tags and paths do not.
            match += meta.str_list("RepoDigests") + ([image_id] if image_id else [])
            os_node = meta.get("OS")
            if os_node is not None:
                os_rec = OsRecord(family=os_node.get_str("Family"), version=os_node.get_str("Name"))
        artifact_id = root.get_str("ArtifactID")
        keys += [artifact_id] if artifact_id else []
        if not keys:
            raise root.error("missing required field 'ArtifactName'")
        keys = self._host_id_first(keys, artifact, root.get_str("ArtifactType"), meta)
        tool_node = root.get("Trivy")
        entries: list[Entry] = []
        for result in root.get_list("Results"):
            target = result.get_str("Target")
            rtype = result.get_str("Type")
            entries += [self._entry(v, target, rtype) for v in result.get_list("Vulnerabilities")]
        return ParsedReport(
            file=root.file,
            format=self.format,
            host_keys=tuple(dict.fromkeys(keys)),
            entries=entries,
            scan_time=root.get_timestamp("CreatedAt"),
            tool="trivy",
            tool_version=None if tool_node is None else tool_node.get_str("Version"),
            host_name=keys[0],
            os=os_rec,
            match_keys=tuple(dict.fromkeys(match)),
        )

    @staticmethod
    def _host_id_first(keys: list[str], artifact: str | None, kind: str | None, meta: Node | None) -> list[str]:
        """The host id first: what names the artifact, not where the scan read it from.

        An image read from an archive (``--input alpine.tar``) is named by its first
        RepoTag (name and tag), else its first RepoDigest; a repository by the RepoURL
        Trivy records, else, for a local checkout, its directory's name. The path stays
        a host key, for the inventory.
        """
        first: str | None = None
        if meta is not None:
            first = meta.get_str("RepoURL")
            if first is None and artifact and is_archive_path(artifact):
                first = next(iter(meta.str_list("RepoTags") + meta.str_list("RepoDigests")), None)
        if first is None and artifact and kind == "repository":
            first = last_path_component(artifact)
        return list(dict.fromkeys([first, *keys] if first else keys))

    def _entry(self, v: Node, target: str | None, rtype: str | None) -> Entry:
        name = v.req_str("PkgName")
        version = v.get_str("InstalledVersion")
        ident = v.get("PkgIdentifier")
        purl = None if ident is None else ident.get_str("PURL")
        prov: dict[str, str] = {}
        if purl is None:
            purl = _purl(rtype, name, version)
            if purl is not None:
                prov["purl"] = "built"
        entry = Entry(
            vuln=v.req_str("VulnerabilityID"),
            where=v.path,
            package=PackageRecord(name=name, version=version, purl=purl, ecosystem=rtype),
            location=v.get_str("PkgPath") or target,
            fixed_version=v.get_str("FixedVersion"),
            published_at=v.get_timestamp("PublishedDate"),
            provenance=prov,
        )
        sev = v.get("Severity")
        if sev is not None:
            entry.severity = severity_word(sev)
            source = v.get_str("SeveritySource")
            if source:
                prov["severity"] = source
        status = v.get("Status")
        if status is not None:
            state = _STATUS.get(status.as_str())
            if state is None:
                raise status.error(f"unknown Trivy status {status.value!r}")
            prov["fix_state"], keep_fix = state
            if not keep_fix:
                entry.fixed_version = None
            if status.value == "not_affected":
                entry.status = "not_affected"
                entry.status_reason = "trivy: not_affected"
        vendor_ids = v.str_list("VendorIDs")
        if vendor_ids:
            entry.patch = vendor_ids[0]
            if len(vendor_ids) > 1:
                prov["advisories"] = ",".join(vendor_ids)
        data_source = v.get("DataSource")
        vendors = tuple(
            normalize_source(s)
            for s in (v.get_str("SeveritySource"), None if data_source is None else data_source.get_str("ID"))
            if s
        )
        candidates: list[CvssCandidate] = []
        cvss = v.get("CVSS")
        for source, scores in cvss.members() if cvss is not None else ():
            for key, ver in (("V3Score", 3), ("V40Score", 4), ("V2Score", 2)):
                node = scores.get(key)
                if node is not None:
                    score = check_cvss(node, node.as_float())
                    candidates.append(CvssCandidate(normalize_source(source), ver, score))
        best = best_cvss(candidates, vendors)
        if best is not None:
            entry.cvss, entry.cvss_source = best.score, best.source
            prov["cvss"] = f"{best.source} v{best.version}"
        return entry
