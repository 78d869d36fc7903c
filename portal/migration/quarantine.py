"""The quarantine: moved rows' source files (a folder) and objects (a prefix of their bucket) wait there, restorable, until purged."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, and_, or_, select

from portal.migration.claims import TABLES, RowSnapshot
from portal.object_keys import QUARANTINE_PREFIX, quarantine_key
from portal.storage.base import StorageProvider
from portal.storage.local import SIDECAR_PREFIX, SIDECAR_SUFFIX


@dataclass(frozen=True)
class PurgeReport:
    """What a purge deleted (or, as a dry run, would delete): files and their bytes; ``errors`` names each place
    (the folder, a store's prefix) that could not be purged, the others were."""

    files: int
    bytes: int
    errors: tuple[str, ...] = field(default=())

    def __add__(self, other: PurgeReport) -> PurgeReport:
        return PurgeReport(self.files + other.files, self.bytes + other.bytes, self.errors + other.errors)


def record_purge(report: PurgeReport, older_than: timedelta, source: str) -> None:
    """The ``quarantine.purge`` audit event of a purge, and where it was asked for (cli, dashboard, maintain)."""
    from portal import audit

    audit.record(
        "quarantine.purge",
        outcome="failure" if report.errors else "success",
        detail={
            "older_than": str(older_than),
            "files": report.files,
            "bytes": report.bytes,
            "errors": list(report.errors),
            "from": source,
        },
    )


class Quarantine:
    """Moves a migrated row's local file (and a local store's sidecar) under QUARANTINE_PATH.

    The layout mirrors where the file came from, so restoring is a move back:
    ``legacy/<filepath relative to LEGACY_FILES_ROOT>`` and ``local/<key>``. Each moved file's mtime
    is set to the moment it was quarantined; purge() goes by that.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def move(self, row: RowSnapshot, source: Path, relative: str) -> Path:
        """Move ``source`` (the row's file, already resolved by the storage guard) into the quarantine.

        Returns the new path. Raises OSError when the move fails (the file then stays where it was).
        """
        kind = "legacy" if row.is_legacy else "local"
        target = self._free_name(self.root / kind / relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        _move(source, target)
        os.utime(target)
        sidecar = source.with_name(f"{SIDECAR_PREFIX}{source.name}{SIDECAR_SUFFIX}")
        if not row.is_legacy and sidecar.exists():
            _move(sidecar, target.with_name(f"{SIDECAR_PREFIX}{target.name}{SIDECAR_SUFFIX}"))
        return target

    def _free_name(self, path: Path) -> Path:
        # The same path quarantined twice (restored, migrated again) keeps both copies.
        candidate, number = path, 0
        while candidate.exists():
            number += 1
            candidate = path.with_name(f"{path.name}.{number}")
        return candidate

    def purge(self, older_than: timedelta, *, dry_run: bool = False, now: float | None = None) -> PurgeReport:
        """Delete quarantined files quarantined more than ``older_than`` ago, then empty folders."""
        if not self.root.is_dir():
            return PurgeReport(0, 0)
        cutoff = (now if now is not None else time.time()) - older_than.total_seconds()
        files = size = 0
        for folder, _dirs, names in os.walk(self.root, topdown=False):
            for name in names:
                path = Path(folder) / name
                info = path.lstat()
                if info.st_mtime > cutoff:
                    continue
                files += 0 if name.startswith(SIDECAR_PREFIX) else 1
                size += info.st_size
                if not dry_run:
                    path.unlink()
            if not dry_run and Path(folder) != self.root:
                try:
                    os.rmdir(folder)  # only succeeds when empty
                except OSError:
                    pass
        return PurgeReport(files, size)


class ObjectQuarantine:
    """Where an object store keeps the objects of rows moved to another store (``--delete-source``): under
    ``quarantine/<UTC time>/<key>`` in the same bucket, by a server-side copy and then the delete, so
    restoring is a copy back. purge() deletes those quarantined longer ago than asked (by LastModified,
    which the copy set), never anything outside the prefix."""

    def __init__(self, provider: StorageProvider):
        self.provider = provider

    def move(self, key: str) -> str:
        """Copy ``key`` into the quarantine, then delete it; returns the quarantined key. Raises StorageError
        (after a failed copy nothing was deleted)."""
        kept = quarantine_key(key, datetime.now(UTC))
        self.provider.copy(key, kept)
        self.provider.delete(key)
        return kept

    def find(self, key: str) -> str | None:
        """The quarantined copy of ``key`` (its quarantine key), if the quarantine holds one. Raises StorageError."""
        for item in self.provider.list(QUARANTINE_PREFIX):
            if item.key[len(QUARANTINE_PREFIX) :].partition("/")[2] == key:
                return item.key
        return None

    def purge(self, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None) -> PurgeReport:
        """Delete (or count) quarantined objects written more than ``older_than`` ago. Raises StorageError."""
        cutoff = (now or datetime.now(UTC)) - older_than
        files = size = 0
        for item in self.provider.list(QUARANTINE_PREFIX):
            if item.modified is None or item.modified > cutoff:
                continue
            files, size = files + 1, size + item.size
            if not dry_run:
                self.provider.delete(item.key)
        return PurgeReport(files, size)


def _move(source: Path, target: Path) -> None:
    try:
        os.rename(source, target)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: another filesystem; copy, flush, then remove the original
            raise
        shutil.copy2(source, target)
        with open(target, "rb") as handle:
            os.fsync(handle.fileno())
        source.unlink()


def other_references(engine: Engine, row: RowSnapshot, storage_types: tuple[str, ...] = ("local",)) -> str | None:
    """Another row that still reads the same local file, or the same object of a store whose rows carry one
    of ``storage_types`` (then it must not be moved), as 'table #id'."""
    with engine.connect() as conn:
        for name, table in TABLES.items():
            if row.is_legacy:
                same = and_(table.c.storage_path.is_(None), table.c.filepath == row.filepath)
            else:
                same = and_(table.c.storage_path == row.storage_path, table.c.storage_type.in_(storage_types))
            found = conn.execute(
                select(table.c.id).where(same, or_(table.c.id != row.id, name != row.table)).limit(1)
            ).scalar()
            if found is not None:
                return f"{name} #{found}"
    return None
