"""Turn parsed scanner reports into one deterministic FleetSnapshot.

The contract (the same for every format):

* every report becomes a host, named by an inventory row that lists one of the report's
  names, else by the report's own first name; reports naming the same host merge: the
  same host id, or a shared match key (FQDN, IP address, instance id, image digest; DNS
  names compared without case or final dot), unless the inventory maps them apart or
  one tool gives that name to two of its hosts (``hosts.match_hosts``). The merged host takes
  the inventory id, else the first report's id (input order);
* a standalone CycloneDX VEX is no host: its statements join the reports they name, by
  BOM-Link serial, else package URL (``vex.apply_vex``);
* every entry becomes a finding, or is merged into one, counted and explained: the same
  vulnerability (by id or alias) on the same package (name, version, location, purl) in
  one host; across tools (formats) the same package name and installed version is
  enough, and an entry without a package (Nessus) joins the host's only finding of its
  vulnerability; ambiguous cases stay apart, said in the summary (``grouping.group_items``). The
  finding keeps a CVE id where one of the merged entries has it, the stricter severity
  when two reports disagree, and ``provenance.sources`` names the formats;
* finding id = ``<vuln>/<package name>``, with ``@version``, ``#location`` (or both, then
  the purl) added only where two findings of one host would otherwise share an id;
* ``first_seen_at`` = the scanner's own first-observed time where the format has one
  (Inspector ``firstObservedAt``), else the scan time (report timestamp, else
  ``--scan-time``; never the wall clock), or the previous snapshot's value for the same
  (host, finding id);
  findings of a re-scanned host that the new scan no longer reports become ``fixed`` at
  the new scan time; hosts not re-scanned are carried over unchanged;
* KEV and EPSS join by vuln id, then aliases; a ``--kev`` catalog wins over the KEV copy
  a scanner carries (Grype ``knownExploited``);
* hosts sorted by id, findings by id: the same inputs give the same bytes.

One module per job: ``build`` (the import, step by step), ``report`` (the summary),
``vex``, ``hosts``, ``grouping`` (which entries are one finding), ``merging`` (the merged
finding, its id, the merge notes), ``enrich`` (KEV, EPSS), ``history`` (``--previous``).
"""

from patchpolicy.importers.assemble.build import Snapshot, build_snapshot, run_import
from patchpolicy.importers.assemble.report import FileReport, ImportReport, MergeNote

__all__ = ["FileReport", "ImportReport", "MergeNote", "Snapshot", "build_snapshot", "run_import"]
