"""Grype JSON reports (``grype -o json``).

Mapping: each ``matches[]`` item is an entry; ``Negligible`` severity is low; CVSS
prefers NVD v3 (the match's own scores when its namespace is NVD, else the related NVD
record), then the match's vendor namespace; ``fix.state: wont-fix`` drops the fixed
version. Grype reports have no published date: ``published_at`` stays null.
``knownExploited`` with a ``dateAdded`` fills ``kev``; an image read from an archive is
named by its first tag.
"""

from __future__ import annotations

from datetime import UTC, date

from patchpolicy.importers._common import (
    FIX_STATE_WONT_FIX,
    CvssCandidate,
    best_cvss,
    build_purl,
    check_cvss,
    is_archive_path,
    normalize_source,
    purl_for_ecosystem,
    severity_word,
)
from patchpolicy.importers._json import Node
from patchpolicy.importers.detect import wrong_format
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, Importer, ParsedReport
from patchpolicy.model.common import parse_day
from patchpolicy.model.fleet import KevRecord, OsRecord, PackageRecord

_FIX_STATES = {"fixed", "not-fixed", FIX_STATE_WONT_FIX, "unknown", ""}
_LANG_ECOSYSTEM = {
    "gem": "RubyGems", "npm": "npm", "python": "PyPI", "go-module": "Go",
    "rust-crate": "crates.io", "dotnet": "NuGet", "php-composer": "Packagist",
    "dart-pub": "Pub", "hex": "Hex",
}
_DISTRO_TYPES = {"rpm", "deb", "apk"}


def _day(node: Node | None) -> date | None:
    """A KEV date as Grype writes it: ``2021-11-03`` or a timestamp (its UTC day)."""
    if node is None or node.value in (None, ""):
        return None
    text = node.as_str()
    if len(text) == 10:
        try:
            return parse_day(text)
        except ValueError as e:
            raise node.error(str(e)) from e
    return node.as_timestamp().astimezone(UTC).date()


def _provider(namespace: str | None) -> str | None:
    """``redhat:distro:redhat:9`` -> ``redhat``; ``nvd:cpe`` -> ``nvd``."""
    if not namespace:
        return None
    return normalize_source(namespace.split(":", 1)[0] if namespace != "nvd:cpe" else namespace)


def _cvss_candidates(record: Node, default_source: str | None) -> list[CvssCandidate]:
    out = []
    for c in record.get_list("cvss"):
        metrics = c.get("metrics")
        score_node = None if metrics is None else metrics.get("baseScore")
        if score_node is None:
            continue
        source = c.get_str("source")
        source = normalize_source(source) if source else default_source
        version = (c.get_str("version") or "3").split(".", 1)[0]
        if source is None or version not in ("2", "3", "4"):
            continue
        out.append(CvssCandidate(source, int(version), check_cvss(score_node, score_node.as_float())))
    return out


class GrypeImporter(Importer):
    format = ImporterFormat.GRYPE

    def parse(self, root: Node) -> ParsedReport:
        root.as_dict()
        if not root.has("matches"):
            raise wrong_format(root, self.format, "no 'matches'")
        source = root.get("source")
        if source is None:
            raise wrong_format(root, self.format, "no 'source'")
        keys, match = self._host_keys(source)
        distro = root.get("distro")
        os_rec = None
        distro_name = None
        if distro is not None:
            distro_name = distro.get_str("name")
            if distro_name:
                os_rec = OsRecord(family=distro_name, version=distro.get_str("version"))
        desc = root.get("descriptor")
        entries = [self._entry(m, distro_name) for m in root.get_list("matches")]
        return ParsedReport(
            file=root.file,
            format=self.format,
            host_keys=keys,
            entries=entries,
            scan_time=None if desc is None else desc.get_timestamp("timestamp"),
            tool="grype",
            tool_version=None if desc is None else desc.get_str("version"),
            host_name=keys[0],
            os=os_rec,
            match_keys=match,
        )

    @staticmethod
    def _host_keys(source: Node) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(host keys, match keys): the content digests name the image whoever scanned it."""
        target = source.req("target")
        if isinstance(target.value, str):
            if not target.value:
                raise target.error("empty scan target")
            return (target.value,), ()
        keys: list[str] = []
        for field in ("userInput",):
            text = target.get_str(field)
            keys += [text] if text else []
        keys += target.str_list("tags") + target.str_list("repoDigests")
        for field in ("manifestDigest", "imageID", "name", "path"):
            text = target.get_str(field)
            keys += [text] if text else []
        if not keys:
            raise target.error("no name for the scanned artifact (userInput, imageID, ...)")
        user_input = target.get_str("userInput")
        named = target.str_list("tags") + target.str_list("repoDigests")
        if user_input and is_archive_path(user_input) and named:
            keys.insert(0, named[0])  # the image's name and tag, not the archive's path
        match = target.str_list("repoDigests") + [
            d for f in ("manifestDigest", "imageID") if (d := target.get_str(f))
        ]
        return tuple(dict.fromkeys(keys)), tuple(dict.fromkeys(match))

    def _entry(self, match: Node, distro: str | None) -> Entry:
        vuln = match.req("vulnerability")
        art = match.req("artifact")
        vid = vuln.req_str("id")
        name = art.req_str("name")
        version = art.get_str("version")
        ptype = art.get_str("type")
        prov: dict[str, str] = {}
        purl = art.get_str("purl") or self._purl(art, ptype, name, version, distro)
        if purl is not None and not art.get_str("purl"):
            prov["purl"] = "built"
        locations = art.get_list("locations")
        location = locations[0].get_str("path") if locations else None
        related = match.get_list("relatedVulnerabilities")
        aliases = tuple(dict.fromkeys(r.req_str("id") for r in related if r.req_str("id") != vid))
        entry = Entry(
            vuln=vid,
            where=match.path,
            aliases=aliases,
            package=PackageRecord(name=name, version=version, purl=purl, ecosystem=ptype),
            location=location,
            provenance=prov,
        )
        namespace = vuln.get_str("namespace")
        provider = _provider(namespace)
        sev = vuln.get("severity")
        if sev is not None and sev.value != "":
            entry.severity = severity_word(sev)
            if provider:
                prov["severity"] = provider
        _fix(entry, match, vuln, prov)
        advisories = [a.req_str("id") for a in vuln.get_list("advisories") if a.get_str("id")]
        if advisories:
            entry.patch = advisories[0]
            if len(advisories) > 1:
                prov["advisories"] = ",".join(advisories)
        _cvss(entry, vuln, related, provider, prov)
        # Grype >= 0.80 carries EPSS and KEV flags itself.
        ids = {vid, *aliases}
        _epss(entry, vuln, ids, prov)
        _known_exploited(entry, vuln, ids, prov)
        return entry

    @staticmethod
    def _purl(art: Node, ptype: str | None, name: str, version: str | None, distro: str | None) -> str | None:
        if ptype in _LANG_ECOSYSTEM:
            return purl_for_ecosystem(_LANG_ECOSYSTEM[ptype], name, version)
        if ptype in _DISTRO_TYPES and distro:
            quals: dict[str, str] = {}
            meta = art.get("metadata")
            if meta is not None and isinstance(meta.value, dict):
                epoch = meta.get("epoch")
                if epoch is not None:
                    quals["epoch"] = str(epoch.value)
                arch = meta.get_str("architecture")
                if arch:
                    quals["arch"] = arch
            return build_purl(ptype, name, version, distro, quals)
        return None


def _fix(entry: Entry, match: Node, vuln: Node, prov: dict[str, str]) -> None:
    """The fix state and version: Grype's suggested version where a match detail gives one."""
    fix = vuln.get("fix")
    if fix is None:
        return
    state_node = fix.get("state")
    state = "" if state_node is None else state_node.as_str()
    if state not in _FIX_STATES:
        raise fix.req("state").error(f"unknown Grype fix state {state!r}")
    versions = fix.str_list("versions")
    if state:
        prov["fix_state"] = state
    if state == "fixed" and versions:
        suggested = [
            s for d in match.get_list("matchDetails")
            if (f := d.get("fix")) is not None and (s := f.get_str("suggestedVersion"))
        ]
        entry.fixed_version = suggested[0] if suggested else versions[0]
        if len(versions) > 1:
            prov["fixed_versions"] = ",".join(versions)


def _cvss(entry: Entry, vuln: Node, related: list[Node], provider: str | None,
          prov: dict[str, str]) -> None:
    """CVSS: the match's own record, then related records (same vuln under other ids)."""
    vid = vuln.req_str("id")
    candidates = _cvss_candidates(vuln, provider)
    own = set(candidates)
    via: dict[CvssCandidate, str] = {}
    for r in related:
        for c in _cvss_candidates(r, _provider(r.get_str("namespace"))):
            candidates.append(c)
            if r.req_str("id") != vid and c not in own:
                via.setdefault(c, r.req_str("id"))
    best = best_cvss(candidates, (provider,) if provider else ())
    if best is not None:
        entry.cvss, entry.cvss_source = best.score, best.source
        prov["cvss"] = f"{best.source} v{best.version}" + (
            f" (via {via[best]})" if best in via else ""
        )


def _epss(entry: Entry, vuln: Node, ids: set[str], prov: dict[str, str]) -> None:
    """The first EPSS record naming one of ``ids``, both values checked to lie in 0..1."""
    for e in vuln.get_list("epss"):
        if e.get_str("cve") in ids:
            score, pct = e.req("epss"), e.req("percentile")
            for node in (score, pct):
                if not 0.0 <= node.as_float() <= 1.0:
                    raise node.error(f"EPSS value {node.value} is outside 0..1")
            entry.epss, entry.epss_percentile = score.as_float(), pct.as_float()
            prov["epss"] = "grype"
            return


def _known_exploited(entry: Entry, vuln: Node, ids: set[str], prov: dict[str, str]) -> None:
    """The first known-exploited record naming one of ``ids``: a KEV record if it is dated."""
    for k in vuln.get_list("knownExploited"):
        if k.get_str("cve") in ids:
            ransomware = k.get_str("knownRansomwareCampaignUse")
            prov["grype_known_exploited"] = ransomware or "listed"
            added = _day(k.get("dateAdded"))
            if added is not None:
                entry.kev = KevRecord(
                    date_added=added, due_date=_day(k.get("dueDate")), ransomware=ransomware == "Known"
                )
            return
