"""Recipient key pairs, key ids, key files, the keyring, and HPKE wrapping of per-object data keys."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Union

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from .base import StorageIntegrityError, StorageMisconfigured

SUITE_X25519 = "x25519"
SUITE_MLKEM768_X25519 = "mlkem768x25519"
SUITES = (SUITE_X25519, SUITE_MLKEM768_X25519)
_KEMS = {SUITE_X25519: hpke.KEM.X25519, SUITE_MLKEM768_X25519: hpke.KEM.MLKEM768_X25519}

DATA_KEY_SIZE = 32
OBJECT_ID_SIZE = 32
ENVELOPE_VERSION = "dpe1"
_KEY_ID_HEX = 16
_HPKE_OVERHEAD = DATA_KEY_SIZE + 16  # sealed data key plus the HPKE AEAD tag
_MAX_KEY_FILE = 64 * 1024
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL)

PathLike = Union[str, "os.PathLike[str]"]


class DecryptionError(StorageIntegrityError):
    """Raised when an envelope or ciphertext fails to authenticate: tampered, truncated, or the wrong key."""


class KeyFileError(StorageMisconfigured):
    """Raised when a key file is missing, unreadable, of the wrong kind, or would be overwritten."""


class MissingPrivateKey(StorageMisconfigured):
    """Raised when decrypting needs a private key this portal was not given."""


def _hpke_suite(suite: str) -> hpke.Suite:
    return hpke.Suite(_KEMS[suite], hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def _raw_public(key: x25519.X25519PublicKey | mlkem.MLKEM768PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True, eq=False)
class PublicKey:
    """A recipient public key: its suite and its parts (ML-KEM-768 then X25519 for the hybrid suite)."""

    suite: str
    parts: tuple

    @property
    def key_id(self) -> str:
        """``<suite>-<16 hex>``: a hash of the raw public key, so every host computes the same id."""
        raw = b"".join(_raw_public(part) for part in self.parts)
        digest = hashlib.sha256(b"document-portal key id v1\x00" + self.suite.encode() + b"\x00" + raw)
        return f"{self.suite}-{digest.hexdigest()[:_KEY_ID_HEX]}"

    @property
    def hpke_key(self):
        """The object ``hpke.Suite.encrypt`` takes."""
        if self.suite == SUITE_MLKEM768_X25519:
            return hpke.MLKEM768X25519PublicKey(*self.parts)
        return self.parts[0]

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM block(s), one per part."""
        return b"".join(
            part.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            for part in self.parts
        )


@dataclass(frozen=True, eq=False)
class PrivateKey:
    """A recipient private key with the public key it belongs to."""

    suite: str
    parts: tuple

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(self.suite, tuple(part.public_key() for part in self.parts))

    @property
    def key_id(self) -> str:
        """The key id of the matching public key."""
        return self.public_key.key_id

    @property
    def hpke_key(self):
        """The object ``hpke.Suite.decrypt`` takes."""
        if self.suite == SUITE_MLKEM768_X25519:
            return hpke.MLKEM768X25519PrivateKey(*self.parts)
        return self.parts[0]

    def to_pem(self) -> bytes:
        """Unencrypted PKCS#8 PEM block(s), one per part (ML-KEM-768 as its 64-byte seed)."""
        return b"".join(
            part.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            for part in self.parts
        )


class KeyPair(NamedTuple):
    """A freshly generated private key and its public key."""

    private: PrivateKey
    public: PublicKey


def generate_keypair(pq: bool = False) -> KeyPair:
    """A new X25519 key pair, or ML-KEM-768+X25519 when ``pq``."""
    if pq:
        private = PrivateKey(
            SUITE_MLKEM768_X25519, (mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate())
        )
    else:
        private = PrivateKey(SUITE_X25519, (x25519.X25519PrivateKey.generate(),))
    return KeyPair(private, private.public_key)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"refusing to overwrite existing key file {path}") from None
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, mode)  # the umask may only narrow the mode; make it exact
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def save_keypair(directory: PathLike, pair: KeyPair) -> str:
    """Write ``<key id>.key.pem`` (mode 0600) and ``<key id>.pub.pem`` into ``directory``; return the key id.

    Raises KeyFileError if either file exists or cannot be written.
    """
    directory = Path(directory)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create key directory {directory}: {exc.strerror}") from None
    key_id = pair.public.key_id
    private_path, public_path = directory / f"{key_id}.key.pem", directory / f"{key_id}.pub.pem"
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(f"refusing to overwrite existing key file {path}")
    _write_new(private_path, pair.private.to_pem(), 0o600)
    try:
        _write_new(public_path, pair.public.to_pem(), 0o644)
    except KeyFileError:
        private_path.unlink()
        raise
    return key_id


def write_keypair(directory: PathLike, pq: bool = False) -> str:
    """Generate a key pair and save it into ``directory`` (see save_keypair); return its key id."""
    return save_keypair(directory, generate_keypair(pq))


def _read_blocks(path: PathLike) -> list[tuple[str, bytes]]:
    try:
        with open(path, "rb") as fh:
            data = fh.read(_MAX_KEY_FILE + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    if len(data) > _MAX_KEY_FILE:
        raise KeyFileError(f"key file {path} is too large to be a key")
    blocks = [(m.group(1).decode(), m.group(0)) for m in _PEM_BLOCK.finditer(data)]
    if not blocks:
        raise KeyFileError(f"key file {path} holds no PEM block")
    return blocks


def _classify(path: PathLike, parts: list, kind: str) -> str:
    x_cls = x25519.X25519PrivateKey if kind == "private" else x25519.X25519PublicKey
    m_cls = mlkem.MLKEM768PrivateKey if kind == "private" else mlkem.MLKEM768PublicKey
    if len(parts) == 1 and isinstance(parts[0], x_cls):
        return SUITE_X25519
    if len(parts) == 2 and isinstance(parts[0], m_cls) and isinstance(parts[1], x_cls):
        return SUITE_MLKEM768_X25519
    raise KeyFileError(
        f"key file {path} is not an X25519 or ML-KEM-768+X25519 {kind} key "
        "(generate one with `flask storage keys generate`)"
    )


def load_public_key(path: PathLike) -> PublicKey:
    """Read a public key file written by save_keypair; raises KeyFileError naming the file."""
    parts = []
    for label, block in _read_blocks(path):
        if "PRIVATE" in label:
            raise KeyFileError(
                f"key file {path} holds a private key; STORAGE_ENCRYPTION_PUBLIC_KEY needs the public key file"
            )
        try:
            parts.append(serialization.load_pem_public_key(block))
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"key file {path} holds an unreadable public key: {exc}") from None
    return PublicKey(_classify(path, parts, "public"), tuple(parts))


def load_private_key(path: PathLike) -> PrivateKey:
    """Read a private key file written by save_keypair; raises KeyFileError naming the file."""
    parts = []
    for label, block in _read_blocks(path):
        if label != "PRIVATE KEY":
            raise KeyFileError(f"key file {path} holds a {label.lower()}, not an unencrypted PKCS#8 private key")
        try:
            parts.append(serialization.load_pem_private_key(block, password=None))
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"key file {path} holds an unreadable private key: {exc}") from None
    return PrivateKey(_classify(path, parts, "private"), tuple(parts))


class KeyRing:
    """The private keys a portal may decrypt with, by key id; empty on hosts that only encrypt."""

    def __init__(self, private_keys: Iterable[PrivateKey] = ()):
        self._keys = {key.key_id: key for key in private_keys}

    @classmethod
    def from_files(cls, paths: PathLike | Iterable[PathLike] | None) -> KeyRing:
        """Load each private key file; a string is split on commas (STORAGE_ENCRYPTION_PRIVATE_KEYS)."""
        if paths is None:
            paths = []
        elif isinstance(paths, (str, os.PathLike)):
            paths = [p.strip() for p in os.fspath(paths).split(",")]
        return cls(load_private_key(p) for p in paths if os.fspath(p))

    @property
    def key_ids(self) -> list[str]:
        """The key ids this ring can decrypt for."""
        return sorted(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, key_id: str) -> PrivateKey:
        """The private key for ``key_id``; raises MissingPrivateKey."""
        try:
            return self._keys[key_id]
        except KeyError:
            raise MissingPrivateKey(
                f"this portal has no private key for key id {key_id}; set STORAGE_ENCRYPTION_PRIVATE_KEYS"
            ) from None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # one text form per envelope, so rows and metadata compare equal
        raise ValueError("non-canonical base64")
    return data


@dataclass(frozen=True)
class Envelope:
    """What decrypting an object needs besides its ciphertext: the wrapped data key and what it is bound to."""

    suite: str
    key_id: str
    object_id: bytes
    wrapped_key: bytes

    def to_text(self) -> str:
        """``dpe1.<suite>.<key id>.<object id>.<wrapped key>`` (base64url, no padding): ASCII, header-safe."""
        return ".".join((ENVELOPE_VERSION, self.suite, self.key_id, _b64(self.object_id), _b64(self.wrapped_key)))

    @classmethod
    def from_text(cls, text: str) -> Envelope:
        """Parse to_text()'s form; raises DecryptionError when it is malformed."""
        fields = text.strip().split(".") if isinstance(text, str) else []
        if len(fields) != 5 or fields[0] != ENVELOPE_VERSION:
            raise DecryptionError(f"malformed encryption envelope (expected 5 fields starting with {ENVELOPE_VERSION})")
        _, suite, key_id, object_id, wrapped = fields
        if suite not in _KEMS:
            raise DecryptionError(f"malformed encryption envelope: unknown suite {suite!r}")
        if not re.fullmatch(rf"{suite}-[0-9a-f]{{{_KEY_ID_HEX}}}", key_id):
            raise DecryptionError(f"malformed encryption envelope: bad key id {key_id!r}")
        try:
            envelope = cls(suite, key_id, _unb64(object_id), _unb64(wrapped))
        except (ValueError, binascii.Error):
            raise DecryptionError("malformed encryption envelope: bad base64") from None
        if len(envelope.object_id) != OBJECT_ID_SIZE:
            raise DecryptionError("malformed encryption envelope: bad object id length")
        if len(envelope.wrapped_key) != _KEMS[suite].enc_length() + _HPKE_OVERHEAD:
            raise DecryptionError("malformed encryption envelope: bad wrapped key length")
        return envelope


def _info(suite: str, key_id: str, object_id: bytes) -> bytes:
    # HPKE here has no AAD, so the wrap is bound to its object and recipient through info.
    return b"document-portal data key v1\x00" + f"{suite}\x00{key_id}\x00".encode() + object_id


def wrap_data_key(data_key: bytes, public_key: PublicKey, object_id: bytes) -> Envelope:
    """Seal ``data_key`` to ``public_key`` with HPKE, bound to ``object_id`` and the key id."""
    if len(data_key) != DATA_KEY_SIZE or len(object_id) != OBJECT_ID_SIZE:
        raise ValueError(f"data key and object id must be {DATA_KEY_SIZE} and {OBJECT_ID_SIZE} bytes")
    key_id = public_key.key_id
    wrapped = _hpke_suite(public_key.suite).encrypt(
        data_key, public_key.hpke_key, info=_info(public_key.suite, key_id, object_id)
    )
    return Envelope(public_key.suite, key_id, bytes(object_id), wrapped)


def unwrap_data_key(envelope: Envelope, keyring: KeyRing) -> bytes:
    """The data key inside ``envelope``; raises MissingPrivateKey or DecryptionError."""
    private_key = keyring.get(envelope.key_id)
    if private_key.suite != envelope.suite:
        raise DecryptionError(f"envelope suite {envelope.suite} does not match key {envelope.key_id}")
    try:
        data_key = _hpke_suite(envelope.suite).decrypt(
            envelope.wrapped_key, private_key.hpke_key, info=_info(envelope.suite, envelope.key_id, envelope.object_id)
        )
    except (InvalidTag, ValueError):
        raise DecryptionError(
            f"wrapped data key does not open with private key {envelope.key_id} (tampered or foreign envelope)"
        ) from None
    if len(data_key) != DATA_KEY_SIZE:
        raise DecryptionError("wrapped data key has the wrong length")
    return data_key


def rewrap(envelope: Envelope, keyring: KeyRing, new_public_key: PublicKey) -> Envelope:
    """The same data key and object id wrapped to ``new_public_key``; content is never touched."""
    return wrap_data_key(unwrap_data_key(envelope, keyring), new_public_key, envelope.object_id)
