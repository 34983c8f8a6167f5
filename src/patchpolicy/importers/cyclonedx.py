"""CycloneDX BOMs with vulnerabilities (specVersion 1.4-1.6; 1.2/1.3 BOMs have none),
including standalone VEX documents.

Mapping: each (vulnerability, ``affects[]`` ref) pair is an entry; the ref resolves to a
BOM component (by ``bom-ref``), else to the package URL after a BOM-Link's ``#``.
Severity comes from the rating of the vulnerability's own ``source``, then NVD, then the
first rating with a severity; CVSS prefers NVD v3, then vendors. VEX
``analysis.state``: ``not_affected``/``false_positive`` -> status ``not_affected``
(``status_reason`` = the justification), ``resolved`` -> ``fixed``, ``exploitable`` and
``in_triage`` stay ``open``. The BOM's ``metadata.component`` names the host (a path
name of Trivy's repository BOMs by its last part). A standalone VEX (no subject, no
components) is ``vex_only``: ``assemble`` applies it to the reports it names.
"""

from __future__ import annotations

from pathlib import PurePath
from urllib.parse import unquote

from patchpolicy.importers._common import (
    CvssCandidate,
    best_cvss,
    check_cvss,
    last_path_component,
    normalize_source,
    severity_word,
)
from patchpolicy.importers._json import Node
from patchpolicy.importers.detect import wrong_format
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, Importer, ParsedReport
from patchpolicy.model.fleet import OsRecord, PackageRecord, SeverityName

_SPEC_VERSIONS = {"1.2", "1.3", "1.4", "1.5", "1.6"}
_METHOD_VERSION = {"CVSSv2": 2, "CVSSv3": 3, "CVSSv31": 3, "CVSSv4": 4}
_VEX_STATES = {
    "not_affected", "false_positive", "resolved", "resolved_with_pedigree", "exploitable", "in_triage",
}


def _qualified_name(name: str, group: str | None, ptype: str | None) -> str:
    """``group:name`` for Maven (as Trivy and OSV name them), ``group/name`` otherwise."""
    if not group:
        return name
    return f"{group}:{name}" if ptype == "maven" else f"{group}/{name}"


def package_from_purl(purl: str) -> PackageRecord | None:
    """Name and version read back from a package URL (no validation beyond the shape)."""
    if not purl.startswith("pkg:"):
        return None
    body = purl[4:].split("#", 1)[0].split("?", 1)[0]
    head, _, last = body.rpartition("/")
    name_part, _, version = last.partition("@")
    segments = [unquote(s) for s in head.split("/") if s] + [unquote(name_part)]
    if len(segments) < 2 or not segments[-1]:
        return None
    ptype, *namespace, name = segments
    return PackageRecord(
        name=_qualified_name(name, "/".join(namespace) or None, ptype.lower()),
        version=unquote(version) or None,
        purl=purl,
        ecosystem=ptype.lower(),
    )


class CycloneDxImporter(Importer):
    format = ImporterFormat.CYCLONEDX

    def parse(self, root: Node) -> ParsedReport:
        root.as_dict()
        if root.get_str("bomFormat") != "CycloneDX":
            raise wrong_format(root, self.format, "'bomFormat' is not 'CycloneDX'")
        spec = root.req("specVersion")
        if spec.as_str() not in _SPEC_VERSIONS:
            raise spec.error(f"unsupported CycloneDX specVersion {spec.value!r}: expected 1.2 to 1.6")
        meta = root.get("metadata")
        subject = None if meta is None else meta.get("component")
        refs: dict[str, Node] = {}
        os_rec = None
        stack = ([subject] if subject is not None else []) + root.get_list("components")
        walked: list[Node] = []
        while stack:
            comp = stack.pop(0)
            walked.append(comp)
            ref = comp.get_str("bom-ref")
            if ref:
                refs.setdefault(ref, comp)
            if comp.get_str("type") == "operating-system" and os_rec is None:
                os_rec = OsRecord(family=comp.get_str("name"), version=comp.get_str("version"))
            stack += comp.get_list("components")
        keys: list[str] = []
        if subject is not None:
            name, version = subject.get_str("name"), subject.get_str("version")
            if name and not version and not subject.get_str("purl") and subject.get_str("type") == "application":
                # Trivy names a repository's BOM by the scanned path: its last part is the name.
                repo = last_path_component(name)
                keys += [repo] if repo else []
            if name:
                keys += [f"{name}@{version}", name] if version else [name]
            for field in ("purl", "bom-ref"):
                text = subject.get_str(field)
                keys += [text] if text else []
        serial = root.get_str("serialNumber")
        keys += [serial] if serial else []
        if not keys:
            keys = [PurePath(root.file).name]
        subject_pkg = None if subject is None else self._package(subject)
        entries: list[Entry] = []
        for vuln in root.get_list("vulnerabilities"):
            entries += self._entries(vuln, refs, subject_pkg)
        components = tuple(
            pkg for comp in walked if comp is not subject
            if (pkg := self._package(comp)) is not None and pkg.purl
        )
        return ParsedReport(
            file=root.file,
            format=self.format,
            host_keys=tuple(dict.fromkeys(keys)),
            entries=entries,
            scan_time=None if meta is None else meta.get_timestamp("timestamp"),
            tool="cyclonedx",
            tool_version=spec.as_str(),
            host_name=keys[0],
            os=os_rec,
            components=components,
            # Nothing of its own (no subject, no components): statements about other BOMs.
            vex_only=bool(entries) and subject is None and not root.get_list("components"),
        )

    @staticmethod
    def _package(comp: Node) -> PackageRecord | None:
        name = comp.get_str("name")
        if name is None:
            return None
        purl = comp.get_str("purl")
        ptype = None if purl is None else purl[4:].split("/", 1)[0].lower()
        return PackageRecord(
            name=_qualified_name(name, comp.get_str("group"), ptype),
            version=comp.get_str("version"),
            purl=purl,
            ecosystem=ptype,
        )

    def _entries(self, vuln: Node, refs: dict[str, Node], subject: PackageRecord | None) -> list[Entry]:
        vid = vuln.req_str("id")
        affects = vuln.get_list("affects")
        targets: list[tuple[str, PackageRecord | None, str | None, Node | None]] = []
        for a in affects:
            ref = a.req_str("ref")
            comp = refs.get(ref)
            if comp is not None:
                pkg = self._package(comp)
            else:
                fragment = ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref
                pkg = package_from_purl(fragment)
                if pkg is None:
                    raise a.req("ref").error(f"affects ref {ref!r} matches no component in the BOM")
            targets.append((a.path, pkg, ref, a))
        if not targets:
            targets.append((vuln.path, subject, None, None))
        return [self._entry(vuln, vid, where, pkg, ref, a) for where, pkg, ref, a in targets]

    def _entry(
        self, vuln: Node, vid: str, where: str, pkg: PackageRecord | None, ref: str | None, affect: Node | None
    ) -> Entry:
        prov: dict[str, str] = {}
        aliases = [r.get_str("id") for r in vuln.get_list("references")]
        entry = Entry(
            vuln=vid,
            where=where,
            aliases=tuple(dict.fromkeys(a for a in aliases if a and a != vid)),
            package=pkg,
            location=ref,
            published_at=vuln.get_timestamp("published"),
            provenance=prov,
        )
        source_node = vuln.get("source")
        own_source = None if source_node is None else source_node.get_str("name")
        own = normalize_source(own_source) if own_source else None
        severities: list[tuple[str, SeverityName]] = []
        candidates: list[CvssCandidate] = []
        for rating in vuln.get_list("ratings"):
            rs = rating.get("source")
            rsource = normalize_source((None if rs is None else rs.get_str("name")) or own or "unknown")
            sev = rating.get("severity")
            if sev is not None:
                word = severity_word(sev)
                if word != "unknown":
                    severities.append((rsource, word))
            score = rating.get("score")
            method = rating.get_str("method")
            if score is not None and method in _METHOD_VERSION:
                candidates.append(
                    CvssCandidate(rsource, _METHOD_VERSION[method], check_cvss(score, score.as_float()))
                )
        for preferred in (own, "nvd"):
            chosen = next((s for s in severities if s[0] == preferred), None)
            if chosen is not None:
                break
        else:
            chosen = severities[0] if severities else None
        if chosen is not None:
            entry.severity = chosen[1]
            prov["severity"] = chosen[0]
        best = best_cvss(candidates, (own,) if own else ())
        if best is not None:
            entry.cvss, entry.cvss_source = best.score, best.source
            prov["cvss"] = f"{best.source} v{best.version}"
        if affect is not None and pkg is not None and pkg.version:
            for v in affect.get_list("versions"):
                if v.get_str("version") == pkg.version and v.get_str("status") == "unaffected":
                    entry.status, entry.status_reason = "not_affected", "unaffected"
                    prov["vex_state"] = "unaffected"
        analysis = vuln.get("analysis")
        if analysis is not None:
            self._vex(analysis, entry)
        return entry

    @staticmethod
    def _vex(analysis: Node, entry: Entry) -> None:
        state_node = analysis.get("state")
        response = analysis.str_list("response")
        if response:
            entry.provenance["vex_response"] = ",".join(response)
        if state_node is None:
            return
        state = state_node.as_str()
        if state not in _VEX_STATES:
            raise state_node.error(f"unknown VEX analysis state {state!r}")
        entry.provenance["vex_state"] = state
        justification = analysis.get_str("justification")
        if state in ("not_affected", "false_positive"):
            entry.status = "not_affected"
            entry.status_reason = justification or state
        elif state in ("resolved", "resolved_with_pedigree"):
            entry.status = "fixed"
            entry.status_reason = state
            entry.fixed_at = analysis.get_timestamp("lastUpdated")
            if entry.fixed_at is not None:
                entry.provenance["fixed_at"] = "vex lastUpdated"
        else:  # exploitable, in_triage: still open; say why
            entry.status = "open"
            entry.status_reason = state
