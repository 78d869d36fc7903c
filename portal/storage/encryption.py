"""StorageEncryption: the portal's hybrid encryption at rest, its keys loaded once when the app starts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import BinaryIO

from portal.storage.base import StorageMisconfigured, StorageProvider, StoredObject, hash_chunks
from portal.storage.crypto import EncryptingReader, ciphertext_size, decrypt_chunks, decrypt_range
from portal.storage.keys import Envelope, KeyRing, PublicKey, load_public_key, rewrap
from portal.storage.streams import HashingReader

#: object metadata under which an encrypted object's envelope is mirrored (readable without the database)
ENVELOPE_METADATA = "portal-envelope"
#: what an encrypted object's content type says: ciphertext, whatever the file was
CIPHERTEXT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class EncryptedObject:
    """An object written encrypted: the ciphertext as the store took it, and what the plaintext was."""

    stored: StoredObject
    #: plaintext byte count and SHA-256 (hex), computed as the bytes passed
    size: int
    sha256: str
    #: Envelope.to_text() of the wrapped data key: the row's encryption column, mirrored in metadata
    envelope: str


class StorageEncryption:
    """Encrypt-on-write, decrypt (whole or a byte range), decrypt-and-hash and re-wrap, with keys loaded
    once: the public key new objects are wrapped to and the keyring of private keys that may read.

    ``enabled`` says whether new objects are encrypted (STORAGE_ENCRYPTION=hybrid); reading and
    re-wrapping work whatever it says, with the keys configured.
    """

    def __init__(self, *, enabled: bool, public_key: PublicKey | None, keyring: KeyRing) -> None:
        if enabled and public_key is None:
            raise StorageMisconfigured("STORAGE_ENCRYPTION=hybrid needs STORAGE_ENCRYPTION_PUBLIC_KEY")
        self.enabled, self.public_key, self.keyring = enabled, public_key, keyring

    @classmethod
    def from_config(cls, config: Mapping) -> StorageEncryption:
        """Load STORAGE_ENCRYPTION_PUBLIC_KEY and STORAGE_ENCRYPTION_PRIVATE_KEYS (KeyFileError naming a bad file)."""
        public = config.get("STORAGE_ENCRYPTION_PUBLIC_KEY")
        return cls(
            enabled=config.get("STORAGE_ENCRYPTION") == "hybrid",
            public_key=load_public_key(public) if public else None,
            keyring=KeyRing.from_files(config.get("STORAGE_ENCRYPTION_PRIVATE_KEYS")),
        )

    @property
    def key_id(self) -> str | None:
        """The id of the public key new objects are wrapped to (None when none is configured)."""
        return self.public_key.key_id if self.public_key is not None else None

    def _public(self) -> PublicKey:
        if self.public_key is None:
            raise StorageMisconfigured("no STORAGE_ENCRYPTION_PUBLIC_KEY is configured to encrypt to")
        return self.public_key

    # -- writing --------------------------------------------------------------------------------

    def save(
        self,
        provider: StorageProvider,
        key: str,
        plaintext: BinaryIO,
        *,
        size: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> EncryptedObject:
        """Encrypt ``plaintext`` as it streams into ``provider`` under ``key`` (the one encrypt-on-write).

        A fresh data key wrapped to the public key; the envelope is mirrored in the object's metadata
        beside ``metadata``. ``size``, when known, is the plaintext's exact byte count. Raises what
        provider.save raises (StorageIntegrityError when the stream does not hold ``size`` bytes), and
        StorageMisconfigured when no public key is configured.
        """
        plain = HashingReader(plaintext)
        reader = EncryptingReader(plain, self._public())
        envelope = reader.envelope.to_text()
        stored = provider.save(
            key,
            reader,
            content_type=CIPHERTEXT_TYPE,
            metadata={**(metadata or {}), ENVELOPE_METADATA: envelope},
            size=None if size is None else ciphertext_size(size),
        )
        return EncryptedObject(stored, plain.size, plain.hexdigest(), envelope)

    # -- reading --------------------------------------------------------------------------------

    def open(
        self,
        provider: StorageProvider,
        key: str,
        envelope: str,
        byte_range: tuple[int, int] | None = None,
        *,
        plaintext_size: int | None = None,
    ) -> Iterator[bytes]:
        """The plaintext of the encrypted object ``key``, or the inclusive ``byte_range`` of it (then
        ``plaintext_size`` is required), reading only the segments that cover it.

        The data key and header are checked before this returns (MissingPrivateKey, DecryptionError),
        so a response can still become an error page; segment failures raise DecryptionError while
        iterating. The store streams are closed whatever happens.
        """
        parsed = Envelope.from_text(envelope)
        opened: list = []

        def read(span: tuple[int, int] | None) -> Iterator[bytes]:
            chunks = provider.open(key, span)
            opened.append(chunks)
            return chunks

        try:
            if byte_range is None:
                plain = decrypt_chunks(read(None), parsed, self.keyring)
            elif plaintext_size is None:
                raise ValueError("decrypting a byte range needs the plaintext size")
            else:
                plain = decrypt_range(
                    lambda start, end: read((start, end)),
                    parsed,
                    self.keyring,
                    byte_range[0],
                    byte_range[1],
                    ciphertext_size(plaintext_size),
                )
        except BaseException:
            _close_all(opened)
            raise
        return _closing(plain, opened)

    def read_back(self, provider: StorageProvider, key: str, envelope: str) -> tuple[int, str]:
        """(size, SHA-256 hex) of the decrypted plaintext of ``key``: every segment authenticated on the way.

        Raises ObjectNotFound, MissingPrivateKey or DecryptionError.
        """
        return hash_chunks(self.open(provider, key, envelope))

    # -- rotation -------------------------------------------------------------------------------

    def rewrap(self, envelope: str) -> str | None:
        """``envelope`` with its data key wrapped to the current public key; None when it already is.

        Content is never touched. Raises MissingPrivateKey, DecryptionError or StorageMisconfigured.
        """
        parsed = Envelope.from_text(envelope)
        public = self._public()
        if parsed.key_id == public.key_id:
            return None
        return rewrap(parsed, self.keyring, public).to_text()


def _close_all(streams: list) -> None:
    for stream in streams:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _closing(chunks: Iterator[bytes], streams: list) -> Iterator[bytes]:
    """Yield ``chunks``; whatever happens, close the store streams they were read from."""
    try:
        yield from chunks
    finally:
        _close_all(streams)
