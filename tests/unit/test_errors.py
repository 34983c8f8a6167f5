"""Error messages in the house style parse back into records (file, line, column, JSON
path, code), and every error class has its code."""

from __future__ import annotations

import pytest

from patchpolicy.errors import (
    Diagnostic,
    ErrorCode,
    ExprError,
    ImporterError,
    InputError,
    LoadError,
    Location,
    SnapshotError,
    ValidationError,
    diagnostic_of,
)


@pytest.mark.parametrize(("message", "file", "line", "col", "path", "rest"), [
    ("fleet.json:3:15: malformed JSON: object keys must be strings",
     "fleet.json", 3, 15, None, "malformed JSON: object keys must be strings"),
    ("fleet.json:3:15: $.hosts[0].findings: expected `array`, got `int`",
     "fleet.json", 3, 15, "$.hosts[0].findings", "$.hosts[0].findings: expected `array`, got `int`"),
    ("big.jsonl:1: empty snapshot: line 1 must be the header",
     "big.jsonl", 1, 0, None, "empty snapshot: line 1 must be the header"),
    ("dir with: colon/p.yaml:2:1: bad", "dir with: colon/p.yaml", 2, 1, None, "bad"),
    ("no place here", "", 0, 0, None, "no place here"),
])
def test_diagnostic_of_parses_the_place(message: str, file: str, line: int, col: int,
                                        path: str | None, rest: str) -> None:
    d = diagnostic_of(message, ErrorCode.SNAPSHOT)
    assert d.location == Location(file, line, col)
    assert d.json_path == path
    assert d.message == rest
    assert d.code == "snapshot"
    # The text form is the message again, with its place (a line without a column
    # prints as column 0).
    if col:
        assert str(d) == message


def test_known_file_pins_a_message_without_a_line() -> None:
    d = diagnostic_of("fleet.json: cannot read snapshot: No such file or directory",
                      ErrorCode.SNAPSHOT, ("other.json", "fleet.json"))
    assert d.location == Location("fleet.json")
    assert d.message == "cannot read snapshot: No such file or directory"
    assert diagnostic_of("fleet.json: x", ErrorCode.INPUT).location == Location("")


def test_record_has_every_key_and_nulls_for_what_is_unknown() -> None:
    d = Diagnostic(Location("p.yaml", 4, 7), "rule \"x\": bad", json_path="$.spec.rules[0]")
    assert d.record() == {"file": "p.yaml", "line": 4, "column": 7,
                          "json_path": "$.spec.rules[0]", "code": "invalid",
                          "severity": "error", "message": "rule \"x\": bad"}
    assert Diagnostic(Location(""), "m").record()["file"] is None


def test_each_error_class_has_its_code() -> None:
    assert SnapshotError("a:1:2: b").problems()[0].code == ErrorCode.SNAPSHOT
    assert ImporterError("x").problems()[0].code == ErrorCode.IMPORT
    assert LoadError("x").problems()[0].code == ErrorCode.LOAD
    assert ExprError("x").problems()[0].code == ErrorCode.EXPRESSION
    assert InputError("x").problems()[0].code == ErrorCode.INPUT
    two = InputError("a.yaml:1:1: one\nb.yaml:2:2: two").problems()
    assert [d.location.file for d in two] == ["a.yaml", "b.yaml"]
    diags = [Diagnostic(Location("b", 1, 1), "y"), Diagnostic(Location("a", 1, 1), "x")]
    assert ValidationError(diags).problems() == sorted(diags)
