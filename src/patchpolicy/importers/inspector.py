"""AWS Inspector (v2) findings: the JSON of ``aws inspector2 list-findings``.

Mapping (docs/importers.md has the table): one host per resource a finding names (EC2
instance id, ECR image ``registry/repository@digest``, Lambda function ARN); one entry
per vulnerable package of a finding (one without a package when it lists none).
``ACTIVE`` -> open, ``CLOSED`` -> fixed at ``updatedAt`` (else ``lastObservedAt``),
``SUPPRESSED`` -> not_affected; ``firstObservedAt`` -> ``first_seen_at``; a host's scan
time is the latest time Inspector looked at it: the latest ``lastObservedAt`` of its
findings, or a CLOSED finding's ``updatedAt`` when later (closing is an observation).

A file may hold several pages back to back (``{"findings": [...], "nextToken": ...}``
documents, as a paginated export concatenates them); all of them are read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from patchpolicy.importers._common import (
    CvssCandidate,
    best_cvss,
    build_purl,
    check_cvss,
    normalize_source,
    purl_for_ecosystem,
)
from patchpolicy.importers._json import Node, load_json_documents
from patchpolicy.importers.detect import wrong_format
from patchpolicy.importers.formats import ImporterFormat
from patchpolicy.importers.interface import Entry, Importer, ParsedReport
from patchpolicy.model.fleet import OsRecord, PackageRecord, SeverityName, StatusName

_SEVERITY: dict[str, SeverityName] = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "MEDIUM": "medium",
    "LOW": "low",
    "INFORMATIONAL": "none",
    "UNTRIAGED": "unknown",  # the vendor has not rated it yet; the CVSS score stays
}

_STATUS: dict[str, StatusName] = {"ACTIVE": "open", "CLOSED": "fixed", "SUPPRESSED": "not_affected"}

SUPPRESSED_REASON = "suppressed in AWS Inspector (a suppression rule matched; the finding names no reason)"

# packageManager -> OSV ecosystem, for a package URL; OS packages take the platform's.
_LANG_ECOSYSTEM = {
    "PYTHONPKG": "PyPI", "PIP": "PyPI", "PIPENV": "PyPI", "POETRY": "PyPI",
    "NPM": "npm", "NODEPKG": "npm", "YARN": "npm", "PNPM": "npm", "PACKAGE_JSON": "npm",
    "GEM": "RubyGems", "BUNDLER": "RubyGems", "GOBINARY": "Go", "GOMOD": "Go",
    "CARGO": "crates.io", "NUGET": "NuGet", "COMPOSER": "Packagist",
    "JAR": "Maven", "POM": "Maven", "GRADLE": "Maven",
}
_DEB_FAMILIES = frozenset({"debian", "ubuntu"})
_RPM_FAMILIES = {
    "amazon_linux": "amazon", "centos": "centos", "rhel": "redhat", "redhat": "redhat",
    "rocky_linux": "rocky", "alma_linux": "alma", "oracle": "oracle", "suse": "suse",
    "opensuse": "opensuse", "sles": "suse", "fedora": "fedora",
}


def _time(node: Node) -> datetime:
    """An ISO 8601 timestamp (AWS CLI v2) or epoch seconds (AWS CLI v1's default)."""
    if isinstance(node.value, int | float) and not isinstance(node.value, bool):
        try:
            return datetime.fromtimestamp(float(node.value), UTC)
        except (OverflowError, OSError, ValueError):
            raise node.error(f"{node.value!r} is not an epoch time") from None
    return node.as_timestamp()


def _opt_time(parent: Node, key: str) -> datetime | None:
    node = parent.get(key)
    return None if node is None or node.value == "" else _time(node)


def _platform(text: str | None) -> OsRecord | None:
    """``DEBIAN_10`` -> (debian, 10), ``AMAZON_LINUX_2`` -> (amazon_linux, 2)."""
    if not text:
        return None
    family, sep, version = text.lower().rpartition("_")
    if sep and version[:1].isdigit():
        return OsRecord(family=family, version=version)
    return OsRecord(family=text.lower(), version=None)


def _version(pkg: Node) -> str | None:
    """``[epoch:]version[-release]``, as the package manager writes it (epoch 0 omitted)."""
    version = pkg.get_str("version")
    if version is None:
        return None
    release = pkg.get_str("release")
    text = f"{version}-{release}" if release else version
    epoch = pkg.get("epoch")
    if epoch is not None and epoch.as_float() != 0:
        text = f"{int(epoch.as_float())}:{text}"
    return text


@dataclass
class _Host:
    """One resource's report, filled while the findings are read."""

    keys: tuple[str, ...]
    host_name: str | None
    os: OsRecord | None
    labels: dict[str, str]
    scan_time: datetime
    entries: list[Entry] = field(default_factory=list)
    # Every key is a resource's own name (instance id, address, digest, ARN); an ECR image
    # is also matched by its bare manifest digest (Grype's manifestDigest).
    match_keys: tuple[str, ...] = ()


class InspectorImporter(Importer):
    format = ImporterFormat.AWS_INSPECTOR2

    def load_reports(self, path: Path, label: str | None = None) -> list[ParsedReport]:
        """One report per resource, in the order the resources first appear. A file with
        no findings gives no report: it names no resource."""
        name = label if label is not None else str(path)
        return self.parse_documents(load_json_documents(path, name), name)

    def load(self, path: Path, label: str | None = None) -> ParsedReport:
        name = label if label is not None else str(path)
        reports = self.load_reports(path, label)
        if len(reports) != 1:
            raise Node(None, "$", name).error(
                f"expected findings on exactly one resource, found {len(reports)}"
            )
        return reports[0]

    def parse(self, root: Node) -> ParsedReport:
        reports = self.parse_documents([root], root.file)
        if len(reports) != 1:
            raise root.error(f"expected findings on exactly one resource, found {len(reports)}")
        return reports[0]

    def parse_documents(self, docs: list[Node], file: str) -> list[ParsedReport]:
        hosts: dict[str, _Host] = {}
        multi = len(docs) > 1
        for doc in docs:
            doc.as_dict()
            findings = doc.get("findings")
            if findings is None:
                raise wrong_format(doc, self.format, "no 'findings' array")
            for f in findings.as_list():
                self._finding(f, hosts, f"{doc.file.removeprefix(file).strip()} " if multi else "")
        return [
            ParsedReport(
                file=file,
                format=self.format,
                host_keys=h.keys,
                entries=h.entries,
                scan_time=h.scan_time,
                tool="aws-inspector2",
                host_name=h.host_name,
                os=h.os,
                labels=dict(sorted(h.labels.items())),
                match_keys=h.match_keys,
            )
            for h in hosts.values()
        ]

    # ------------------------------------------------------------------ one finding

    def _finding(self, f: Node, hosts: dict[str, _Host], doc_prefix: str) -> None:
        status_node = f.req("status")
        status = _STATUS.get(status_node.as_str())
        if status is None:
            raise status_node.error(
                f"unknown Inspector status {status_node.value!r}: expected ACTIVE, CLOSED or SUPPRESSED"
            )
        last_seen = _time(f.req("lastObservedAt"))
        updated = _opt_time(f, "updatedAt")
        seen = max(last_seen, updated) if status == "fixed" and updated is not None else last_seen
        entries = self._entries(f, status, last_seen, updated, doc_prefix)
        resources = f.req("resources").as_list()
        if not resources:
            raise f.req("resources").error("a finding must name at least one resource")
        for n, r in enumerate(resources):
            host = self._host(r, seen)
            known = hosts.setdefault(host.keys[0], host)
            known.scan_time = max(known.scan_time, seen)
            if len(resources) == 1:
                known.entries += entries
            else:  # the same finding on several resources: one entry each, told apart
                known.entries += [dataclasses.replace(e, where=f"{e.where} (resources[{n}])") for e in entries]

    def _host(self, r: Node, seen: datetime) -> _Host:
        rtype = r.req_str("type")
        rid = r.req_str("id")
        region = r.get_str("region")
        labels: dict[str, str] = {"aws:resource-type": rtype}
        if region:
            labels["aws:region"] = region
        tags = r.get("tags")
        for key, value in tags.members() if tags is not None else ():
            labels[key] = value.as_str()  # AWS reserves the "aws:" prefix: no clash
        details = r.get("details")
        keys: list[str] = [rid]
        name: str | None = None
        os_rec: OsRecord | None = None
        if rtype == "AWS_EC2_INSTANCE":
            d = None if details is None else details.get("awsEc2Instance")
            name = labels.get("Name")
            if d is not None:
                keys += d.str_list("ipV4Addresses") + d.str_list("ipV6Addresses")
                os_rec = _platform(d.get_str("platform"))
                for key, label in (("type", "aws:ec2-instance-type"), ("imageId", "aws:ec2-image")):
                    text = d.get_str(key)
                    if text:
                        labels[label] = text
        elif rtype == "AWS_ECR_CONTAINER_IMAGE":
            d = r.req("details").req("awsEcrContainerImage")
            digest = d.req_str("imageHash")
            repo = d.req_str("repositoryName")
            registry = d.get_str("registry")
            image_tags = d.str_list("imageTags")
            labels["aws:ecr-repository"] = repo
            labels["aws:ecr-digest"] = digest
            if image_tags:
                labels["aws:ecr-tags"] = ",".join(image_tags)
            if registry:
                labels["aws:account"] = registry
            if registry and region:
                # The reference a container scanner (Trivy RepoDigests) names the image by.
                keys.insert(0, f"{registry}.dkr.ecr.{region}.amazonaws.com/{repo}@{digest}")
            name = f"{repo}:{image_tags[0]}" if image_tags else f"{repo}@{digest}"
            os_rec = _platform(d.get_str("platform"))
        elif rtype == "AWS_LAMBDA_FUNCTION":
            d = None if details is None else details.get("awsLambdaFunction")
            if d is not None:
                name = d.get_str("functionName")
                for key, label in (("runtime", "aws:lambda-runtime"), ("version", "aws:lambda-version")):
                    text = d.get_str(key)
                    if text:
                        labels[label] = text
        ecr_digest = labels.get("aws:ecr-digest")
        match = [*keys, ecr_digest] if ecr_digest else keys
        return _Host(tuple(dict.fromkeys(keys)), name, os_rec, labels, seen, match_keys=tuple(dict.fromkeys(match)))

    def _entries(
        self, f: Node, status: StatusName, last_seen: datetime, updated: datetime | None, doc_prefix: str
    ) -> list[Entry]:
        sev_node = f.req("severity")
        severity = _SEVERITY.get(sev_node.as_str())
        if severity is None:
            raise sev_node.error(f"unknown Inspector severity {sev_node.value!r}")
        prov: dict[str, str] = {"severity": f"aws-inspector2 {sev_node.value}"}
        arn = f.get_str("findingArn")
        if arn:
            prov["inspector_finding"] = arn
        ftype = f.req_str("type")
        score = f.get("inspectorScore")
        if score is not None:
            prov["inspector_score"] = str(check_cvss(score, score.as_float()))
        _exploit_provenance(f, prov)
        epss = _epss(f, prov)
        fix_available = _fix_available(f, prov)
        base = Entry(
            vuln="INSPECTOR-" + (arn.rsplit("/", 1)[-1] if arn else ftype),
            where=doc_prefix + f.path,
            severity=severity,
            epss=epss,
            status=status,
            first_seen_at=_opt_time(f, "firstObservedAt"),
            first_seen_at_source="firstObservedAt",
            provenance=prov,
        )
        if status == "fixed":
            base.fixed_at = updated if updated is not None else last_seen
            prov["fixed_at"] = "updatedAt" if updated is not None else "lastObservedAt"
            base.status_reason = "closed by aws-inspector2"
        elif status == "not_affected":
            base.status_reason = SUPPRESSED_REASON
        recommendation = f.get("remediation")
        rec = None if recommendation is None else recommendation.get("recommendation")
        text = None if rec is None else rec.get_str("text")
        if text and text != "None Provided":
            base.patch = text
        pvd = f.get("packageVulnerabilityDetails")
        if pvd is None:
            if ftype == "PACKAGE_VULNERABILITY":
                raise f.error("missing required field 'packageVulnerabilityDetails'")
            prov["inspector_type"] = ftype  # network reachability, code: kept, keyed by finding
            return [base]
        self._vulnerability(pvd, f, base)
        packages = pvd.get_list("vulnerablePackages")
        if not packages:
            return [base]
        platform = self._platform_of(f)
        return [self._package_entry(base, p, fix_available, platform, doc_prefix) for p in packages]

    @staticmethod
    def _platform_of(f: Node) -> OsRecord | None:
        for r in f.get_list("resources"):
            details = r.get("details")
            for _, d in details.members() if details is not None else ():
                if isinstance(d.value, dict) and d.get_str("platform"):
                    return _platform(d.get_str("platform"))
        return None

    @staticmethod
    def _vulnerability(pvd: Node, f: Node, base: Entry) -> None:
        base.vuln = pvd.req_str("vulnerabilityId")
        base.aliases = tuple(dict.fromkeys(a for a in pvd.str_list("relatedVulnerabilities") if a != base.vuln))
        base.published_at = _opt_time(pvd, "vendorCreatedAt")
        candidates: list[CvssCandidate] = []
        for c in pvd.get_list("cvss"):
            score_node = c.req("baseScore")
            version = c.req_str("version")
            try:
                major = int(version.split(".", 1)[0])
            except ValueError:
                raise c.req("version").error(f"CVSS version {version!r} is not a number") from None
            candidates.append(
                CvssCandidate(normalize_source(c.req_str("source")), major, check_cvss(score_node, score_node.as_float()))
            )
        best = best_cvss(candidates)
        if best is not None:
            base.cvss, base.cvss_source = best.score, best.source
            base.provenance["cvss"] = f"{best.source} v{best.version}"
        elif "inspector_score" in base.provenance:
            base.cvss, base.cvss_source = float(base.provenance["inspector_score"]), "aws-inspector2"
            base.provenance["cvss"] = "aws-inspector2 inspectorScore"
        vendor = pvd.get_str("source")
        if vendor:
            base.provenance["advisory_source"] = vendor

    @staticmethod
    def _package_entry(
        base: Entry, p: Node, fix_available: str | None, platform: OsRecord | None, doc_prefix: str
    ) -> Entry:
        name = p.req_str("name")
        version = _version(p)
        manager = p.get_str("packageManager")
        prov = dict(base.provenance)
        fixed = p.get_str("fixedInVersion")
        remediation = p.get_str("remediation")
        if fixed == "NotAvailable" or fix_available == "NO":
            fixed = None
        elif fixed is not None and fixed.startswith("0:"):
            fixed = fixed[2:]  # epoch 0 is the default: written like the installed version
        prov["fix_state"] = "fixed" if fixed is not None else "not-fixed"
        ecosystem, purl = InspectorImporter._purl(name, version, manager, p.get_str("arch"), platform)
        if purl is not None:
            prov["purl"] = "built"
        return dataclasses.replace(
            base,
            where=doc_prefix + p.path,
            package=PackageRecord(name=name, version=version, purl=purl, ecosystem=ecosystem),
            location=p.get_str("filePath"),
            fixed_version=fixed,
            patch=remediation if remediation not in (None, "NotAvailable") else base.patch,
            provenance=prov,
        )

    @staticmethod
    def _purl(
        name: str, version: str | None, manager: str | None, arch: str | None, platform: OsRecord | None
    ) -> tuple[str | None, str | None]:
        """(ecosystem, package URL) where they can be told exactly, else what is known."""
        if manager == "OS" and platform is not None and platform.family is not None:
            family = platform.family
            quals = {"arch": arch.lower()} if arch else {}
            if family in _DEB_FAMILIES:
                return family, build_purl("deb", name, version, family, quals)
            rpm = _RPM_FAMILIES.get(family)
            if rpm is not None and version is not None:
                epoch, sep, rest = version.partition(":")
                if sep:
                    quals["epoch"] = epoch
                return rpm, build_purl("rpm", name, rest if sep else version, rpm, quals)
            return family, None
        ecosystem = _LANG_ECOSYSTEM.get(manager or "")
        if ecosystem is None:
            return (manager.lower() if manager else None), None
        return ecosystem, purl_for_ecosystem(ecosystem, name, version)


def _exploit_provenance(f: Node, prov: dict[str, str]) -> None:
    """Whether an exploit is available (YES or NO) and when one was last seen, as provenance."""
    exploit = f.get_str("exploitAvailable")
    if exploit is not None:
        if exploit not in ("YES", "NO"):
            raise f.req("exploitAvailable").error(f"expected YES or NO, got {exploit!r}")
        prov["exploit_available"] = exploit.lower()
    exploitability = f.get("exploitabilityDetails")
    if exploitability is not None:
        last_exploit = _opt_time(exploitability, "lastKnownExploitAt")
        if last_exploit is not None:
            prov["last_known_exploit_at"] = last_exploit.isoformat().replace("+00:00", "Z")


def _epss(f: Node, prov: dict[str, str]) -> float | None:
    """The finding's EPSS score, checked to lie in 0..1."""
    epss_node = f.get("epss")
    if epss_node is None:
        return None
    score_node = epss_node.req("score")
    epss = score_node.as_float()
    if not 0.0 <= epss <= 1.0:
        raise score_node.error(f"EPSS score {epss} is outside 0..1")
    prov["epss"] = "aws-inspector2"
    return epss


def _fix_available(f: Node, prov: dict[str, str]) -> str | None:
    """``fixAvailable`` (YES, NO or PARTIAL), kept in provenance in lower case."""
    fix_available = f.get_str("fixAvailable")
    if fix_available not in (None, "YES", "NO", "PARTIAL"):
        raise f.req("fixAvailable").error(f"expected YES, NO or PARTIAL, got {fix_available!r}")
    if fix_available is not None:
        prov["fix_available"] = fix_available.lower()
    return fix_available
