"""The loader (loader/): documents, positions of every kind of error, the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchpolicy.errors import ValidationError
from patchpolicy.loader import check_bundle, discover, load_bundle, read_documents

EXAMPLES = Path(__file__).parents[2] / "examples"

HEAD = """\
apiVersion: patchpolicy/v1
kind: PatchPolicy
metadata:
  name: p
  version: 1.0.0
spec:
  rules:
    - id: r
"""


def _diags(tmp_path: Path, text: str, name: str = "p.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    _, diags = check_bundle([path])
    return [str(d).removeprefix(f"{tmp_path}/") for d in diags if d.severity == "error"]


# ---------------------------------------------------------------- CEL columns in the file


@pytest.mark.parametrize(
    ("when", "line", "col"),
    [
        ("      when: finding.sevrity == 'x'\n", 9, 21),  # plain
        ("      when: 'finding.sevrity == \"x\"'\n", 9, 22),  # single-quoted
        ('      when: "finding.sevrity == \'x\'"\n', 9, 22),  # double-quoted
        ("      when: |\n        finding.kev != null ||\n          finding.sevrity == 'x'\n", 11, 19),
        ("      when: >\n        finding.kev != null ||\n        finding.sevrity == 'x'\n", 11, 17),
        ("      when: |-\n\n        finding.sevrity == 'x'\n", 11, 17),
    ],
    ids=["plain", "single", "double", "literal", "folded", "literal-blank-first-line"],
)
def test_unknown_field_column_inside_expression(
    tmp_path: Path, when: str, line: int, col: int
) -> None:
    (message,) = _diags(tmp_path, HEAD + when + "      within: 1d\n")
    assert message.startswith(f"p.yaml:{line}:{col}: policy \"p\": rule \"r\": when: unknown field 'sevrity'")


def test_json_expression_column(tmp_path: Path) -> None:
    text = (
        '{"apiVersion": "patchpolicy/v1", "kind": "PatchPolicy",\n'
        ' "metadata": {"name": "p", "version": "1.0.0"},\n'
        ' "spec": {"rules": [{"id": "r", "when": "finding.sevrity == 1", "within": "1d"}]}}\n'
    )
    (message,) = _diags(tmp_path, text, "p.json")
    line = text.splitlines()[2]
    assert message.startswith(f"p.json:3:{line.index('sevrity') + 1}: ")


def test_scope_and_window_hosts_read_host_only(tmp_path: Path) -> None:
    text = HEAD.replace("spec:\n", "spec:\n  scope: finding.severity == 'high'\n") + (
        "      when: 'true'\n      within: 1d\n"
    )
    (message,) = _diags(tmp_path, text)
    assert message.startswith('p.yaml:7:10: policy "p": scope: ')
    assert "finding" in message


# ---------------------------------------------------------------- documents


def test_timestamps_stay_text(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(HEAD.replace("  version: 1.0.0\n", "  version: 1.0.0\n  effective_from: 2025-04-01\n"))
    (doc,), errors = read_documents(path)
    assert errors == []
    assert doc.data["metadata"]["effective_from"] == "2025-04-01"
    assert isinstance(doc.data["metadata"]["effective_from"], str)


def test_multi_document_file_skips_empty_documents(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("---\n# nothing\n---\n" + HEAD + "---\n")
    docs, errors = read_documents(path)
    assert errors == []
    assert [(d.index, d.kind, d.name) for d in docs] == [(1, "PatchPolicy", "p")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "p.yaml:1:1: empty file: a policy file is a YAML or JSON document"),
        (b"# only a comment\n", "p.yaml:1:1: file holds no document"),
        (b"kind: \xff\n", "p.yaml:1:7: not UTF-8 text: invalid start byte (byte 6, 0xff)"),
        (b"a: 1\nkind: P\x00\n", "p.yaml:2:8: NUL byte: YAML text cannot hold it (binary data?)"),
        (b"a: \x1b[31m\n", "p.yaml:1:4: control character U+001B: YAML text cannot hold it (binary data?)"),
        (b"\x1f\x8b\x08\x00", "p.yaml:1:1: gzip-compressed: decompress it first (a policy file is YAML or JSON text)"),
        (b"PK\x03\x04", "p.yaml:1:1: a zip archive: decompress it first (a policy file is YAML or JSON text)"),
        (b"- a\n- b\n", "p.yaml:1:1: a document must be a mapping with apiVersion and kind"),
        (b"kind: PatchPolicy\n", "p.yaml:1:1: missing apiVersion: expected 'patchpolicy/v1'"),
        (b"apiVersion: patchpolicy/v1\n", "p.yaml:1:1: missing kind: expected one of ExceptionSet, FleetSnapshot, PatchPolicy, PolicyTest"),
        (b'{"a": 1, "a": 2}', "p.yaml:1:10: duplicate key 'a' (first defined at line 1): keys must be unique"),
    ],
)
def test_structure_errors(tmp_path: Path, raw: bytes, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(raw)
    _, diags = check_bundle([path])
    assert message in [str(d).removeprefix(f"{tmp_path}/") for d in diags]


def test_duplicate_key_first_definition_in_a_nested_mapping(tmp_path: Path) -> None:
    text = HEAD + "      when: 'true'\n      controls: []\n      within: 1d\n      controls: []\n"
    (message,) = _diags(tmp_path, text)
    assert message == "p.yaml:12:7: duplicate key 'controls' (first defined at line 10): keys must be unique"


# ---------------------------------------------------------------- discovery and the bundle


def test_discover_sorts_filters_and_dedupes(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "c.json", "notes.md", "sub/d.YAML"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    found = discover([tmp_path, tmp_path / "b.yaml"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.yml", "b.yaml", "c.json", "sub/d.YAML",
    ]


def test_load_bundle_sorts_and_records_files() -> None:
    bundle = load_bundle([EXAMPLES / "policies"])
    assert [p.name for p in bundle.policies] == ["baseline", "pci-dss"]
    assert [e.id for e in bundle.exceptions] == ["EXC-2026-009", "EXC-2026-014"]
    assert [Path(f.path).name for f in bundle.files] == [
        "baseline.yaml", "exceptions-payments.yaml", "pci.yaml",
    ]
    assert all(len(f.sha256) == 64 and f.size > 0 for f in bundle.files)
    assert all(w.severity == "warning" for w in bundle.warnings)
    rule = bundle.policy("pci-dss").rules[0]
    assert str(rule.where).endswith("pci.yaml:17:7")


def test_load_bundle_raises_with_every_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(HEAD + "      when: finding.sevrity == 'x'\n      within: 1d\n")
    (tmp_path / "b.yaml").write_text(HEAD + "      when: 'true'\n      within: 30 days\n")
    with pytest.raises(ValidationError) as info:
        load_bundle([tmp_path])
    assert [Path(d.location.file).name for d in info.value.diagnostics] == ["a.yaml", "b.yaml"]
    assert str(info.value).count("\n") == 1


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    exc = (
        "apiVersion: patchpolicy/v1\nkind: ExceptionSet\nmetadata: {{name: {name}}}\n"
        "exceptions:\n  - id: EXC-1\n    match: 'true'\n    justification: j\n"
        "    approved_by: a\n    approved_at: 2026-10-01\n    expires: 2026-10-31\n"
    )
    (tmp_path / "a.yaml").write_text(exc.format(name="a"))
    (tmp_path / "b.yaml").write_text(exc.format(name="b"))
    _, diags = check_bundle([tmp_path])
    assert [str(d).removeprefix(f"{tmp_path}/") for d in diags] == [
        f'b.yaml:5:9: duplicate exception id "EXC-1" (first defined at {tmp_path}/a.yaml:5:9)'
    ]


def test_duplicate_control_and_window_order(tmp_path: Path) -> None:
    text = HEAD.replace(
        "  version: 1.0.0\n",
        "  version: 1.0.0\n  controls:\n"
        "    - {framework: F, version: '1', id: c1}\n    - {framework: F, version: '1', id: c1}\n",
    ) + (
        "      when: 'true'\n      within: 1d\n  windows:\n    - id: w\n"
        "      rrule: FREQ=DAILY\n      start: '02:00'\n      duration: 1h\n"
        "      not_before: 2026-02-01\n      not_after: 2026-01-01\n"
    )
    messages = _diags(tmp_path, text)
    assert messages == [
        f'p.yaml:8:40: policy "p": duplicate control id "c1" (first defined at {tmp_path}/p.yaml:7:40)',
        'p.yaml:19:19: policy "p": window "w": not_before is not before not_after',
    ]


def test_missing_path_and_nothing_found(tmp_path: Path) -> None:
    _, diags = check_bundle([tmp_path / "nope.yaml"])
    assert [str(d) for d in diags] == [f"{tmp_path / 'nope.yaml'}: no such file or directory"]
    _, diags = check_bundle([tmp_path])
    assert [d.message for d in diags] == ["no policy files found"]


def test_high_cardinality_warning_only_where_no_guard_covers_it(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: ExceptionSet\nmetadata: {name: x}\nexceptions:\n"
        "  - id: GUARDED\n"
        "    match: 'finding.vuln == \"CVE-1\" && host.id == \"h\"'\n"
        "    justification: j\n    approved_by: a\n    approved_at: 2026-01-01\n"
        "    expires: 2026-02-01\n"
        "  - id: UNGUARDED\n"
        "    match: 'finding.vuln.startsWith(\"CVE-2024\")'\n"
        "    justification: j\n    approved_by: a\n    approved_at: 2026-01-01\n"
        "    expires: 2026-02-01\n"
    )
    bundle, diags = check_bundle([tmp_path])
    assert bundle is not None
    warnings = [str(d) for d in diags if d.severity == "warning"]
    assert len(warnings) == 1
    assert 'exception "UNGUARDED"' in warnings[0] and "finding.vuln" in warnings[0]
    assert warnings[0].startswith(f"{tmp_path / 'e.yaml'}:12:")


def test_unquoted_numeric_version_says_to_quote_it(tmp_path: Path) -> None:
    from patchpolicy.loader import check_bundle

    (tmp_path / "p.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {name: p, version: 1.10}\n"
        "spec:\n  rules:\n    - {id: all, when: 'true', within: 10d}\n"
    )
    _, diags = check_bundle([tmp_path])
    (d,) = diags
    assert d.location.line == 3 and "unquoted number" in d.message and "quoted string" in d.message


def test_rrule_dateutil_rejects_late_is_a_clear_error(tmp_path: Path) -> None:
    from patchpolicy.loader import check_bundle

    (tmp_path / "p.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {name: p, version: 1.0.0}\n"
        "spec:\n  rules:\n    - {id: all, when: 'true', within: 10d}\n  windows:\n"
        "    - {id: w, rrule: 'FREQ=MINUTELY;BYHOUR=25', start: '02:00', duration: 1h, timezone: UTC}\n"
    )
    _, diags = check_bundle([tmp_path])
    (d,) = diags
    assert d.location.line == 8 and "invalid rrule 'FREQ=MINUTELY;BYHOUR=25'" in d.message


@pytest.mark.parametrize("value", ["!!binary aGVsbG8=", "!custom x", "!thing {a: 1}"])
def test_yaml_tags_are_not_allowed(tmp_path: Path, value: str) -> None:
    from patchpolicy.loader import check_bundle

    (tmp_path / "p.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata:\n  name: p\n  version: 1.0.0\n"
        f"  title: {value}\nspec:\n  rules:\n    - {{id: all, when: 'true', within: 10d}}\n"
    )
    bundle, diags = check_bundle([tmp_path])
    assert bundle is None
    (d,) = diags
    assert (d.location.line, d.location.col) == (6, 10)
    assert d.message.startswith("YAML tags are not allowed (!") and "Tagged" not in d.message


POLICY_DOC = (
    "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {{name: {name}, version: 1.0.0}}\n"
    "spec:\n  rules:\n    - {{id: all, when: 'true', within: 10d}}\n"
)


def test_a_policy_directory_never_skips_an_entry_silently(tmp_path: Path) -> None:
    import os

    from patchpolicy.loader import check_bundle

    root = tmp_path / "bundle"
    (root / "sub").mkdir(parents=True)
    (root / "a.yaml").write_text(POLICY_DOC.format(name="a"))
    (root / "sub" / "b.yaml").write_text(POLICY_DOC.format(name="b"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c.yaml").write_text(POLICY_DOC.format(name="c"))
    os.symlink(outside, root / "linked-outside")
    os.symlink(root / "sub", root / "linked-inside")  # inside: followed, read once
    os.symlink(root / "missing.yaml", root / "dangling.yaml")
    os.symlink(root, root / "sub" / "loop")
    bundle, diags = check_bundle([root])
    messages = sorted((Path(d.location.file).name, d.message.split(":")[0]) for d in diags)
    assert messages == [
        ("dangling.yaml", "dangling symlink"),
        ("linked-outside", f"symlink to {outside}, outside {root}"),
        ("loop", "symlink loop"),
    ]
    assert bundle is None  # errors fail the load: exit 2 from validate


def test_an_unreadable_subdirectory_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from patchpolicy.loader import check_bundle

    root = tmp_path / "bundle"
    (root / "locked").mkdir(parents=True)
    (root / "a.yaml").write_text(POLICY_DOC.format(name="a"))
    (root / "locked" / "b.yaml").write_text(POLICY_DOC.format(name="b"))
    real_scandir = os.scandir

    def scandir(path: object) -> object:
        # chmod 0 does not stop root (CI runs as root): refuse the listing the way the
        # kernel does for anyone else.
        if Path(str(path)).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)
    bundle, diags = check_bundle([root])
    assert bundle is None
    assert [(Path(d.location.file).name, d.message) for d in diags] == [
        ("locked", "cannot read directory: Permission denied")
    ]


def test_a_yaml_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    from patchpolicy.loader import check_bundle

    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    (tmp_path / "bomb.yaml").write_text("\n".join(rows) + "\n")
    _, diags = check_bundle([tmp_path / "bomb.yaml"])
    (d,) = diags
    assert "alias bomb" in d.message and d.location.line > 1


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    from patchpolicy.loader import check_bundle

    (tmp_path / "p.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {name: p, version: 1.0.0}\n"
        "spec:\n  rules:\n    - {id: a, when: 'true', within: &w 10d, controls: []}\n"
        "    - {id: b, when: 'false', within: *w}\n"
    )
    bundle, diags = check_bundle([tmp_path])
    assert bundle is not None and diags == []


def test_a_device_is_refused_not_read_forever(tmp_path: Path) -> None:
    from patchpolicy.loader import check_bundle

    _, diags = check_bundle([Path("/dev/zero")])
    (d,) = diags
    assert d.message == "cannot read policy: it is not a regular file (a device, FIFO or socket)"


def test_yaml_nested_300_deep_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    from patchpolicy.loader import check_bundle

    (tmp_path / "deep.yaml").write_text("a: " + "[" * 300 + "]" * 300 + "\n")
    _, diags = check_bundle([tmp_path / "deep.yaml"])
    (d,) = diags
    assert d.message == "YAML nests deeper than 64 levels: refused" and d.location.line == 1


def test_exception_for_every_policy_is_held_to_each_shorter_max_lifetime(tmp_path: Path) -> None:
    """An exception without ``policies`` applies to all: it is over the limit of exactly
    those policies whose max_lifetime it outlives (found by bisection, issue 12 #8)."""
    policy = (
        "apiVersion: patchpolicy/v1\nkind: PatchPolicy\nmetadata: {{name: {name}, version: 1.0.0}}\n"
        "spec:\n  rules: [{{id: r, when: 'finding.severity == \"high\"', within: 30d}}]\n{limit}"
    )
    for name, limit in (("a", "30d"), ("b", "90d"), ("c", "120d"), ("d", "91d"), ("e", None)):
        text = policy.format(
            name=name, limit=f"  exceptions: {{max_lifetime: {limit}}}\n" if limit else ""
        )
        (tmp_path / f"{name}.yaml").write_text(text)
    (tmp_path / "x.yaml").write_text(
        "apiVersion: patchpolicy/v1\nkind: ExceptionSet\nmetadata: {name: all}\nexceptions:\n"
        "  - {id: EXC-1, match: 'finding.vuln == \"CVE-1\"', justification: j,\n"
        "     approved_by: a@example.com, approved_at: 2026-01-01, expires: 2026-04-01}\n"
    )
    bundle, diags = check_bundle([tmp_path])
    assert bundle is not None  # over a max_lifetime does not block evaluation
    over = sorted(d.message.split("policy '")[1].split("'")[0] for d in diags if "longer than" in d.message)
    # 2026-01-01 to the end of 2026-04-01 is 90 days and 24 hours less 1 us: over 30d and
    # 90d, not over 91d or 120d, and policy e sets no limit.
    assert over == ["a", "b"]
