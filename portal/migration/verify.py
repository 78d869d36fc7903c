"""Proof that a store holds the right bytes: the store's own SHA-256 checksum, or the bytes read back and hashed.

Never the ETag: for multipart uploads it is a hash of part hashes, and with SSE-C or SSE-KMS it is
not an MD5 of the content at all.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from portal.storage.base import (
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageProvider,
)
from portal.storage.s3_direct import direct


@dataclass(frozen=True)
class Head:
    """What one HEAD tells about an object: its size, the store's own full-object SHA-256 (hex) and age."""

    size: int
    sha256: str | None
    last_modified: datetime | None


def _s3_provider(provider: StorageProvider):
    try:
        from portal.storage.s3 import S3StorageProvider
    except ImportError:  # boto3 missing: no S3 provider can exist either
        return None
    return provider if isinstance(provider, S3StorageProvider) else None


def head(provider: StorageProvider, key: str) -> Head:
    """Size, the store's own SHA-256 checksum and the modification time of ``key``.

    On S3 and MinIO this is HeadObject with ChecksumMode=ENABLED, which answers the checksum the store
    verified when the object was written (absent for multipart objects and stores that keep none).
    Raises ObjectNotFound and the rest of the StorageError family.
    """
    s3 = _s3_provider(provider)
    if s3 is None:
        stored = provider.stat(key)
        modified = None
        path_for = getattr(provider, "path_for", None)
        if path_for is not None:
            try:
                modified = datetime.fromtimestamp(path_for(key).stat().st_mtime, timezone.utc)
            except OSError:
                raise ObjectNotFound(f"no object at {key!r}") from None
        # A local sidecar's SHA-256 is the portal's own note, not something the store checked.
        return Head(stored.size, None, modified)
    from botocore.exceptions import BotoCoreError, ClientError

    from portal.storage.s3_transfer import answered_sha256

    try:
        answer = s3.client.head_object(Bucket=s3.bucket, Key=key, ChecksumMode="ENABLED")
    except (BotoCoreError, ClientError) as exc:
        raise s3.translate(exc, key) from exc
    return Head(answer["ContentLength"], answered_sha256(answer), answer.get("LastModified"))


def read_back(provider: StorageProvider, key: str) -> tuple[int, str]:
    """(size, SHA-256 hex) of the bytes the store returns for ``key``, streamed, never held whole."""
    s3 = _s3_provider(provider)
    # On S3, a GET signed without botocore's request pipeline: what a download receives, for a
    # fraction of the client CPU that counts when thousands of small objects are read back.
    chunks = provider.open(key) if s3 is None else direct(s3).chunks(key)
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def verify_copy(provider: StorageProvider, key: str, size: int, sha256: str, mode: str = "auto",
                store_sha256: str | None = None) -> str:
    """Check that ``key`` holds exactly ``size`` bytes hashing to ``sha256``; returns how it was checked.

    ``auto`` trusts the store's own SHA-256 checksum where it keeps one ('checksum'): the store
    checked the bytes against the SHA-256 sent with the PUT and refuses a mismatch, and either its
    answer to that PUT said so (``store_sha256``; a HEAD would only read the same value again) or a
    HEAD shows it. Otherwise, and always with ``readback``, the object is read back ('readback').
    Raises StorageIntegrityError on any difference, ObjectNotFound when the object is missing.
    """
    if mode == "auto":
        if store_sha256 is not None:
            if store_sha256 != sha256:
                raise StorageIntegrityError("checksum mismatch: the store's SHA-256 differs from the bytes sent")
            return "checksum"
        found = head(provider, key)
        if found.size != size:
            raise StorageIntegrityError(f"checksum mismatch: the store holds {found.size} bytes, {size} were sent")
        if found.sha256 is not None:
            if found.sha256 != sha256:
                raise StorageIntegrityError("checksum mismatch: the store's SHA-256 differs from the bytes sent")
            return "checksum"
    got_size, got_sha256 = read_back(provider, key)
    if got_size != size:
        raise StorageIntegrityError(f"checksum mismatch: read back {got_size} bytes, {size} were sent")
    if got_sha256 != sha256:
        raise StorageIntegrityError("checksum mismatch: the bytes read back hash differently from the bytes sent")
    return "readback"


@dataclass(frozen=True)
class Problem:
    """One row whose object is wrong: missing, of the wrong size, or with the wrong content."""

    table: str
    row_id: int
    key: str
    reason: str


class RowChecker:
    """Checks one object-storage row against its object: existence and size, and with ``deep`` the SHA-256.

    Plaintext rows compare with their size and sha256 columns. Encrypted rows compare the object's
    size with the ciphertext size of their plaintext size; ``deep`` decrypts with the configured
    private keys (which authenticates every segment) and hashes the plaintext.
    """

    def __init__(self, provider_for, *, deep: bool, private_keys: list[str] | None = None):
        self.provider_for = provider_for
        self.deep = deep
        self.private_keys = private_keys or []
        self._keyring = None

    def check(self, row) -> Problem | None:
        try:
            reason = self._reason(row)
        except ObjectNotFound:
            reason = "object missing from the store"
        except StorageError as exc:
            reason = f"could not be checked: {exc}"
        return Problem(row.table, row.id, row.storage_path, reason) if reason else None

    def _reason(self, row) -> str | None:
        provider = self.provider_for(row.storage_type)
        expected = row.size
        if row.encryption:
            from portal.storage.crypto import ciphertext_size

            expected = ciphertext_size(row.size)
        found = head(provider, row.storage_path)
        if found.size != expected:
            return f"size mismatch: the store holds {found.size} bytes, the row expects {expected}"
        if not row.encryption and row.sha256 and found.sha256 and found.sha256 != row.sha256:
            return "SHA-256 mismatch: the store's checksum differs from the row's"
        if not self.deep:
            return None
        if not row.sha256:
            return "no SHA-256 is recorded for this row, so its content cannot be proven"
        if row.encryption:
            size, sha256 = self._decrypted(provider, row)
        else:
            size, sha256 = read_back(provider, row.storage_path)
        if size != row.size:
            return f"size mismatch: read {size} bytes, the row expects {row.size}"
        if sha256 != row.sha256:
            return "SHA-256 mismatch: the bytes read back differ from the row's checksum"
        return None

    def _decrypted(self, provider, row) -> tuple[int, str]:
        from portal.storage.crypto import decrypt_chunks
        from portal.storage.keys import Envelope, KeyRing

        if self._keyring is None:
            self._keyring = KeyRing.from_files(self.private_keys)
        digest, size = hashlib.sha256(), 0
        for chunk in decrypt_chunks(provider.open(row.storage_path), Envelope.from_text(row.encryption), self._keyring):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()
