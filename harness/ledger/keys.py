"""Ed25519 keys and DSSE envelopes: who may write evidence, and how a signature is made.

Keys. A key is named; its fingerprint is the sha256 (hex) of its 32 raw public bytes, and that
fingerprint is the ``keyid`` in every signature it makes. Public keys allowed to write evidence
are committed as ``evidence/keys/<name>.pub`` (PEM SubjectPublicKeyInfo, or one line of base64
of the 32 raw bytes). Private keys are PEM PKCS#8 files ``<name>.key`` (mode 0600) in
``$FALSIFY_KEY_DIR`` or ``~/.config/falsify/keys/``, never in the repository. A writer signs with
``$FALSIFY_SIGNING_KEY`` (the PEM itself, a path to it, or a key name in the key folder: CI's
key comes from a secret this way), else with the only key in the key folder.

Envelopes. Signatures are DSSE (https://github.com/secure-systems-lab/dsse): the signature is
over ``PAE(payloadType, payload)``, so a signed segment head can never be replayed as an
attestation or the other way round. The envelope format is the one Sigstore signs too: a
``sigstore`` signer would add a signature whose ``keyid`` is empty and carry its Fulcio
certificate and Rekor entry in a bundle beside the envelope; trust would then be an identity
(OIDC issuer and subject) listed in ``evidence/keys/`` instead of a public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harness.ledger.segment import LedgerError

__all__ = [
    "KEY_DIR_ENV",
    "SIGNING_KEY_ENV",
    "TRUSTED_KEYS_ENV",
    "PublicKey",
    "Signer",
    "SigningError",
    "default_signer",
    "envelope",
    "fingerprint",
    "key_dir",
    "load_trusted",
    "new_signer",
    "open_envelope",
    "pae",
    "private_pem",
    "public_pem",
    "read_public",
    "read_signer",
]

SIGNING_KEY_ENV = "FALSIFY_SIGNING_KEY"
KEY_DIR_ENV = "FALSIFY_KEY_DIR"
TRUSTED_KEYS_ENV = "FALSIFY_TRUSTED_KEYS"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
HOW_TO_ADD = ("make a key with `falsify keys new --name NAME` (the private key stays in your key "
              "folder) and commit evidence/keys/NAME.pub; CI signs with the key in "
              f"${SIGNING_KEY_ENV}")


class SigningError(LedgerError):
    """A key file cannot be read or a signature cannot be made: names the file and the fix."""


def fingerprint(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def check_name(name: str) -> str:
    if not _NAME.match(name):
        msg = (f"key name {name!r}: use 1-64 letters, digits, '_', '.', '@' or '-', starting "
               f"with a letter or digit")
        raise SigningError(msg)
    return name


@dataclass(frozen=True)
class PublicKey:
    """A public key allowed (or not) to sign, with the file it came from."""

    name: str
    key: Ed25519PublicKey
    source: Path | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable (the raw 32 bytes), for the processes of :mod:`harness.ledger.pool`."""
        raw = self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return _public_from_raw, (self.name, raw, self.source)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key that signs (the offline path; a Sigstore signer would keep this shape)."""

    name: str
    private: Ed25519PrivateKey
    source: str = "generated"

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.name, self.private.public_key())

    @property
    def keyid(self) -> str:
        return self.public.fingerprint

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


def _public_from_raw(name: str, raw: bytes, source: Path | None) -> PublicKey:
    return PublicKey(name, Ed25519PublicKey.from_public_bytes(raw), source)


def new_signer(name: str) -> Signer:
    return Signer(check_name(name), Ed25519PrivateKey.generate())


def private_pem(signer: Signer) -> bytes:
    return signer.private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())


def public_pem(key: PublicKey) -> bytes:
    return key.key.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo)


def _private_from_pem(data: bytes, where: str, name: str) -> Signer:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        msg = f"{where}: not an unencrypted PEM private key ({exc}); {HOW_TO_ADD}"
        raise SigningError(msg) from None
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{where}: a {type(key).__name__}, not an Ed25519 key; {HOW_TO_ADD}"
        raise SigningError(msg)
    return Signer(name, key, where)


def read_signer(path: Path) -> Signer:
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"{path}: cannot read the private key ({exc.strerror}); {HOW_TO_ADD}"
        raise SigningError(msg) from None
    return _private_from_pem(data, str(path), path.name.removesuffix(".key"))


def read_public(path: Path) -> PublicKey:
    """``<name>.pub``: PEM, or one line of base64 of the 32 raw bytes."""
    name = path.name.removesuffix(".pub")
    try:
        data = path.read_bytes().strip()
    except OSError as exc:
        msg = f"{path}: cannot read the public key ({exc.strerror})"
        raise SigningError(msg) from None
    try:
        if data.startswith(b"-----BEGIN"):
            key: Any = serialization.load_pem_public_key(data)
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(data, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        msg = (f"{path}: not an Ed25519 public key in PEM or raw base64 ({exc}); write it "
               f"with `falsify keys new`")
        raise SigningError(msg) from None
    if not isinstance(key, Ed25519PublicKey):
        msg = f"{path}: a {type(key).__name__}, not an Ed25519 public key"
        raise SigningError(msg)
    return PublicKey(name, key, path)


def key_dir() -> Path:
    """Where private keys live: ``$FALSIFY_KEY_DIR``, else ``~/.config/falsify/keys``."""
    env = os.environ.get(KEY_DIR_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "falsify" / "keys"


def default_signer() -> Signer | None:
    """The key a writer signs with, or None when there is none (its segment stays unsigned)."""
    env = os.environ.get(SIGNING_KEY_ENV, "").strip()
    if env.startswith("-----BEGIN"):
        return _private_from_pem(env.encode(), f"${SIGNING_KEY_ENV}", "env")
    if env:
        path = Path(env)
        named = key_dir() / f"{env}.key"
        if not path.is_file() and named.is_file():
            path = named
        return read_signer(path)
    folder = key_dir()
    found = sorted(folder.glob("*.key")) if folder.is_dir() else []
    if not found:
        return None
    if len(found) > 1:
        names = ", ".join(p.name.removesuffix(".key") for p in found)
        msg = (f"{folder} holds {len(found)} keys ({names}); choose the one to sign with: "
               f"export {SIGNING_KEY_ENV}=NAME")
        raise SigningError(msg)
    return read_signer(found[0])


def load_trusted(folders: Iterable[Path]) -> dict[str, PublicKey]:
    """Every ``*.pub`` in ``folders`` (and in ``$FALSIFY_TRUSTED_KEYS``, a path list), by
    fingerprint. A folder that does not exist holds no keys."""
    extra = [Path(p) for p in os.environ.get(TRUSTED_KEYS_ENV, "").split(os.pathsep) if p]
    trusted: dict[str, PublicKey] = {}
    for folder in [*folders, *extra]:
        files = [folder] if folder.is_file() else sorted(folder.glob("*.pub"))
        for path in files:
            key = read_public(path)
            trusted.setdefault(key.fingerprint, key)
    return trusted


# --- DSSE --------------------------------------------------------------------------------------

def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload_type: str, payload: bytes, signer: Signer) -> dict[str, Any]:
    sig = signer.sign(pae(payload_type, payload))
    return {"payload": base64.b64encode(payload).decode("ascii"), "payloadType": payload_type,
            "signatures": [{"keyid": signer.keyid, "sig": base64.b64encode(sig).decode("ascii")}]}


@dataclass(frozen=True)
class Opened:
    """An envelope whose signature was checked: the payload and who signed it."""

    payload: bytes
    keyid: str
    signer: PublicKey | None  # None: no trusted key made any of its signatures
    valid: bool  # a trusted key's signature verifies


def open_envelope(env: Any, payload_type: str, trusted: dict[str, PublicKey]) -> Opened:
    """Decode a DSSE envelope and check its signatures against ``trusted``.

    Raises SigningError when it is not a well-formed envelope of ``payload_type``.
    """
    if not isinstance(env, dict) or not isinstance(env.get("signatures"), list):
        msg = "not a DSSE envelope (needs payload, payloadType and signatures)"
        raise SigningError(msg)
    if env.get("payloadType") != payload_type:
        msg = f"payloadType is {env.get('payloadType')!r}, expected {payload_type!r}"
        raise SigningError(msg)
    try:
        payload = base64.b64decode(str(env.get("payload")), validate=True)
        sigs = [(str(s["keyid"]), base64.b64decode(str(s["sig"]), validate=True))
                for s in env["signatures"]]
    except (KeyError, TypeError, binascii.Error) as exc:
        msg = f"envelope fields are not valid base64 or a signature lacks keyid/sig ({exc})"
        raise SigningError(msg) from None
    if not sigs:
        msg = "the envelope carries no signature"
        raise SigningError(msg)
    message = pae(payload_type, payload)
    for keyid, sig in sigs:
        key = trusted.get(keyid)
        if key is not None:
            return Opened(payload, keyid, key, key.verify(sig, message))
    return Opened(payload, sigs[0][0], None, False)
