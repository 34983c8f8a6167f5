"""attest: the DSSE pre-authentication encoding, key ids, statements and the checks of
check_attestation, without the CLI."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization

from patchpolicy.attest import (
    ATTESTATION_FILE,
    AttestationError,
    KeyType,
    attest,
    check_attestation,
    evidence_predicate,
    generate_key,
    pae,
    statement,
)

EVIDENCE = json.dumps({
    "tool": {"name": "patchpolicy", "version": "0.1.0"},
    "as_of": "2026-11-20T06:00:00Z",
    "inputs": {"policies": [{"path": "p.yaml", "sha256": "ab" * 32, "size": 3}],
               "snapshot": {"path": "s.json", "sha256": "cd" * 32, "size": 4}},
    "policies": [{"name": "baseline", "version": "1.2.0", "file": "p.yaml", "in_effect": True,
                  "title": "t"}],
    "summary": {"gate": {"failing": 0, "result": "pass"}},
}).encode()
FILES = {"evidence.json": EVIDENCE, "report.md": b"# report\n", "SHA256SUMS": b"..."}


def digests(files: dict[str, bytes]) -> dict[str, str | None]:
    return {n: hashlib.sha256(d).hexdigest() for n, d in files.items()}


def test_pae_matches_the_dsse_spec_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world")


@pytest.mark.parametrize("kind", list(KeyType))
def test_keyid_is_the_sha256_of_the_public_key_info(kind: KeyType) -> None:
    key = generate_key(kind)
    der = key.public.crypto.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public.keyid == hashlib.sha256(der).hexdigest()
    assert key.public.type == kind


def test_statement_lists_subjects_sorted_with_digests() -> None:
    st = statement(FILES, {"x": 1})
    assert [s["name"] for s in st["subject"]] == ["SHA256SUMS", "evidence.json", "report.md"]
    assert st["subject"][2]["digest"] == {"sha256": hashlib.sha256(b"# report\n").hexdigest()}


def test_predicate_keeps_names_versions_and_drops_the_rest() -> None:
    p = evidence_predicate(EVIDENCE)
    assert p["policies"] == [{"name": "baseline", "version": "1.2.0", "file": "p.yaml",
                              "in_effect": True}]
    assert p["gate"] == {"failing": 0, "result": "pass"}
    with pytest.raises(AttestationError, match="evidence.json: not patchpolicy evidence"):
        evidence_predicate(b"{}")


@pytest.mark.parametrize("kind", list(KeyType))
def test_check_attestation_passes_then_names_each_failure(kind: KeyType) -> None:
    key = generate_key(kind)
    line = attest(FILES, key)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    ok = check_attestation(line, key.public, digests(FILES), EVIDENCE)
    assert ok.problems == [] and ok.keyid == key.public.keyid

    other = generate_key(kind)
    bad = check_attestation(line, other.public, digests(FILES), EVIDENCE)
    assert len(bad.problems) == 1 and bad.problems[0].startswith("signature: FAILED")

    changed = {**digests(FILES), "report.md": "00" * 32, "new.txt": "11" * 32}
    del changed["SHA256SUMS"]
    assert check_attestation(line, key.public, changed, EVIDENCE).problems == [
        "missing (a signed subject): SHA256SUMS",
        "changed (sha256 differs from the signed subject): report.md",
        "extra (not a signed subject): new.txt",
    ]


def test_check_attestation_rejects_other_payload_types_and_statements() -> None:
    key = generate_key(KeyType.ED25519)
    env = json.loads(attest(FILES, key))
    env["payloadType"] = "text/plain"
    problems = check_attestation(json.dumps(env).encode() + b"\n", key.public, digests(FILES), EVIDENCE)
    assert problems.problems == [
        "signature: attestation.intoto.jsonl: payloadType 'text/plain', not application/vnd.in-toto+json"]
    # A validly signed payload that is not our Statement.
    payload = json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [],
                          "predicateType": "https://example.com/other"}).encode()
    sig = key.sign(pae("application/vnd.in-toto+json", payload))
    env = {"payload": base64.b64encode(payload).decode(),
           "payloadType": "application/vnd.in-toto+json",
           "signatures": [{"keyid": key.public.keyid, "sig": base64.b64encode(sig).decode()}]}
    problems = check_attestation(json.dumps(env).encode() + b"\n", key.public, digests(FILES), EVIDENCE)
    assert len(problems.problems) == 1
    assert "predicateType is 'https://example.com/other'" in problems.problems[0]


def test_attestation_cannot_sign_itself() -> None:
    key = generate_key(KeyType.ED25519)
    with pytest.raises(AttestationError, match="cannot be a subject of itself"):
        attest({**FILES, ATTESTATION_FILE: b""}, key)
    with pytest.raises(AttestationError, match="no evidence.json"):
        attest({"report.md": b""}, key)


def test_any_flipped_bit_of_the_envelope_fails() -> None:
    """Every byte of attestation.intoto.jsonl matters: keyid, base64 padding bits, the
    newline; none can be edited while the signature still verifies."""
    key = generate_key(KeyType.ED25519)
    small = {"evidence.json": EVIDENCE}
    line = attest(small, key)
    assert check_attestation(line, key.public, digests(small), EVIDENCE).problems == []
    for i in range(len(line)):
        for bit in (0x01, 0x20):
            edited = bytearray(line)
            edited[i] ^= bit
            problems = check_attestation(bytes(edited), key.public, digests(small), EVIDENCE).problems
            assert problems, (i, bit, bytes(edited[max(0, i - 10):i + 10]))
