"""Signed evidence: a DSSE envelope over an in-toto Statement v1 for an evidence bundle.

The Statement's subjects are every file of the bundle with its sha256 (``SHA256SUMS``
included); its predicate (type ``PREDICATE_TYPE``) repeats what an auditor needs without
the inputs: their digests, the policies' names and versions, the as-of, the tool version
and the gate result. The envelope is the standard DSSE JSON (``payloadType``, base64
``payload``, ``signatures`` of ``keyid`` and base64 ``sig``) over the DSSE v1
pre-authentication encoding, one envelope per line in ``attestation.intoto.jsonl`` (the
in-toto attestation bundle format), so in-toto and securesystemslib tooling read it as is.

Keys are PEM files: Ed25519, or ECDSA on P-256 with SHA-256 (DER signatures, as
securesystemslib's ``ecdsa-sha2-nistp256``). Both sign deterministically (ECDSA with
RFC 6979 nonces where the OpenSSL build supports them), so a signed bundle is
byte-identical across runs. A private key may be encrypted; its password is read from
the ``PATCHPOLICY_KEY_PASSWORD`` environment variable, never from an option or a file.
A key's id is the hex sha256 of its DER SubjectPublicKeyInfo.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, assert_never

import msgspec
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from patchpolicy.errors import InputError, OutputError
from patchpolicy.outdir import FileBody, body_sha256

ATTESTATION_FILE = "attestation.intoto.jsonl"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: The predicate of an evidence bundle's Statement (documented in docs/evidence.md).
PREDICATE_TYPE = "https://patchpolicy.dev/evidence/v1"
PASSWORD_ENV = "PATCHPOLICY_KEY_PASSWORD"
EVIDENCE_FILE = "evidence.json"

_ENCODER = msgspec.json.Encoder(order="sorted")


class KeyFileError(InputError):
    """A key file that cannot be read, decrypted or used (the CLI exits 2)."""


class AttestationError(InputError):
    """A bundle that cannot be signed as it is."""


class KeyType(StrEnum):
    """The signature algorithms a key may use."""

    ED25519 = "ed25519"
    ECDSA_P256 = "ecdsa-p256"


_PublicCrypto = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
_PrivateCrypto = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


def _keyid(public: _PublicCrypto) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _ecdsa() -> ec.ECDSA:
    try:
        return ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
    except UnsupportedAlgorithm:  # pragma: no cover - OpenSSL < 3.2: randomised nonces
        return ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True)
class PublicKey:
    """A verification key and its id."""

    crypto: _PublicCrypto
    type: KeyType
    keyid: str

    @classmethod
    def of(cls, crypto: _PublicCrypto, where: str) -> PublicKey:
        if isinstance(crypto, ed25519.Ed25519PublicKey):
            return cls(crypto, KeyType.ED25519, _keyid(crypto))
        if isinstance(crypto.curve, ec.SECP256R1):
            return cls(crypto, KeyType.ECDSA_P256, _keyid(crypto))
        raise KeyFileError(f"{where}: ECDSA on {crypto.curve.name}: only P-256 is supported")

    def verify(self, signature: bytes, data: bytes) -> bool:
        try:
            if isinstance(self.crypto, ed25519.Ed25519PublicKey):
                self.crypto.verify(signature, data)
            else:
                self.crypto.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    def pem(self) -> bytes:
        return self.crypto.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def describe(self) -> str:
        return f"{self.type} key {self.keyid[:16]}"


@dataclass(frozen=True)
class PrivateKey:
    """A signing key with its public half."""

    crypto: _PrivateCrypto
    public: PublicKey

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.crypto, ed25519.Ed25519PrivateKey):
            return self.crypto.sign(data)
        return self.crypto.sign(data, _ecdsa())


def generate_key(kind: KeyType) -> PrivateKey:
    crypto: _PrivateCrypto
    match kind:
        case KeyType.ED25519:
            crypto = ed25519.Ed25519PrivateKey.generate()
        case KeyType.ECDSA_P256:
            crypto = ec.generate_private_key(ec.SECP256R1())
        case _:
            assert_never(kind)
    return PrivateKey(crypto, PublicKey.of(crypto.public_key(), "generated key"))


def _password() -> bytes | None:
    value = os.environ.get(PASSWORD_ENV)
    return value.encode() if value else None


def private_pem(key: PrivateKey, password: bytes | None) -> bytes:
    """PKCS#8 PEM, encrypted with ``password`` when given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password
        else serialization.NoEncryption()
    )
    return key.crypto.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_keypair(prefix: str | Path, kind: KeyType = KeyType.ED25519) -> tuple[Path, Path, bool]:
    """Write ``PREFIX.key.pem`` (mode 0600, encrypted when ``PATCHPOLICY_KEY_PASSWORD`` is
    set) and ``PREFIX.pub.pem``; never overwrites. Returns both paths and whether the
    private key is encrypted."""
    prefix = str(prefix)
    if not prefix or prefix.endswith(("/", os.sep)):
        raise KeyFileError(f"{prefix!r}: give a file name prefix, e.g. -o keys/evidence")
    private_path, public_path = Path(prefix + ".key.pem"), Path(prefix + ".pub.pem")
    for p in (private_path, public_path):
        if os.path.lexists(p):
            raise KeyFileError(f"{p}: exists: refusing to overwrite a key")
    key = generate_key(kind)
    password = _password()
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem(key, password))
        os.chmod(private_path, 0o600)  # the umask may have narrowed, never widened, it
        fd = os.open(public_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(key.public.pem())
    except OSError as e:
        raise OutputError(f"{e.filename or prefix}: cannot write key: {e.strerror or e}") from e
    return private_path, public_path, password is not None


MAX_KEY_BYTES = 1 << 20
"""Bytes of a PEM key read from standard input: a key is a few hundred."""


def _read(path: Path) -> bytes:
    """The key file's bytes; ``-``: standard input (a key piped from a secret store, never
    written to disk)."""
    if str(path) == "-":
        import sys

        if sys.stdin.isatty():
            raise KeyFileError("<stdin>: standard input is a terminal: pipe a PEM key in")
        return sys.stdin.buffer.read(MAX_KEY_BYTES)
    try:
        return path.read_bytes()
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read key: {e.strerror or e}") from e


def load_private_key(path: str | Path) -> PrivateKey:
    """A PEM private key (PKCS#8, or the traditional EC form); an encrypted one needs
    ``PATCHPOLICY_KEY_PASSWORD``."""
    p = Path(path)
    data = _read(p)
    if b"PRIVATE KEY-----" not in data:
        hint = ": that is a public key; sign with the private one" if b"PUBLIC KEY" in data else ""
        raise KeyFileError(f"{p}: not a PEM private key{hint}")
    password = _password()
    try:
        try:
            crypto = serialization.load_pem_private_key(data, password)
        except TypeError as e:
            if password is None:
                raise KeyFileError(
                    f"{p}: the private key is encrypted: set {PASSWORD_ENV} to its password"
                ) from e
            crypto = serialization.load_pem_private_key(data, None)  # not encrypted after all
    except ValueError as e:
        if password is not None and b"ENCRYPTED" in data:
            raise KeyFileError(f"{p}: cannot decrypt the private key: wrong {PASSWORD_ENV}?") from e
        raise KeyFileError(f"{p}: not a usable PEM private key: {e}") from e
    except UnsupportedAlgorithm as e:
        raise KeyFileError(f"{p}: unsupported key: {e}") from e
    if not isinstance(crypto, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        raise KeyFileError(f"{p}: a {type(crypto).__name__}: use an Ed25519 or ECDSA P-256 key")
    return PrivateKey(crypto, PublicKey.of(crypto.public_key(), str(p)))


def load_public_key(path: str | Path) -> PublicKey:
    """A PEM public key (SubjectPublicKeyInfo), as ``keygen`` writes to ``PREFIX.pub.pem``."""
    p = Path(path)
    data = _read(p)
    if b"PRIVATE KEY-----" in data:
        raise KeyFileError(f"{p}: is a private key: verify with the public key (PREFIX.pub.pem)")
    try:
        crypto = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise KeyFileError(f"{p}: not a usable PEM public key: {e}") from e
    if not isinstance(crypto, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
        raise KeyFileError(f"{p}: a {type(crypto).__name__}: use an Ed25519 or ECDSA P-256 key")
    return PublicKey.of(crypto, str(p))


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is signed, never the JSON itself."""
    t = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(t), t, len(payload), payload)


def evidence_predicate(evidence: bytes) -> dict[str, Any]:
    """The predicate, taken from ``evidence.json``: inputs with digests, policies (name,
    version, file, in effect), as-of, tool, gate."""
    try:
        doc = msgspec.json.decode(evidence)
        return {
            "tool": doc["tool"],
            "as_of": doc["as_of"],
            "inputs": doc["inputs"],
            "policies": [
                {k: p[k] for k in ("name", "version", "file", "in_effect")}
                for p in doc["policies"]
            ],
            "gate": doc["summary"]["gate"],
        }
    except (msgspec.DecodeError, KeyError, TypeError) as e:
        raise AttestationError(f"{EVIDENCE_FILE}: not patchpolicy evidence: {e}") from e


def statement(files: Mapping[str, FileBody], predicate: Mapping[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1: every file as a subject (sorted by name)."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": name, "digest": {"sha256": body_sha256(data)}}
            for name, data in sorted(files.items())
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": dict(predicate),
    }


MAX_SUMMARY_BYTES = 512 * 2**20
"""evidence.json is a summary (items live in items.jsonl): 16 MB at 10^6 findings."""


def _summary_bytes(body: FileBody) -> bytes:
    """evidence.json's bytes, also when it was rendered into a temporary file."""
    if isinstance(body, bytes):
        return body
    data = bytearray()
    for chunk in body.chunks():
        data += chunk
        if len(data) > MAX_SUMMARY_BYTES:
            raise AttestationError(f"{EVIDENCE_FILE} is too large to be an evidence summary")
    return bytes(data)


def attest(
    files: Mapping[str, FileBody], key: PrivateKey, predicate: Mapping[str, Any] | None = None
) -> bytes:
    """The ``attestation.intoto.jsonl`` line for a bundle's ``files`` (name -> bytes)."""
    if ATTESTATION_FILE in files:
        raise AttestationError(f"{ATTESTATION_FILE} cannot be a subject of itself")
    if predicate is None:
        if EVIDENCE_FILE not in files:
            raise AttestationError(f"no {EVIDENCE_FILE}: not an evidence bundle")
        predicate = evidence_predicate(_summary_bytes(files[EVIDENCE_FILE]))
    payload = _ENCODER.encode(statement(files, predicate))
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"keyid": key.public.keyid, "sig": base64.b64encode(signature).decode()}],
    }
    return _ENCODER.encode(envelope) + b"\n"


def sign_directory(
    bundle_dir: str | Path, key: PrivateKey, predicate: Mapping[str, Any] | None = None
) -> Path:
    """Sign an evidence bundle already on disk: it must verify against its SHA256SUMS and
    be complete; then ``attestation.intoto.jsonl`` is written (atomically) beside it."""
    from patchpolicy.snapshot import atomic_write
    from patchpolicy.verify import bundle_files, verify_bundle

    d = Path(bundle_dir)
    check = verify_bundle(d)
    if not check.ok:
        raise AttestationError(
            f"{d}: refusing to sign a bundle that does not verify: " + "; ".join(check.lines())
        )
    files = bundle_files(d)
    out = d / ATTESTATION_FILE
    atomic_write(out, [attest(files, key, predicate)])
    return out


@dataclass
class AttestationCheck:
    """What checking an attestation found: ``problems`` empty means verified."""

    problems: list[str] = field(default_factory=list)
    keyid: str | None = None


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    try:
        decoded = base64.b64decode(value, validate=True)
    except binascii.Error as e:
        raise ValueError(f"{what} is not base64: {e}") from e
    if base64.b64encode(decoded).decode() != value:  # unused bits set: an edit that decodes alike
        raise ValueError(f"{what} is not canonical base64")
    return decoded


def _envelope(data: bytes) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    # Exactly as attest() writes it: one line and its newline, nothing else to edit unseen.
    newlines = data.count(b"\n")
    if not data.endswith(b"\n") or newlines != 1:
        raise ValueError(f"expected one DSSE envelope (one line), found {newlines} newlines")
    env = msgspec.json.decode(data[:-1])
    if not isinstance(env, dict):
        raise ValueError("not a JSON object")
    payload_type = env.get("payloadType")
    if not isinstance(payload_type, str):
        raise ValueError("no payloadType")
    sigs = env.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise ValueError("no signatures")
    signatures = []
    for i, s in enumerate(sigs):
        if not isinstance(s, dict):
            raise ValueError(f"signatures[{i}] is not an object")
        signatures.append((str(s.get("keyid", "")), _b64(s.get("sig"), f"signatures[{i}].sig")))
    return payload_type, _b64(env.get("payload"), "payload"), signatures


def _subjects(payload: bytes) -> tuple[dict[str, str], Any]:
    st = msgspec.json.decode(payload)
    if not isinstance(st, dict) or st.get("_type") != STATEMENT_TYPE:
        raise ValueError(f"not an in-toto Statement v1 (_type {STATEMENT_TYPE})")
    if st.get("predicateType") != PREDICATE_TYPE:
        raise ValueError(f"predicateType is {st.get('predicateType')!r}, not {PREDICATE_TYPE}")
    subjects: dict[str, str] = {}
    raw = st.get("subject")
    if not isinstance(raw, list) or not raw:
        raise ValueError("no subjects")
    for i, s in enumerate(raw):
        name = s.get("name") if isinstance(s, dict) else None
        digest = s.get("digest", {}).get("sha256") if isinstance(s, dict) else None
        if (not isinstance(name, str) or not isinstance(digest, str) or name in subjects
                or name.startswith("/") or ".." in Path(name).parts):
            raise ValueError(f"subject[{i}]: bad or duplicate name, or no sha256 digest")
        subjects[name] = digest
    return subjects, st.get("predicate")


def check_attestation(
    data: bytes, key: PublicKey, digests: Mapping[str, str | None], evidence: bytes | None
) -> AttestationCheck:
    """Check the signature, then every subject's digest, then that no file is unlisted.

    ``digests``: every file present in the bundle (the attestation and the output marker
    aside) by name, ``None`` for one that is not a regular file. ``evidence``: the bytes
    of ``evidence.json`` when present, to compare the predicate with.
    """
    out = AttestationCheck()
    where = ATTESTATION_FILE
    try:
        payload_type, payload, signatures = _envelope(data)
    except (ValueError, msgspec.DecodeError) as e:
        out.problems.append(f"signature: {where}: not a DSSE envelope: {e}")
        return out
    if payload_type != PAYLOAD_TYPE:
        out.problems.append(f"signature: {where}: payloadType {payload_type!r}, not {PAYLOAD_TYPE}")
        return out
    signed = pae(payload_type, payload)
    # The keyid must be the key's too: an envelope is not edited anywhere without failing.
    if not any(kid == key.keyid and key.verify(sig, signed) for kid, sig in signatures):
        ids = ", ".join(sorted({k[:16] or "(none)" for k, _ in signatures}))
        out.problems.append(
            f"signature: FAILED: no signature in {where} verifies with {key.describe()} "
            f"(signed by keyid {ids}): a wrong key, or the attestation was edited"
        )
        return out
    out.keyid = key.keyid
    try:
        subjects, predicate = _subjects(payload)
    except (ValueError, msgspec.DecodeError, AttributeError) as e:
        out.problems.append(f"attestation: the signed statement is not usable: {e}")
        return out
    for name, digest in sorted(subjects.items()):
        if name not in digests:
            out.problems.append(f"missing (a signed subject): {name}")
        elif digests[name] is not None and digests[name] != digest:
            out.problems.append(f"changed (sha256 differs from the signed subject): {name}")
    out.problems += [f"extra (not a signed subject): {n}" for n in sorted(set(digests) - set(subjects))]
    if evidence is not None and digests.get(EVIDENCE_FILE) == subjects.get(EVIDENCE_FILE):
        try:
            fresh = evidence_predicate(evidence)
        except AttestationError:
            fresh = None
        if predicate != fresh:
            out.problems.append(f"attestation: the signed predicate does not match {EVIDENCE_FILE}")
    return out
