"""Semantic diff: a table of policy edits and their classification, CEL predicate
comparison, clock lists, the version-bump rule, rendering determinism."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from patchpolicy.loader import load_bundle
from patchpolicy.model.bundle import Bundle
from patchpolicy.model.policy import ClockSource
from patchpolicy.render.diff import render
from patchpolicy.review.diff import (
    Bump,
    BundleDiff,
    Change,
    Classification,
    DiffFailOn,
    PredicateRelation,
    bump_level,
    check_version,
    classify_clock,
    compare_predicates,
    diff_bundles,
)

W, S, N, U = (
    Classification.WEAKENING,
    Classification.STRENGTHENING,
    Classification.NEUTRAL,
    Classification.UNKNOWN,
)

POLICY: dict[str, Any] = {
    "apiVersion": "patchpolicy/v1",
    "kind": "PatchPolicy",
    "metadata": {
        "name": "p",
        "version": "1.0.0",
        "title": "Test policy",
        "controls": [
            {"framework": "PCI-DSS", "version": "4.0.1", "id": "6.3.3"},
            {"framework": "PCI-DSS", "version": "4.0.1", "id": "11.3.1"},
        ],
    },
    "spec": {
        "scope": '"cde" in host.tags',
        "due_soon": "7d",
        "clock": ["fix_released", "published", "first_seen"],
        "rules": [
            {"id": "kev", "when": "finding.kev != null", "within": "14d",
             "clock": ["kev_added", "first_seen"], "cap_by_kev_due_date": True,
             "controls": ["6.3.3"]},
            {"id": "critical", "when": 'finding.severity == "critical"', "within": "30d",
             "controls": ["6.3.3"]},
            {"id": "high",
             "when": 'finding.severity == "high" || (finding.cvss != null && finding.cvss >= 7.0)',
             "within": "30d"},
        ],
        "hygiene": {"max_scan_age": "7d", "max_reboot_pending": "72h", "controls": ["11.3.1"]},
        "exceptions": {"max_lifetime": "90d"},
        "windows": [
            {"id": "sun", "hosts": 'host.env == "prod"', "rrule": "FREQ=WEEKLY;BYDAY=SU",
             "start": "02:00", "duration": "4h", "timezone": "Europe/Berlin"},
        ],
        "freezes": [
            {"id": "year-end", "yearly": {"from": "12-20", "until": "01-03"},
             "allow": "finding.kev != null"},
        ],
    },
}

EXCEPTIONS: dict[str, Any] = {
    "apiVersion": "patchpolicy/v1",
    "kind": "ExceptionSet",
    "metadata": {"name": "exc", "version": "1.0.0"},
    "exceptions": [
        {"id": "EXC-1", "policies": ["p"],
         "match": 'finding.vuln == "CVE-2024-1" && host.id == "h1"',
         "justification": "vendor fix breaks the driver", "approved_by": "a@example.com",
         "approved_at": "2026-10-01", "expires": "2026-12-01"},
    ],
}

Docs = dict[str, dict[str, Any]]


def write(root: Path, docs: Docs) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (root / f"{name}.yaml").write_text(json.dumps(doc, indent=1))
    return root


def load(root: Path, docs: Docs) -> Bundle:
    return load_bundle([write(root, docs)])


def base() -> Docs:
    return {"policy": copy.deepcopy(POLICY), "exceptions": copy.deepcopy(EXCEPTIONS)}


def rule(docs: Docs, rid: str) -> dict[str, Any]:
    return next(r for r in docs["policy"]["spec"]["rules"] if r["id"] == rid)


def exc(docs: Docs) -> dict[str, Any]:
    e: dict[str, Any] = docs["exceptions"]["exceptions"][0]
    return e


def setter(get: Callable[[Docs], dict[str, Any]], key: str, value: Any) -> Callable[[Docs], None]:
    def edit(docs: Docs) -> None:
        target = get(docs)
        if value is None:
            del target[key]
        else:
            target[key] = value

    return edit


def spec(docs: Docs) -> dict[str, Any]:
    s: dict[str, Any] = docs["policy"]["spec"]
    return s


def meta(docs: Docs) -> dict[str, Any]:
    m: dict[str, Any] = docs["policy"]["metadata"]
    return m


def both(*edits: Callable[[Docs], None]) -> Callable[[Docs], None]:
    def edit(docs: Docs) -> None:
        for e in edits:
            e(docs)

    return edit


def add_rule(docs: Docs) -> None:
    spec(docs)["rules"].append(
        {"id": "medium", "when": 'finding.severity == "medium"', "within": "90d"}
    )


def drop_rule(rid: str) -> Callable[[Docs], None]:
    def edit(docs: Docs) -> None:
        spec(docs)["rules"] = [r for r in spec(docs)["rules"] if r["id"] != rid]

    return edit


def add_exception(docs: Docs) -> None:
    docs["exceptions"]["exceptions"].append(
        {**exc(docs), "id": "EXC-2", "match": 'finding.vuln == "CVE-2024-2"'}
    )


def drop_policy(docs: Docs) -> None:
    del docs["policy"]
    del docs["exceptions"]["exceptions"][0]["policies"]


Case = tuple[str, Callable[[Docs], None], set[tuple[str, Classification]]]

CASES: list[Case] = [
    ("within longer", setter(lambda d: rule(d, "critical"), "within", "45d"),
     {('rule "critical" within', W)}),
    ("within shorter", setter(lambda d: rule(d, "critical"), "within", "15d"),
     {('rule "critical" within', S)}),
    ("rule removed", drop_rule("high"), {('rule "high"', W)}),
    ("rule added", add_rule, {('rule "medium"', S)}),
    ("rule renamed", setter(lambda d: rule(d, "critical"), "id", "crit"), {('rule "crit"', N)}),
    ("when widened by in-list", setter(lambda d: rule(d, "critical"), "when",
                                       'finding.severity in ["critical", "high"]'),
     {('rule "critical" when', S)}),
    ("when widened by enum complement", setter(
        lambda d: rule(d, "critical"), "when",
        'finding.severity != "low" && finding.severity != "medium" && '
        'finding.severity != "none" && finding.severity != "unknown"'),
     {('rule "critical" when', S)}),
    ("when narrowed: clause dropped", setter(lambda d: rule(d, "high"), "when",
                                            'finding.severity == "high"'),
     {('rule "high" when', W)}),
    ("when narrowed: higher cvss threshold", setter(
        lambda d: rule(d, "high"), "when",
        'finding.severity == "high" || (finding.cvss != null && finding.cvss >= 9.0)'),
     {('rule "high" when', W)}),
    ("when rewritten, same findings", setter(lambda d: rule(d, "critical"), "when",
                                             '"critical" == finding.severity'),
     {('rule "critical" when', N)}),
    ("when disjunction of equalities = in-list", setter(
        lambda d: rule(d, "high"), "when",
        '(finding.cvss >= 7.0 && finding.cvss != null) || finding.severity in ["high"]'),
     {('rule "high" when', N)}),
    ("when undecidable", setter(lambda d: rule(d, "critical"), "when", "finding.epss > 0.5"),
     {('rule "critical" when', U)}),
    ("scope narrowed", setter(spec, "scope", '"cde" in host.tags && host.env == "prod"'),
     {("spec scope", W)}),
    ("scope removed (every host)", setter(spec, "scope", None), {("spec scope", S)}),
    ("scope widened", setter(spec, "scope", '"cde" in host.tags || host.env == "prod"'),
     {("spec scope", S)}),
    ("scope by negation: hosts not isolated", both(
        setter(spec, "scope", 'host.exposure != "isolated"')), {("spec scope", U)}),
    ("due_soon longer is earlier warning", setter(spec, "due_soon", "14d"),
     {("spec due_soon", S)}),
    ("due_soon shorter", setter(spec, "due_soon", "3d"), {("spec due_soon", W)}),
    ("clock fallback dropped", setter(spec, "clock", ["fix_released", "published"]),
     {("spec clock", S)}),
    ("clock fallback appended", setter(
        spec, "clock", ["fix_released", "published", "first_seen", "kev_added"]),
     {("spec clock", W)}),
    ("clock first source order unknown", setter(spec, "clock", ["first_seen"]),
     {("spec clock", U)}),
    ("rule clock starts earlier", setter(lambda d: rule(d, "kev"), "clock",
                                         ["published", "first_seen"]),
     {('rule "kev" clock', S)}),
    ("rule clock explicit, same sources", setter(
        lambda d: rule(d, "high"), "clock", ["fix_released", "published", "first_seen"]),
     {('rule "high" clock', N)}),
    ("cap_by_kev_due_date removed", setter(lambda d: rule(d, "kev"), "cap_by_kev_due_date", False),
     {('rule "kev" cap_by_kev_due_date', W)}),
    ("rule control reference dropped", setter(lambda d: rule(d, "critical"), "controls", []),
     {('rule "critical" controls', W)}),
    ("hygiene removed", setter(spec, "hygiene", None),
     {("hygiene max_scan_age", W), ("hygiene max_reboot_pending", W), ("hygiene controls", W)}),
    ("scan age looser", setter(lambda d: spec(d)["hygiene"], "max_scan_age", "30d"),
     {("hygiene max_scan_age", W)}),
    ("reboot bound tighter", setter(lambda d: spec(d)["hygiene"], "max_reboot_pending", "24h"),
     {("hygiene max_reboot_pending", S)}),
    ("exception lifetime removed", setter(spec, "exceptions", None),
     {("spec exceptions.max_lifetime", W)}),
    ("effective_from added", setter(meta, "effective_from", "2026-01-01"),
     {("metadata effective_from", W)}),
    ("control added", lambda d: meta(d)["controls"].append(
        {"framework": "ISO-27001", "version": "2022", "id": "A.8.8"}),
     {('control "A.8.8"', S)}),
    ("title only", setter(meta, "title", "Renamed"), {("metadata title", N)}),
    ("window longer", setter(lambda d: spec(d)["windows"][0], "duration", "6h"),
     {('window "sun" duration', N)}),
    ("freeze allow widened", setter(lambda d: spec(d)["freezes"][0], "allow", "true"),
     {('freeze "year-end" allow', N)}),
    ("exception extended", setter(exc, "expires", "2026-12-20"),
     {('exception "EXC-1" expires', W)}),
    ("exception shortened", setter(exc, "expires", "2026-11-01"),
     {('exception "EXC-1" expires', S)}),
    ("exception approved earlier", setter(exc, "approved_at", "2026-09-15"),
     {('exception "EXC-1" approved_at', W)}),
    ("exception for every policy", setter(exc, "policies", None),
     {('exception "EXC-1" policies', W)}),
    ("exception match wider", setter(exc, "match", 'finding.vuln == "CVE-2024-1"'),
     {('exception "EXC-1" match', W)}),
    ("exception match narrower", setter(
        exc, "match", 'finding.vuln == "CVE-2024-1" && host.id == "h1" && host.env == "prod"'),
     {('exception "EXC-1" match', S)}),
    ("exception match changed, undecidable", setter(
        exc, "match", 'finding.vuln == "CVE-2024-9" && host.id == "h1"'),
     {('exception "EXC-1" match', W)}),
    ("exception added", add_exception, {('exception "EXC-2"', W)}),
    ("justification only", setter(exc, "justification", "reworded"),
     {('exception "EXC-1" justification', N)}),
    ("policy removed", drop_policy,
     {("document", W), ('exception "EXC-1" policies', W)}),
    ("exception set removed", setter(lambda d: d, "exceptions", None), {("document", S)}),
]


def changes_of(tmp_path: Path, edit: Callable[[Docs], None]) -> BundleDiff:
    old = load(tmp_path / "old", base())
    docs = base()
    edit(docs)
    new = load(tmp_path / "new", docs)
    return diff_bundles(old, new)


@pytest.mark.parametrize(("name", "edit", "expected"), CASES, ids=[c[0] for c in CASES])
def test_edit_is_classified(
    tmp_path: Path, name: str, edit: Callable[[Docs], None],
    expected: set[tuple[str, Classification]],
) -> None:
    result = changes_of(tmp_path, edit)
    got = {(c.what, c.classification) for c in result.changes}
    assert got == expected, [(c.what, c.classification.value, c.reason) for c in result.changes]
    assert all(c.reason for c in result.changes)


def test_table_has_at_least_twenty_edits_and_every_class() -> None:
    assert len(CASES) >= 20
    classes = {cls for _, _, expected in CASES for _, cls in expected}
    assert classes == set(Classification)


def test_no_edit_no_change(tmp_path: Path) -> None:
    result = changes_of(tmp_path, lambda d: None)
    assert result.changes == ()
    assert {d.status for d in result.documents} == {"unchanged"}
    assert result.exit_code() == 0
    assert "no semantic changes" in render(result)


def test_changes_point_at_the_new_file(tmp_path: Path) -> None:
    result = changes_of(tmp_path, setter(lambda d: rule(d, "critical"), "within", "45d"))
    (change,) = result.changes
    lines = (tmp_path / "new" / "policy.yaml").read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if '"id": "critical"' in text)
    # The rule's mapping: its "{" line in this JSON-style file, its first key in YAML.
    assert change.location in {f"{tmp_path / 'new' / 'policy.yaml'}:{n}" for n in (line - 1, line)}
    assert (change.old, change.new) == ("30d", "45d")


def test_exception_dates_shown_as_written(tmp_path: Path) -> None:
    result = changes_of(tmp_path, setter(exc, "expires", "2026-12-20"))
    (change,) = result.changes
    assert (change.old, change.new) == ("2026-12-01", "2026-12-20")


# ---------------------------------------------------------------- CEL predicates

PREDICATES = [
    ('finding.severity == "critical"', 'finding.severity in ["critical", "high"]',
     PredicateRelation.WIDER),
    ('finding.severity in ["critical", "high"]',
     'finding.severity == "critical" || finding.severity == "high"', PredicateRelation.EQUIVALENT),
    ('finding.severity == "critical"', "finding.severity == 'critical'", PredicateRelation.EQUIVALENT),
    ("finding.cvss >= 7.0", "finding.cvss > 7.0", PredicateRelation.NARROWER),
    ("finding.cvss >= 7.0", "7.0 <= finding.cvss", PredicateRelation.EQUIVALENT),
    ("finding.cvss >= 7.0", "finding.cvss >= 7.0 && finding.kev != null", PredicateRelation.NARROWER),
    ("finding.cvss >= 7.0", "!(finding.cvss < 7.0)", PredicateRelation.EQUIVALENT),
    ('!(finding.severity in ["low", "none", "unknown", "medium"])',
     'finding.severity in ["critical", "high"]', PredicateRelation.EQUIVALENT),
    ('host.env == "prod"', 'host.env != "dev"', PredicateRelation.WIDER),
    ('host.env != "dev"', 'host.env != "dev" && host.env != "test"', PredicateRelation.NARROWER),
    ("finding.kev != null", "finding.kev != null || finding.epss >= 0.9", PredicateRelation.WIDER),
    ("finding.kev.ransomware", "finding.kev.ransomware == true", PredicateRelation.EQUIVALENT),
    ('"cde" in host.tags', '"cde" in host.tags && "pci" in host.tags', PredicateRelation.NARROWER),
    ('host.labels["ring"] == "canary"', 'host.labels["ring"] in ["canary", "early"]',
     PredicateRelation.WIDER),
    (None, 'host.env == "prod"', PredicateRelation.NARROWER),
    ('host.env == "prod"', "true", PredicateRelation.WIDER),
    ('finding.severity == "critical"', "finding.epss > 0.5", PredicateRelation.UNKNOWN),
    ('host.tags.exists(t, t == "a")', 'host.tags.exists(t, t == "b")', PredicateRelation.UNKNOWN),
    ('host.criticality != "low"', 'host.criticality in ["critical", "high", "medium"] '
     "|| host.criticality == null", PredicateRelation.EQUIVALENT),
]


@pytest.mark.parametrize(("old", "new", "expected"), PREDICATES)
def test_compare_predicates(old: str | None, new: str, expected: PredicateRelation) -> None:
    assert compare_predicates(old, new) == expected


def test_compare_predicates_is_symmetric() -> None:
    flip = {PredicateRelation.WIDER: PredicateRelation.NARROWER,
            PredicateRelation.NARROWER: PredicateRelation.WIDER}
    for old, new, expected in PREDICATES:
        assert compare_predicates(new, old) == flip.get(expected, expected), (old, new)


def test_huge_expression_is_unknown_not_slow() -> None:
    wide = " && ".join(f"(finding.cvss > {i}.0 || finding.epss > 0.{i})" for i in range(1, 10))
    assert compare_predicates(wide, wide + " && finding.kev != null") == PredicateRelation.UNKNOWN


# ---------------------------------------------------------------- clocks

C = ClockSource


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([C.PUBLISHED], [C.FIRST_SEEN], W),
        ([C.KEV_ADDED, C.FIRST_SEEN], [C.PUBLISHED], S),
        ([C.FIX_RELEASED], [C.FIRST_SEEN], U),
        ([C.PUBLISHED], [C.PUBLISHED, C.FIRST_SEEN], W),
        ([C.PUBLISHED, C.FIRST_SEEN], [C.PUBLISHED], S),
        ([C.PUBLISHED, C.FIRST_SEEN, C.FIX_RELEASED], [C.PUBLISHED, C.FIX_RELEASED, C.FIRST_SEEN], U),
    ],
)
def test_classify_clock(old: list[C], new: list[C], expected: Classification) -> None:
    result = classify_clock(old, new)
    assert result is not None and result[0] == expected


def test_same_clock_is_no_change() -> None:
    assert classify_clock([C.PUBLISHED], [C.PUBLISHED]) is None


# ---------------------------------------------------------------- versions


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("1.2.3", "1.2.3", Bump.NONE),
        ("1.2.3", "1.2.4", Bump.PATCH),
        ("1.2.3", "1.3.0", Bump.MINOR),
        ("1.2.3", "2.0.0", Bump.MAJOR),
        ("1.2.3", "1.2.2", None),
        ("2.0.0", "1.9.9", None),
        ("2.0.0-rc.1", "2.0.0", Bump.PATCH),
        ("2.0.0", "2.0.0-rc.1", None),
        ("2.0.0-rc.2", "2.0.0-rc.10", Bump.PATCH),
        ("1.0.0+build.1", "1.0.0+build.2", Bump.NONE),
        ("0.3.1", "0.4.0", Bump.MAJOR),
        ("0.3.1", "0.3.2", Bump.PATCH),
    ],
)
def test_bump_level(old: str, new: str, expected: Bump | None) -> None:
    assert bump_level(old, new) == expected


def change(cls: Classification) -> Change:
    return Change("PatchPolicy", "p", 'rule "r"', "within", cls, "because")


@pytest.mark.parametrize(
    ("old", "new", "classes", "severity"),
    [
        ("1.0.0", "1.0.0", [N], "error"),
        ("1.0.0", "1.0.1", [N], "ok"),
        ("1.0.0", "1.0.1", [S], "warning"),
        ("1.0.0", "1.1.0", [S, N], "ok"),
        ("1.0.0", "1.1.0", [W, S], "warning"),
        ("1.0.0", "2.0.0", [W], "ok"),
        ("1.0.0", "1.1.0", [U], "warning"),
        ("1.0.0", "2.0.0", [U], "ok"),
        ("1.1.0", "1.0.9", [N], "error"),
        ("0.2.0", "0.3.0", [W], "ok"),
        ("1.0.0", None, [N], "error"),
    ],
)
def test_version_rule(
    old: str, new: str | None, classes: list[Classification], severity: str
) -> None:
    result = check_version(old, new, [change(c) for c in classes])
    assert result is not None and result.severity == severity, result


def test_no_version_on_the_old_side_is_not_checked() -> None:
    assert check_version(None, "1.0.0", [change(W)]) is None
    assert check_version(None, None, [change(W)]) is None


def test_changed_policy_without_bump_fails_the_gate(tmp_path: Path) -> None:
    result = changes_of(tmp_path, setter(lambda d: rule(d, "critical"), "within", "45d"))
    (doc,) = [d for d in result.documents if d.name == "p"]
    assert doc.version is not None and doc.version.severity == "error"
    assert "without a version bump" in doc.version.message and "MAJOR" in doc.version.message
    assert result.exit_code() == 1


def test_weakening_with_minor_bump_is_flagged_and_gates_on_request(tmp_path: Path) -> None:
    edit = both(setter(lambda d: rule(d, "critical"), "within", "45d"),
                setter(meta, "version", "1.1.0"))
    result = changes_of(tmp_path, edit)
    (doc,) = [d for d in result.documents if d.name == "p"]
    assert doc.version is not None and doc.version.severity == "warning"
    # A weakening under a minor bump fails by default (issue 11 #8); it can be allowed.
    assert result.exit_code() == 1
    assert any("weakening published as a MINOR bump" in r for r in result.failures())
    assert result.exit_code(allow_minor_weakening=True) == 0
    assert result.exit_code(frozenset({DiffFailOn.BUMP}), allow_minor_weakening=True) == 1
    assert result.exit_code(frozenset({DiffFailOn.WEAKENING}), allow_minor_weakening=True) == 1


def test_weakening_with_major_bump_passes_unless_gated(tmp_path: Path) -> None:
    edit = both(setter(lambda d: rule(d, "critical"), "within", "45d"),
                setter(meta, "version", "2.0.0"))
    result = changes_of(tmp_path, edit)
    assert result.exit_code(frozenset({DiffFailOn.BUMP, DiffFailOn.UNKNOWN})) == 0
    assert result.exit_code(frozenset({DiffFailOn.WEAKENING})) == 1


def test_exception_set_version_applies_when_present(tmp_path: Path) -> None:
    result = changes_of(tmp_path, setter(exc, "expires", "2026-12-20"))
    (doc,) = [d for d in result.documents if d.kind == "ExceptionSet"]
    assert doc.version is not None and doc.version.severity == "error"
    unversioned = base()
    del unversioned["exceptions"]["metadata"]["version"]
    old = load(tmp_path / "o2", unversioned)
    changed = copy.deepcopy(unversioned)
    exc(changed)["expires"] = "2026-12-20"
    result = diff_bundles(old, load(tmp_path / "n2", changed))
    (doc,) = [d for d in result.documents if d.kind == "ExceptionSet"]
    assert doc.version is None and result.exit_code() == 0


# ---------------------------------------------------------------- rendering


def test_renderings_are_deterministic_and_weakenings_first(tmp_path: Path) -> None:
    edit = both(setter(lambda d: rule(d, "critical"), "within", "15d"),
                setter(spec, "due_soon", "3d"), setter(meta, "title", "x"),
                setter(lambda d: rule(d, "critical"), "when", "finding.epss > 0.5"))
    first = changes_of(tmp_path / "a", edit)
    second = changes_of(tmp_path / "b", edit)
    classes = [c.classification for c in first.changes]
    assert classes == [W, U, S, N]
    for fmt in ("text", "markdown", "json"):
        assert render(first, fmt).replace("/a/", "/") == render(second, fmt).replace("/b/", "/")
    md = render(first, "markdown")
    assert md.index("#### Weakening") < md.index("#### Changed, effect unknown") < md.index(
        "#### Strengthening") < md.index("<details><summary>Neutral")
    doc = json.loads(render(first, "json"))
    assert doc["kind"] == "PolicyDiff"
    assert doc["summary"]["weakening"] == 1 and doc["summary"]["version_errors"] == 1
    assert [c["classification"] for c in doc["changes"]] == ["weakening", "unknown",
                                                              "strengthening", "neutral"]


def test_markdown_escapes_pipes_in_expressions(tmp_path: Path) -> None:
    result = changes_of(tmp_path, setter(lambda d: rule(d, "high"), "when",
                                         'finding.severity == "high"'))
    md = render(result, "markdown")
    assert '`finding.severity == "high" \\|\\| (finding.cvss' in md
