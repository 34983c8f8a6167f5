"""Signed evidence (issue 18): keygen, evaluate --sign, verify --key. Every tampering an
auditor must catch fails with exit 1 and a line saying which check failed; bad keys exit 2;
the attestation verifies with securesystemslib and in-toto-attestation (not our code)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from patchpolicy.attest import PREDICATE_TYPE, attest, load_private_key, sign_directory
from patchpolicy.cli import main
from patchpolicy.render import BundleOutput
from patchpolicy.verify import bundle_files

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ("-p", "examples/policies", "-s", "examples/fleet.json")
ATT = "attestation.intoto.jsonl"
EVERY_FILE = sorted([o.value for o in BundleOutput] + ["SHA256SUMS"])


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PATCHPOLICY_KEY_PASSWORD", raising=False)
    return tmp_path


def keygen(prefix: str, kind: str = "ed25519") -> None:
    code, out, err = run("keygen", "-o", prefix, "--type", kind)
    assert code == 0, out + err


@pytest.fixture()
def signed(work: Path) -> Path:
    keygen("org")
    code, out, err = run("evaluate", *INPUTS, "-o", "out", "--sign", "org.key.pem")
    assert code == 1, out + err  # the examples fail the gate
    assert f"signed: {ATT} with ed25519 key" in out
    return work / "out"


def verify(*extra: str) -> tuple[int, str]:
    code, out, err = run("verify", "out", *extra)
    return code, out + err


def envelope(bundle: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((bundle / ATT).read_text())
    return data


def test_signed_bundle_verifies_with_its_key(signed: Path) -> None:
    code, out = verify("--key", "org.pub.pem")
    assert code == 0, out
    assert out.startswith(f"ok: {len(BundleOutput)} files re-hashed, signature verified with ed25519 key")


def test_without_key_says_signed_but_unverified(signed: Path) -> None:
    code, out = verify()
    assert code == 0, out
    assert "signed but unverified" in out


def test_statement_subjects_are_every_file_and_predicate_is_documented(signed: Path) -> None:
    st = json.loads(base64.b64decode(str(envelope(signed)["payload"])))
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == PREDICATE_TYPE
    assert [s["name"] for s in st["subject"]] == EVERY_FILE
    for s in st["subject"]:
        assert s["digest"]["sha256"] == hashlib.sha256((signed / s["name"]).read_bytes()).hexdigest()
    evidence = json.loads((signed / "evidence.json").read_text())
    p = st["predicate"]
    assert p["as_of"] == evidence["as_of"] == "2026-11-20T06:00:00Z"
    assert p["tool"] == evidence["tool"]
    assert p["inputs"]["snapshot"]["sha256"] == hashlib.sha256(
        (signed.parent / "examples" / "fleet.json").read_bytes()).hexdigest()
    assert len(p["inputs"]["policies"]) == len(evidence["inputs"]["policies"]) > 0
    assert {(x["name"], x["version"]) for x in p["policies"]} == {
        (x["name"], x["version"]) for x in evidence["policies"]}
    assert p["gate"] == evidence["summary"]["gate"] and p["gate"]["result"] == "fail"
    assert p["gate"]["failing"] == 10


def test_wrong_key_fails(signed: Path) -> None:
    keygen("other")
    code, out = verify("--key", "other.pub.pem")
    assert code == 1, out
    assert "signature: FAILED: no signature in attestation.intoto.jsonl verifies with ed25519 key" in out
    assert "FAIL:" in out and "ok:" not in out


@pytest.mark.parametrize("name", [*EVERY_FILE, ATT])
def test_flipped_byte_in_any_file_fails(signed: Path, name: str) -> None:
    path = signed / name
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    if name == ATT:
        assert "signature: " in out
    else:
        assert f"changed (sha256 differs from the signed subject): {name}" in out


def test_added_file_fails(signed: Path) -> None:
    (signed / "oscal" / "notes.txt").write_text("added later\n")
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    assert "extra (not a signed subject): oscal/notes.txt" in out


def test_removed_file_fails(signed: Path) -> None:
    (signed / "tasks.csv").unlink()
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    assert "missing (a signed subject): tasks.csv" in out


def test_rehashed_sums_pass_without_key_fail_with_it(signed: Path) -> None:
    report = signed / "report.md"
    report.write_bytes(report.read_bytes().replace(b"FAIL", b"PASS"))
    digest = hashlib.sha256(report.read_bytes()).hexdigest()
    sums = signed / "SHA256SUMS"
    sums.write_text("".join((f"{digest}  report.md" if line.endswith("  report.md") else line)
                            + "\n" for line in sums.read_text().splitlines()))
    assert verify()[0] == 0
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    assert "changed (sha256 differs from the signed subject): report.md" in out
    assert "changed (sha256 differs from the signed subject): SHA256SUMS" in out


def test_edited_predicate_fails(signed: Path) -> None:
    env = envelope(signed)
    st = json.loads(base64.b64decode(str(env["payload"])))
    st["predicate"]["gate"] = {"failing": 0, "result": "pass"}
    env["payload"] = base64.b64encode(json.dumps(st).encode()).decode()
    (signed / ATT).write_text(json.dumps(env) + "\n")
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    assert "signature: FAILED" in out


def test_resigned_by_another_key_fails(signed: Path) -> None:
    """Whoever edits the bundle and signs it again with a key of their own."""
    keygen("mallory")
    report = signed / "report.md"
    report.write_bytes(report.read_bytes() + b"\n")
    (signed / ATT).unlink()
    sums = signed / "SHA256SUMS"
    sums.write_text("".join((f"{hashlib.sha256(report.read_bytes()).hexdigest()}  report.md"
                             if line.endswith("  report.md") else line) + "\n"
                            for line in sums.read_text().splitlines()))
    sign_directory(signed, load_private_key("mallory.key.pem"))
    assert verify("--key", "mallory.pub.pem")[0] == 0
    code, out = verify("--key", "org.pub.pem")
    assert code == 1 and "signature: FAILED" in out


def test_predicate_not_matching_evidence_fails(signed: Path) -> None:
    files = bundle_files(signed)
    (signed / ATT).write_bytes(attest(files, load_private_key("org.key.pem"), {"as_of": "1999"}))
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    assert "attestation: the signed predicate does not match evidence.json" in out


def test_unsigned_bundle_with_key_fails(work: Path) -> None:
    keygen("org")
    assert run("evaluate", *INPUTS, "-o", "out")[0] == 1
    code, out = verify("--key", "org.pub.pem")
    assert code == 1, out
    assert "is not signed (no attestation.intoto.jsonl), but a key was given" in out


def test_attestation_symlink_or_garbage_fails(signed: Path) -> None:
    (signed / ATT).write_text("not json\n")
    code, out = verify("--key", "org.pub.pem")
    assert code == 1 and "not a DSSE envelope" in out
    (signed / ATT).write_text("{}\n{}\n")
    code, out = verify("--key", "org.pub.pem")
    assert code == 1 and "expected one DSSE envelope (one line), found 2 newlines" in out
    (signed / ATT).unlink()
    (signed / ATT).symlink_to(signed.parent / "org.pub.pem")
    code, out = verify("--key", "org.pub.pem")
    assert code == 1 and f"not a regular file (symlink): {ATT}" in out


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_signed_bundles_are_byte_identical_across_runs(work: Path, kind: str) -> None:
    keygen("k", kind)
    for out in ("a", "b"):
        assert run("evaluate", *INPUTS, "-o", out, "--sign", "k.key.pem")[0] == 1
    a, b = bundle_files(work / "a"), bundle_files(work / "b")
    assert a == b and len(a) == len(EVERY_FILE)
    assert (work / "a" / ATT).read_bytes() == (work / "b" / ATT).read_bytes()


def test_ecdsa_signed_bundle_verifies_and_reproduces(work: Path) -> None:
    keygen("ec", "ecdsa-p256")
    assert run("evaluate", *INPUTS, "-o", "out", "--sign", "ec.key.pem")[0] == 1
    code, out = verify("--key", "ec.pub.pem", *INPUTS)
    assert code == 0, out
    assert "re-hashed and reproduced, signature verified with ecdsa-p256 key" in out


def test_sign_directory_refuses_a_bundle_that_does_not_verify(work: Path) -> None:
    from patchpolicy.attest import AttestationError

    keygen("org")
    assert run("evaluate", *INPUTS, "-o", "out")[0] == 1
    (work / "out" / "report.md").write_text("edited\n")
    with pytest.raises(AttestationError, match="refusing to sign a bundle that does not verify"):
        sign_directory(work / "out", load_private_key("org.key.pem"))
    assert not (work / "out" / ATT).exists()


# -- keys --


def test_keygen_writes_a_private_0600_and_a_public_pem(work: Path) -> None:
    code, out, _ = run("keygen", "-o", "team")
    assert code == 0
    assert "wrote team.key.pem (private, NOT encrypted" in out and "wrote team.pub.pem" in out
    assert stat.S_IMODE(os.stat("team.key.pem").st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in Path("team.key.pem").read_bytes()
    assert b"BEGIN PUBLIC KEY" in Path("team.pub.pem").read_bytes()
    code, _, err = run("keygen", "-o", "team")
    assert code == 2 and "team.key.pem: exists: refusing to overwrite a key" in err


def test_encrypted_key_needs_the_password_from_the_environment(work: Path) -> None:
    env = {"PATCHPOLICY_KEY_PASSWORD": "correct horse"}
    code, out, _ = run("keygen", "-o", "enc", env=env)
    assert code == 0 and "encrypted with $PATCHPOLICY_KEY_PASSWORD" in out
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in Path("enc.key.pem").read_bytes()
    code, _, err = run("evaluate", *INPUTS, "-o", "out", "--sign", "enc.key.pem")
    assert code == 2 and "encrypted: set PATCHPOLICY_KEY_PASSWORD" in err
    assert not Path("out").exists()
    code, _, err = run("evaluate", *INPUTS, "-o", "out", "--sign", "enc.key.pem",
                       env={"PATCHPOLICY_KEY_PASSWORD": "wrong"})
    assert code == 2 and "cannot decrypt the private key" in err
    code, out, _ = run("evaluate", *INPUTS, "-o", "out", "--sign", "enc.key.pem", env=env)
    assert code == 1, out
    assert verify("--key", "enc.pub.pem")[0] == 0


def test_bad_keys_exit_2(work: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    keygen("org")
    code, _, err = run("evaluate", *INPUTS, "-o", "out", "--sign", "org.pub.pem")
    assert code == 2 and "that is a public key; sign with the private one" in err
    code, _, err = run("evaluate", *INPUTS, "-o", "out", "--sign", "nowhere.pem")
    assert code == 2 and "nowhere.pem: cannot read key" in err
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    Path("rsa.pem").write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    code, _, err = run("evaluate", *INPUTS, "-o", "out", "--sign", "rsa.pem")
    assert code == 2 and "use an Ed25519 or ECDSA P-256 key" in err
    p384 = ec.generate_private_key(ec.SECP384R1())
    Path("p384.pem").write_bytes(p384.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert run("evaluate", *INPUTS, "-o", "out")[0] == 1
    code, _, err = run("verify", "out", "--key", "p384.pem")
    assert code == 2 and "only P-256 is supported" in err
    code, _, err = run("verify", "out", "--key", "org.key.pem")
    assert code == 2 and "is a private key: verify with the public key" in err
    Path("junk.pem").write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    code, _, err = run("verify", "out", "--key", "junk.pem")
    assert code == 2 and "junk.pem: not a usable PEM public key" in err


# -- the format is the standard one: reference verifiers, not this project's code --


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_reference_verifiers_accept_the_attestation(work: Path, kind: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import VerificationError
    from securesystemslib.signer import SSlibKey

    keygen("k", kind)
    keygen("other", kind)
    assert run("evaluate", *INPUTS, "-o", "out", "--sign", "k.key.pem")[0] == 1
    raw = json.loads((work / "out" / ATT).read_text())
    keyid = raw["signatures"][0]["keyid"]
    env = Envelope.from_dict(raw)  # consumes raw's signatures
    assert env.payload_type == "application/vnd.in-toto+json"
    pub = serialization.load_pem_public_key(Path("k.pub.pem").read_bytes())
    assert set(env.verify([SSlibKey.from_crypto(pub, keyid=keyid)], 1)) == {keyid}
    other = serialization.load_pem_public_key(Path("other.pub.pem").read_bytes())
    with pytest.raises(VerificationError):
        env.verify([SSlibKey.from_crypto(other, keyid=keyid)], 1)

    st = Statement.copy_from_pb(json_format.Parse(env.payload, statement_pb2.Statement()))
    st.validate()
    assert st.pb.predicate_type == PREDICATE_TYPE
    assert {s.name: s.digest["sha256"] for s in st.pb.subject} == {
        name: hashlib.sha256((work / "out" / name).read_bytes()).hexdigest() for name in EVERY_FILE}
