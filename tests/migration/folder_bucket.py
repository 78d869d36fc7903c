"""An object store kept in a folder, for the direct tests of a row's move on the local disk (no S3 server)."""

from __future__ import annotations

import dataclasses
import hashlib
import io

from portal.storage.base import StoredObject
from portal.storage.local import LocalStorageProvider


class FolderBucket(LocalStorageProvider):
    """What the migration sees of an S3 bucket: no file on this host to read in place or move aside
    (local_path is None), a SHA-256 of its own for every object (store_sha256, as S3 answers a PUT and a
    HEAD), and, for two buckets of one ``account``, a copy inside the store (shares_account_with, copy_from)."""

    def __init__(self, root, *, name: str, account: str | None = None):
        super().__init__(root, name=name)
        self.account = account

    def local_path(self, key):
        return None

    def save(self, key, stream, **kwargs):
        stored = super().save(key, stream, **kwargs)
        return dataclasses.replace(stored, store_sha256=stored.sha256)

    def stat(self, key):
        found = super().stat(key)
        return dataclasses.replace(found, store_sha256=found.sha256)

    def shares_account_with(self, other) -> bool:
        return isinstance(other, FolderBucket) and self.account is not None and other.account == self.account

    def copy_from(self, source: FolderBucket, src_key: str, dst_key: str, size: int) -> StoredObject:
        found = source.stat(src_key)
        data = b"".join(source.open(src_key))
        self.save(dst_key, io.BytesIO(data), content_type=found.content_type, metadata=found.metadata)
        return StoredObject(dst_key, size, None, store_sha256=hashlib.sha256(data).hexdigest())
