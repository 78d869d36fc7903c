"""Reading a row's bytes from an object store for a move, and copying them inside one store when both buckets share it."""

from __future__ import annotations

from dataclasses import dataclass

from portal.migration.claims import RowSnapshot
from portal.object_keys import migrated_key
from portal.storage.base import SMALL_OBJECT_MAX, StorageIntegrityError, StorageProvider
from portal.storage.encryption import ENVELOPE_METADATA


def object_metadata(row: RowSnapshot) -> dict:
    """What a moved object carries beside its bytes: an encrypted row's envelope (the row is its truth: a key
    rotation rewrites both), so the target holds it as the portal would have written it."""
    return {ENVELOPE_METADATA: row.encryption} if row.encryption else {}


def read_small(provider: StorageProvider, key: str) -> bytes:
    """The whole object ``key`` when it holds at most SMALL_OBJECT_MAX bytes (its row said so).

    Raises ObjectNotFound, or StorageIntegrityError when it holds more than that (its row is wrong):
    never more than SMALL_OBJECT_MAX + one chunk is held.
    """
    parts, held = [], 0
    chunks = provider.open_small(key)
    try:
        for chunk in chunks:
            held += len(chunk)
            if held > SMALL_OBJECT_MAX:
                raise StorageIntegrityError("checksum mismatch: the source holds more bytes than its row records")
            parts.append(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return b"".join(parts)


@dataclass(frozen=True)
class InsideCopy:
    """A row copied inside one store: the key it went to, its size and the SHA-256 the copy must have."""

    key: str
    size: int
    sha256: str
    store_sha256: str | None


def plan_inside_copy(row: RowSnapshot, provider: StorageProvider, key: str) -> tuple[str, str] | None:
    """(target key, SHA-256 the copy must have) for a server-side copy of ``row``, or None when no SHA-256 is
    known without reading the bytes (then the row goes through the portal): the row's own for plaintext,
    the store's full-object checksum of the ciphertext for an encrypted row (one HEAD)."""
    expected = row.sha256 if not row.encryption else provider.stat(key).store_sha256
    if not expected:
        return None
    return migrated_key(row.table, row.id, expected), expected


def copy_inside(target, row: RowSnapshot, provider: StorageProvider, key: str, planned: tuple[str, str]) -> InsideCopy:
    """Copy ``row``'s object from ``provider`` to ``target`` inside their shared store (CopyObject), asking the
    store for the copy's SHA-256. Raises StorageError."""
    dst, expected = planned
    size = row.stored_size
    stored = target.copy_from(provider, key, dst, size)
    return InsideCopy(dst, size, expected, stored.store_sha256)
