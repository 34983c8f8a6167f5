"""Which entries of one host are one finding: union-find over the entries, in the passes
``group_items`` describes (same package, across tools, entries without a package)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from patchpolicy.importers.assemble.report import FileReport
from patchpolicy.importers.interface import Entry
from patchpolicy.model.fleet import PackageRecord

Identity = tuple[str | None, str | None, str | None, str | None]


@dataclass
class Item:
    entry: Entry
    file: FileReport
    scan_time: datetime
    order: int

    @property
    def identity(self) -> Identity:
        p = self.entry.package
        if p is None:
            return (None, None, self.entry.location, None)
        return (p.name, p.version, self.entry.location, p.purl)

    @property
    def ids(self) -> set[str]:
        return {self.entry.vuln, *self.entry.aliases}


class Unions:
    """Union-find over item indices; each root knows the formats (tools) it holds."""

    def __init__(self, items: list[Item]) -> None:
        self.parent = list(range(len(items)))
        self.tools: dict[int, set[str]] = {i: {it.file.tool} for i, it in enumerate(items)}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[a] = b
            self.tools[b] |= self.tools.pop(a)

    def disjoint(self, i: int, j: int) -> bool:
        """Whether the two sets hold entries of no format in common: two tools."""
        a, b = self.find(i), self.find(j)
        return a != b and not self.tools[a] & self.tools[b]


@dataclass
class KeptApart:
    """An entry that another report's findings could have absorbed, and why it did not."""

    item: Item
    reason: str


def group_items(items: list[Item]) -> tuple[list[list[Item]], list[KeptApart]]:
    """Items of one host grouped into findings, in four passes:

    1. same identity (package name, version, location, purl) and an id or alias in
       common: what one tool reports twice, or two scans of one artifact;
    2. across tools (formats): an id or alias in common and the same package name and
       installed version, whatever the location or purl (Trivy and Grype locate a
       package differently) -- unless one tool has two such findings (the same package at
       two locations): then which one is meant is unknown, and the entries stay apart,
       said in the summary. One tool's findings at two locations stay two findings;
    3. an entry with no package (a network scanner: Nessus names plugins, not packages)
       joins the one finding of another tool with an id in common; if there are
       several (one CVE on libssl and libcrypto), it stays apart, said in the summary;
    4. entries with no package that two tools give (Nessus and Qualys on one CVE), and
       that no package finding took, are one finding.
    """
    g = _Grouping(items)
    g.across_tools()
    g.onto_packaged()
    g.loose()
    groups: dict[int, list[Item]] = {}
    for i, item in enumerate(items):
        groups.setdefault(g.u.find(i), []).append(item)
    return sorted(groups.values(), key=lambda grp: grp[0].order), list(g.kept.values())


class _Grouping:
    """The state of ``group_items``: the unions, the ids of each pass-1 set (by its root),
    and the entries kept apart; one method per later pass, run in order."""

    def __init__(self, items: list[Item]) -> None:
        # 1. the same identity and an id or alias in common
        self.items = items
        self.u = u = Unions(items)
        seen: dict[tuple[Identity, str], int] = {}
        for i, item in enumerate(items):
            for vid in sorted(item.ids):
                j = seen.setdefault((item.identity, vid), i)
                if j != i:
                    u.union(i, j)
        self.ids_of: dict[int, set[str]] = {}
        for i, item in enumerate(items):
            self.ids_of.setdefault(u.find(i), set()).update(item.ids)
        self.roots = sorted(self.ids_of)
        self.kept: dict[int, KeptApart] = {}

    def pkg_of(self, root: int) -> PackageRecord | None:
        return self.items[root].entry.package

    def across_tools(self) -> None:
        """2. the same vulnerability on the same package, reported by other tools."""
        u, items = self.u, self.items
        buckets: dict[tuple[str, str, str | None], list[int]] = {}
        for r in self.roots:
            p = self.pkg_of(r)
            if p is None:
                continue
            for vid in sorted(self.ids_of[r]):
                buckets.setdefault((vid, p.name, p.version), []).append(r)
        for (vid, _, _), members in buckets.items():
            if len(members) < 2:
                continue
            per_tool: dict[str, int] = {}
            for r in members:
                for t in u.tools[u.find(r)]:
                    per_tool[t] = per_tool.get(t, 0) + 1
            twice = sorted(t for t, n in per_tool.items() if n > 1)
            if twice:
                where = ", ".join(f"{per_tool[t]} of {t}" for t in twice)
                for r in members:
                    if all(per_tool[t] == 1 for t in u.tools[u.find(r)]):
                        self.kept.setdefault(r, KeptApart(items[r], (
                            f"{vid} on {describe(self.pkg_of(r))} could be any of the findings of the"
                            f" package at several locations ({where}): not merged"
                        )))
                continue
            for r in members[1:]:
                if u.disjoint(members[0], r):
                    u.union(r, members[0])

    def onto_packaged(self) -> None:
        """3. entries without a package, onto the one packaged finding of the same vulnerability."""
        u, items = self.u, self.items
        packaged: dict[str, set[int]] = {}
        for r in self.roots:
            if self.pkg_of(r) is not None:
                for vid in self.ids_of[r]:
                    packaged.setdefault(vid, set()).add(r)
        # Decided on the packaged findings as they are now: two entries of one tool (two Nessus
        # plugins naming one CVE) may both join the same finding.
        plan: list[tuple[int, set[int]]] = [
            (r, {u.find(q) for vid in sorted(self.ids_of[r]) for q in packaged.get(vid, ()) if u.disjoint(r, q)})
            for r in self.roots
            if self.pkg_of(r) is None
        ]
        for r, candidates in plan:
            if len(candidates) == 1:
                u.union(r, candidates.pop())
            elif len(candidates) > 1:
                names = sorted(describe(self.pkg_of(q)) for q in candidates)
                self.kept.setdefault(r, KeptApart(items[r], (
                    f"{items[r].entry.vuln} names no package, and other tools have it on"
                    f" {len(names)} packages ({', '.join(names)}): not merged"
                )))

    def loose(self) -> None:
        """4. no package on either side (Nessus and Qualys naming one CVE): one finding, when
        two tools say it and no package finding took either."""
        u = self.u
        loose: dict[str, list[int]] = {}
        for r in self.roots:
            if self.pkg_of(r) is None and self.pkg_of(u.find(r)) is None and r not in self.kept:
                for vid in sorted(self.ids_of[r]):
                    loose.setdefault(vid, []).append(r)
        for members in loose.values():
            if len({t for r in members for t in u.tools[u.find(r)]}) > 1:
                for r in members[1:]:
                    u.union(r, members[0])


# Stricter is higher; "unknown" says nothing, so any word beats it.
SEVERITY_RANK = {"unknown": 0, "none": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}


def describe(p: PackageRecord | None) -> str:
    if p is None:
        return "the artifact"
    return f"{p.name}@{p.version}" if p.version else p.name
