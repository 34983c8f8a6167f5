"""OSV-Scanner JSON reports (``osv-scanner --format json``, v1 and v2 shapes).

Mapping: each vulnerability record under ``results[].packages[]`` is an entry; the
group's other ids join its aliases. Severity comes from ``database_specific.severity``
(GitHub's words), else from the CVSS v3 vector's computed base score, else (v2) the
group's ``max_severity``. The fixed version is the ``fixed`` event of the SEMVER range
that contains the installed version, or the only fixed version offered; where ranges
are ecosystem-specific and several fixes exist it stays null, with every candidate in
provenance. OSV-Scanner reports carry no scan time: the file's modification time is used unless ``--scan-time`` is given.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePath

from patchpolicy.importers._common import (
    check_cvss,
    cvss3_base_score,
    last_path_component,
    purl_for_ecosystem,
    semver_key,
    severity_of_score,
    severity_word,
)
from patchpolicy.importers._json import Node
from patchpolicy.importers.detect import wrong_format
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, Importer, ParsedReport
from patchpolicy.model.fleet import PackageRecord


def _fixed_versions(
    record: Node, name: str, ecosystem: str | None, installed: str | None
) -> tuple[str | None, str, list[str]]:
    """(the fix for ``installed``, the fix state, every fixed version offered).

    The state is ``fixed``, ``not-fixed`` (a range containing the installed version has
    no fix) or ``unknown`` (ranges cannot be compared exactly and several fixes exist).
    """
    affected = []
    for a in record.get_list("affected"):
        pkg = a.get("package")
        if pkg is None or pkg.get_str("name") != name:
            continue
        eco = pkg.get_str("ecosystem")
        if ecosystem is None or eco == ecosystem or (eco or "").split(":")[0] == ecosystem.split(":")[0]:
            affected.append(a)
    all_fixed: list[str] = []
    containing: list[str | None] = []
    inst_key = semver_key(installed) if installed else None
    for a in affected:
        for rng in a.get_list("ranges"):
            events = [(k, n.as_str()) for e in rng.get_list("events") for k, n in e.members()]
            all_fixed += [v for k, v in events if k == "fixed"]
            if rng.get_str("type") != "SEMVER" or inst_key is None:
                continue
            keyed = [(k, v, semver_key(v)) for k, v in events if k in ("introduced", "fixed", "last_affected")]
            if any(sk is None for _, _, sk in keyed):
                continue
            keyed.sort(key=lambda t: t[2] or ())
            start = None
            for kind, value, sk in keyed:
                assert sk is not None
                if kind == "introduced":
                    if start is None:
                        start = sk
                    continue
                if start is not None and start <= inst_key and (
                    inst_key < sk if kind == "fixed" else inst_key <= sk
                ):
                    containing.append(value if kind == "fixed" else None)
                start = None
            if start is not None and start <= inst_key:
                containing.append(None)  # introduced and never fixed
    distinct = list(dict.fromkeys(all_fixed))
    if containing:
        return containing[0], "fixed" if containing[0] else "not-fixed", distinct
    if len(distinct) == 1:
        return distinct[0], "fixed", distinct
    return None, "unknown" if distinct else "not-fixed", distinct


def _source_name(record_id: str, ecosystem: str | None) -> str:
    prefix = record_id.split("-", 1)[0].lower()
    if prefix == "cve" and ecosystem:
        return ecosystem.split(":", 1)[0].lower()
    return prefix


class OsvScannerImporter(Importer):
    format = ImporterFormat.OSV_SCANNER

    def parse(self, root: Node) -> ParsedReport:
        root.as_dict()
        if not isinstance(root.as_dict().get("results"), list):
            raise wrong_format(root, self.format, "no 'results' array")
        entries: list[Entry] = []
        paths: list[str] = []
        for result in root.get_list("results"):
            source = result.req("source")
            path = source.req_str("path")
            paths.append(path)
            for pkg_node in result.get_list("packages"):
                entries += self._package_entries(pkg_node, path)
        return ParsedReport(
            file=root.file,
            format=self.format,
            host_keys=self._host_keys(paths, root.file),
            entries=entries,
            tool="osv-scanner",
        )

    @staticmethod
    def _host_keys(paths: list[str], file: str) -> tuple[str, ...]:
        stripped = [p.rstrip("/") or "/" for p in paths]
        common = ""
        try:
            common = posixpath.commonpath(stripped) if stripped else ""
        except ValueError:  # absolute and relative paths mixed
            common = ""
        if len(paths) == 1 and not paths[0].endswith("/"):
            common = posixpath.dirname(stripped[0])
        first = common or PurePath(file).name
        # The checkout's directory names the repository; the full path stays a key.
        repo = last_path_component(common) if common else None
        return tuple(dict.fromkeys([repo, first, *paths] if repo else [first, *paths]))

    def _package_entries(self, pkg_node: Node, location: str) -> list[Entry]:
        pkg = pkg_node.req("package")
        name = pkg.req_str("name")
        version = pkg.get_str("version")
        ecosystem = pkg.get_str("ecosystem")
        purl = pkg.get_str("purl")
        built = False
        if purl is None and ecosystem is not None:
            purl = purl_for_ecosystem(ecosystem, name, version)
            built = purl is not None
        package = PackageRecord(name=name, version=version, purl=purl, ecosystem=ecosystem)
        groups = _groups(pkg_node)
        out = []
        for rec in pkg_node.get_list("vulnerabilities"):
            vid = rec.req_str("id")
            aliases = rec.str_list("aliases")
            group = next((g for g in groups if vid in g[0]), None)
            if group is not None:
                aliases += sorted(group[0] - {vid})
            prov: dict[str, str] = {"purl": "built"} if built else {}
            entry = Entry(
                vuln=vid,
                where=rec.path,
                aliases=tuple(dict.fromkeys(a for a in aliases if a != vid)),
                package=package,
                location=location,
                published_at=rec.get_timestamp("published"),
                provenance=prov,
            )
            entry.fixed_version, prov["fix_state"], candidates = _fixed_versions(
                rec, name, ecosystem, version
            )
            if len(candidates) > 1:
                prov["fixed_versions"] = ",".join(candidates)
            _cvss_and_severity(entry, rec, _source_name(vid, ecosystem), group, prov)
            out.append(entry)
        return out


_Group = tuple[set[str], float | None, Node]
"""An osv-scanner group: the ids it joins, its max severity, and the node to blame."""


def _groups(pkg_node: Node) -> list[_Group]:
    """The package's groups of ids that name one vulnerability, with their max severity."""
    groups: list[_Group] = []
    for g in pkg_node.get_list("groups"):
        ids = set(g.str_list("ids")) | set(g.str_list("aliases"))
        max_sev: float | None = None
        ms = g.get("max_severity")
        if ms is not None and ms.as_str().strip():
            try:
                max_sev = check_cvss(ms, float(ms.as_str()))
            except ValueError as e:
                raise ms.error(f"max_severity {ms.value!r} is not a number") from e
        groups.append((ids, max_sev, ms if ms is not None else g))
    return groups


def _cvss_and_severity(entry: Entry, rec: Node, source: str, group: _Group | None,
                       prov: dict[str, str]) -> None:
    """CVSS from the record's v3 vector, else the group's max severity; the severity word
    from ``database_specific``, else from the score."""
    for sev in rec.get_list("severity"):
        if sev.get_str("type") == "CVSS_V3":
            score = cvss3_base_score(sev.req_str("score"))
            if score is None:
                raise sev.req("score").error(f"invalid CVSS v3 vector {sev.req_str('score')!r}")
            entry.cvss, entry.cvss_source = score, source
            prov["cvss"] = f"{source} v3 (computed from vector)"
            break
    if entry.cvss is None and group is not None and group[1] is not None:
        entry.cvss, entry.cvss_source = group[1], "osv-scanner"
        prov["cvss"] = "osv-scanner max_severity"
    db = rec.get("database_specific")
    word = None if db is None or not isinstance(db.value, dict) else db.get("severity")
    if word is not None:
        entry.severity = severity_word(word)
        prov["severity"] = f"{source} database_specific"
    elif entry.cvss is not None:
        entry.severity = severity_of_score(entry.cvss)
        prov["severity"] = "cvss"
