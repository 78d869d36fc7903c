"""Proof that a store holds the right bytes: the store's own SHA-256 checksum, or the bytes read back and hashed.

Never the ETag: for multipart uploads it is a hash of part hashes, and with SSE-C or SSE-KMS it is
not an MD5 of the content at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.migration.models import OBJECT_MISSING
from portal.storage.base import (
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageProvider,
    StorageUnavailable,
)
from portal.storage.encryption import StorageEncryption


def verify_copy(
    provider: StorageProvider, key: str, size: int, sha256: str, mode: str = "auto", store_sha256: str | None = None
) -> str:
    """Check that ``key`` holds exactly ``size`` bytes hashing to ``sha256``; returns how it was checked.

    ``auto`` trusts the store's own SHA-256 checksum where it keeps one ('checksum'): the store
    checked the bytes against the SHA-256 sent with the PUT and refuses a mismatch, and either its
    answer to that PUT said so (``store_sha256``; a HEAD would only read the same value again) or
    stat() shows it. Otherwise, and always with ``readback``, the object is read back ('readback').
    Raises StorageIntegrityError on any difference, ObjectNotFound when the object is missing.
    """
    if mode == "auto":
        if store_sha256 is not None:
            if store_sha256 != sha256:
                raise StorageIntegrityError("checksum mismatch: the store's SHA-256 differs from the bytes sent")
            return "checksum"
        found = provider.stat(key)
        if found.size != size:
            raise StorageIntegrityError(f"checksum mismatch: the store holds {found.size} bytes, {size} were sent")
        if found.store_sha256 is not None:
            if found.store_sha256 != sha256:
                raise StorageIntegrityError("checksum mismatch: the store's SHA-256 differs from the bytes sent")
            return "checksum"
    got_size, got_sha256 = provider.read_back(key)
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


#: a deep check of a row without a recorded SHA-256 proves nothing about its content
UNPROVABLE = "no SHA-256 is recorded for this row, so its content cannot be proven"


class RowChecker:
    """Checks one stored row (local or object storage) against its object: existence and size, and with ``deep`` the SHA-256.

    Plaintext rows compare with their size and sha256 columns. Encrypted rows compare the object's
    size with the ciphertext size of their plaintext size; ``deep`` decrypts with ``encryption``'s
    private keys (which authenticates every segment) and hashes the plaintext.
    """

    def __init__(self, provider_for, *, deep: bool, encryption: StorageEncryption):
        self.provider_for = provider_for
        self.deep = deep
        self.encryption = encryption

    def check(self, row) -> Problem | None:
        try:
            reason = self._reason(row)
        except ObjectNotFound:
            reason = OBJECT_MISSING
        except StorageError as exc:
            reason = f"could not be checked: {exc}"
        return Problem(row.table, row.id, row.storage_path, reason) if reason else None

    def outcome(self, row) -> tuple[str, str | None]:
        """('ok', None) or (what is wrong, why): 'missing', 'mismatch' (size, SHA-256, or failed authenticated
        decryption), or 'unreadable' (no SHA-256 to compare, no private key, a key the store refuses).

        Raises StorageUnavailable: a store that cannot be reached says nothing about the object.
        """
        try:
            reason = self._reason(row)
        except ObjectNotFound:
            return "missing", OBJECT_MISSING
        except StorageIntegrityError as exc:
            return "mismatch", str(exc)
        except StorageUnavailable:
            raise
        except StorageError as exc:
            return "unreadable", f"could not be checked: {exc}"
        if reason is None:
            return "ok", None
        return ("unreadable" if reason == UNPROVABLE else "mismatch"), reason

    def _reason(self, row) -> str | None:
        provider = self.provider_for(row.storage_type)
        expected = row.stored_size
        found = provider.stat(row.storage_path)
        if found.size != expected:
            return f"size mismatch: the store holds {found.size} bytes, the row expects {expected}"
        if not row.encryption and row.sha256 and found.store_sha256 and found.store_sha256 != row.sha256:
            return "SHA-256 mismatch: the store's checksum differs from the row's"
        if not self.deep:
            return None
        if not row.sha256:
            return UNPROVABLE
        if row.encryption:
            size, sha256 = self.encryption.read_back(provider, row.storage_path, row.encryption)
        else:
            size, sha256 = provider.read_back(row.storage_path)
        if size != row.size:
            return f"size mismatch: read {size} bytes, the row expects {row.size}"
        if sha256 != row.sha256:
            return "SHA-256 mismatch: the bytes read back differ from the row's checksum"
        return None
