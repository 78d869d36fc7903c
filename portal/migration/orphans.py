"""Orphans both ways: objects no row points at (and uploads never completed), and object-storage rows whose object is gone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from portal.migration.claims import TABLES, iter_stored
from portal.object_keys import PREFIXES
from portal.storage.base import IncompleteUpload, ObjectNotFound, StorageProvider, StoredObject

LOOKUP_BATCH = 500


@dataclass(frozen=True)
class ObjectStore:
    """One object store and every storage_type its rows may carry ('s3' and 'minio' may name one bucket)."""

    name: str
    provider: StorageProvider
    storage_types: tuple[str, ...]


@dataclass(frozen=True)
class MissingObject:
    """An object-storage row whose object is gone."""

    table: str
    row_id: int
    storage_type: str
    key: str


def _referenced(engine: Engine, names: tuple[str, ...], keys: list[str]) -> set[str]:
    found: set[str] = set()
    with engine.connect() as conn:
        for table in TABLES.values():
            found.update(
                conn.execute(
                    select(table.c.storage_path).where(table.c.storage_path.in_(keys), table.c.storage_type.in_(names))
                ).scalars()
            )
    return found


def unreferenced_objects(engine: Engine, provider: StorageProvider, names: tuple[str, ...]) -> Iterator[StoredObject]:
    """Objects under the portal's prefixes that no row of ``names`` (the store's storage types) points at.

    The listing is streamed and looked up in the database 500 keys at a time.
    """
    for prefix in PREFIXES:
        batch: list[StoredObject] = []
        for item in provider.list(prefix):
            batch.append(item)
            if len(batch) >= LOOKUP_BATCH:
                yield from _unreferenced(engine, names, batch)
                batch = []
        if batch:
            yield from _unreferenced(engine, names, batch)


def _unreferenced(engine: Engine, names: tuple[str, ...], batch: list[StoredObject]) -> Iterator[StoredObject]:
    used = _referenced(engine, names, [item.key for item in batch])
    yield from (item for item in batch if item.key not in used)


def rows_without_object(engine: Engine, provider_for, names: tuple[str, ...]) -> Iterator[MissingObject]:
    """Rows kept in one of the stores ``names`` whose object does not exist (one HEAD per row)."""
    for table in TABLES:
        for row in iter_stored(engine, table, storage_types=names):
            try:
                provider_for(row.storage_type).stat(row.storage_path)
            except ObjectNotFound:
                yield MissingObject(table, row.id, row.storage_type, row.storage_path)


def delete_orphan(
    engine: Engine, provider: StorageProvider, names: tuple[str, ...], key: str, min_age: timedelta
) -> str:
    """Delete one unreferenced object if it is still unreferenced and older than ``min_age``.

    The age guard protects an upload whose object is written but whose row is not committed yet.
    Returns 'deleted', 'referenced' or 'too new'.
    """
    if _referenced(engine, names, [key]):
        return "referenced"
    try:
        modified = provider.stat(key).modified
    except ObjectNotFound:
        return "deleted"
    if modified is not None and modified > datetime.now(UTC) - min_age:
        return "too new"
    provider.delete(key)
    return "deleted"


def incomplete_uploads(provider: StorageProvider) -> Iterator[IncompleteUpload]:
    """Multipart uploads under the portal's prefixes that were never completed (a worker killed mid-upload)."""
    for prefix in PREFIXES:
        yield from provider.incomplete_uploads(prefix)


def abort_incomplete(provider: StorageProvider, upload: IncompleteUpload, min_age: timedelta) -> str:
    """Abort ``upload`` if it started at least ``min_age`` ago (a younger one may still be running).

    Returns 'aborted' or 'too new'.
    """
    if upload.started is not None and upload.started > datetime.now(UTC) - min_age:
        return "too new"
    provider.abort_upload(upload.key, upload.upload_id)
    return "aborted"
