"""Rows whose bytes are missing: found by runs (a migration's "source missing", a verification's "object
missing"), checked again where they should be and in the quarantine, and settled ("lost") by an administrator."""

from __future__ import annotations

import glob
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import aliased

from portal.documents.service import DocumentStorageService
from portal.extensions import db, storage
from portal.migration.models import MISSING_ERRORS, MigrationItem, MigrationRun
from portal.migration.quarantine import ObjectQuarantine, Quarantine
from portal.models import Attachment, AttachmentStaging
from portal.storage.base import ObjectNotFound, StorageError

MODELS = {"attachment": Attachment, "attachment_staging": AttachmentStaging}


@dataclass
class MissingFile:
    """One row a run found without its bytes, as it stands now.

    ``state``: 'missing' (nowhere: not where the row says, not in the quarantine), 'quarantined' (a copy
    waits in the quarantine, ``where`` says where), 'present' (found again where the row says), or
    'unknown' (the store could not be asked; ``where`` says why).
    """

    item: MigrationItem
    row: Attachment | AttachmentStaging
    state: str
    where: str = ""

    @property
    def table(self) -> str:
        return self.item.table_name


def reported_missing():
    """The latest "missing" failure of each row that still exists, has not been moved since, and has not been
    found whole by a later complete verification, newest first."""
    later = aliased(MigrationItem)
    latest = (
        select(func.max(MigrationItem.id))
        .where(
            MigrationItem.status.in_(("failed", "mismatch")),
            or_(*(MigrationItem.error.startswith(reason, autoescape=True) for reason in MISSING_ERRORS)),
        )
        .group_by(MigrationItem.table_name, MigrationItem.row_id)
    )
    moved_since = exists().where(
        later.table_name == MigrationItem.table_name,
        later.row_id == MigrationItem.row_id,
        later.id > MigrationItem.id,
        later.status == "done",
    )
    still_there = _item_row(lambda model: true())
    # A verification records only what is wrong, so a row it checked and found whole has no item in it; it
    # checks rows kept under a key (legacy rows are not its to check).
    verification = aliased(MigrationRun)
    found_whole_since = and_(
        _item_row(lambda model: model.storage_path.is_not(None)),
        exists().where(
            verification.kind == "verify",
            verification.status == "completed",
            verification.id > MigrationItem.run_id,
            ~exists()
            .where(
                later.run_id == verification.id,
                later.table_name == MigrationItem.table_name,
                later.row_id == MigrationItem.row_id,
            )
            .correlate_except(later),  # two levels down: name the outer item explicitly
        ),
    )
    return (
        select(MigrationItem)
        .where(MigrationItem.id.in_(latest), ~moved_since, still_there, ~found_whole_since)
        .order_by(MigrationItem.id.desc())
    )


def _item_row(condition):
    """The item's row exists and meets ``condition(model)``."""
    return or_(
        *(
            and_(MigrationItem.table_name == name, exists().where(model.id == MigrationItem.row_id, condition(model)))
            for name, model in MODELS.items()
        )
    )


def inspect(item: MigrationItem) -> MissingFile | None:
    """Where ``item``'s row's bytes are now (None when the row is gone)."""
    row = db.session.get(MODELS[item.table_name], item.row_id)
    if row is None:
        return None
    service = DocumentStorageService()
    try:
        provider, key = service.locate(row)
        if provider.exists(key):
            return MissingFile(item, row, "present", provider.name)
    except ObjectNotFound:
        pass
    except (StorageError, OSError) as exc:
        return MissingFile(item, row, "unknown", f"the store could not be asked: {exc}")
    try:
        copy = quarantined_copy(item.table_name, row.id)
    except (StorageError, OSError) as exc:
        return MissingFile(item, row, "unknown", f"the quarantine could not be asked: {exc}")
    if copy is not None:
        return MissingFile(item, row, "quarantined", copy)
    return MissingFile(item, row, "missing")


def quarantined_copy(table: str, row_id: int) -> str | None:
    """Where the quarantine holds the row's bytes (a run moved them there with "delete source"), if it does: a
    file under QUARANTINE_PATH, or an object under its own store's quarantine/ prefix. Raises StorageError when
    a store holding such a copy cannot be asked."""
    quarantine = Quarantine(current_app.config["QUARANTINE_PATH"])
    legacy = DocumentStorageService().legacy_store()
    moves = db.session.execute(
        select(MigrationItem.source, MigrationRun.source)
        .join(MigrationRun, MigrationRun.id == MigrationItem.run_id)
        .where(
            MigrationItem.table_name == table,
            MigrationItem.row_id == row_id,
            MigrationItem.status == "done",
            MigrationItem.source.is_not(None),
        )
    )
    for source, store in moves:
        if store and store != "local":
            kept = ObjectQuarantine(storage.get(store)).find(source)
            if kept is not None:
                return f"{store}:{kept}"
            continue
        candidates = [quarantine.root / "local" / source]
        try:
            candidates.append(quarantine.root / "legacy" / legacy.key_for(source))
        except StorageError:
            pass
        for path in candidates:
            # The same path quarantined twice keeps both copies, the second as "<name>.1" (Quarantine._free_name).
            if path.is_file() or any(path.parent.glob(f"{glob.escape(path.name)}.[0-9]*")):
                return str(path)
    return None


def lost_detail(found: MissingFile) -> dict:
    """What the audit trail keeps of a row marked lost: enough to recognise it, or recreate it if the bytes turn up."""
    row = found.row
    detail = {
        "table": found.table,
        "filename": row.filename,
        "content_type": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "storage_type": row.storage_type,
        "storage_path": row.storage_path,
        "filepath": row.filepath,
        "created_at": row.created_at,
        "reason": found.item.error,
        "run": found.item.run_id,
    }
    if isinstance(row, Attachment):
        detail.update(document_id=row.document_id, uploaded_by=row.uploaded_by, in_trash=row.deleted_at is not None)
    else:
        detail.update(owner_id=row.owner_id)
    return detail


def remove_lost(found: MissingFile) -> None:
    """Delete the row of a file whose bytes are missing everywhere (the caller has checked, and records it)."""
    db.session.delete(found.row)
