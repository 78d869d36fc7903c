"""DocumentStorageService: writes, promotes, reads and deletes attachment bytes, never leaving half a change."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import delete, select

from portal import metrics
from portal.cleanup.drain import discard_unrecorded, settle
from portal.cleanup.outbox import record
from portal.documents.file_rules import IncomingFile, UploadRejected, check_file
from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging, Document, StoredFileMixin, User
from portal.object_keys import upload_key
from portal.storage.base import (
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageProvider,
)
from portal.storage.local import LocalStorageProvider

log = logging.getLogger("portal.documents")


class RecordFailed(StorageError):
    """The bytes were stored but the database refused the row; the bytes were removed again."""

    shown_to_users = True  # the message names no path, bucket or endpoint


@dataclass(frozen=True)
class StoredFile:
    """A file written to a store, not yet recorded in a row."""

    key: str
    storage_type: str
    filename: str
    content_type: str
    size: int
    sha256: str | None
    encryption: str | None = None

    def columns(self) -> dict:
        return {
            "storage_path": self.key,
            "storage_type": self.storage_type,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "encryption": self.encryption,
        }


def new_key(prefix: str) -> str:
    """A fresh object key such as ``attachments/2026/11/3f2a...``; never derived from user input."""
    now = datetime.now(UTC)
    return upload_key(prefix, now)


class DocumentStorageService:
    """Attachment bytes and rows for the pages: uploads, staging, promotion, reads and deletes, never half a change.

    (The migration, key rotation, the trash purge and the cleanup outbox change rows and objects too, each
    through its own service with the same rule: the object before the row that points at it.)

    Writes: the object first, the row second; if the row fails the object is deleted, if the write
    fails there is no row ("dual cleanup"). Raises UploadRejected for bad input, StorageError for the store.
    """

    def __init__(self, config=None):
        self.config = config if config is not None else current_app.config

    # -- writing -------------------------------------------------------------------------------

    def store_file(self, incoming: IncomingFile, prefix: str) -> StoredFile:
        """Check one incoming file and write it to the default store; returns what was written.

        A file whose size the client declared is held to it by the store (ExactSize), which answers a
        stream that ends early or runs on with StorageIntegrityError; for such a file that is the
        client's mistake, so it becomes UploadRejected (400) with nothing stored.
        """
        checked = check_file(incoming, self.config["ALLOWED_EXTENSIONS"])
        try:
            return self.write(checked.stream, prefix, checked.filename, checked.content_type, incoming.size)
        except StorageIntegrityError as exc:
            if incoming.size is None:
                raise
            raise UploadRejected(
                f"“{checked.filename}” did not have the {incoming.size} bytes declared for it "
                "(did it change while it was sent?). Nothing was saved."
            ) from exc

    def write(self, stream, prefix: str, filename: str, content_type: str, size: int | None = None) -> StoredFile:
        """Write a stream (of ``size`` bytes, when known) to the default store under a new key,
        encrypted when STORAGE_ENCRYPTION=hybrid."""
        provider, encryption = storage.default, storage.encryption
        key = new_key(prefix)
        if not encryption.enabled:
            stored = provider.save(key, stream, content_type=content_type, size=size)
            return StoredFile(key, provider.name, filename, content_type, stored.size, stored.sha256)
        sealed = encryption.save(provider, key, stream, size=size)
        return StoredFile(key, provider.name, filename, content_type, sealed.size, sealed.sha256, sealed.envelope)

    def store_files(self, files: Iterable[IncomingFile], prefix: str) -> list[StoredFile]:
        """Write every file, or none: on any failure the ones already written are deleted again."""
        stored: list[StoredFile] = []
        try:
            for incoming in files:
                stored.append(self.store_file(incoming, prefix))
        except BaseException:
            self.discard(stored)
            raise
        if not stored:
            raise UploadRejected("Choose at least one file to upload.")
        return stored

    def discard(self, stored: Iterable[StoredFile], reason: str = "discard") -> None:
        """Delete written objects that will not get a row: recorded in the cleanup outbox first (a fresh
        transaction), then deleted through it; one the store refuses waits there for `flask storage maintain`
        (``reason`` says why it is owed: 'discard' before any commit, 'unrecorded' after a failed one)."""
        discard_unrecorded(
            db.engine,
            storage.get,
            [(item.storage_type, item.key) for item in stored],
            reason,
            delete_unrecorded=reason != "unrecorded",
        )

    def _record(self, rows: list, stored: list[StoredFile], owed: Iterable[tuple[str, str, str]] = ()) -> list[int]:
        """Commit ``rows`` for the objects ``stored``, with the deletions ``owed`` ((storage_type, key, reason) of
        objects those rows replace) recorded in the cleanup outbox in the same transaction; returns their ids.

        When the commit fails, ``stored`` is discarded. The window left: the objects are written and the
        commit failed, but this process dies (or the database stays down) before the fresh transaction that
        records them commits; they are then orphans that `flask storage orphans` lists (docs/storage.md).
        """
        try:
            db.session.add_all(rows)
            conn = db.session.connection()
            ids = [record(conn, storage_type, key, reason) for storage_type, key, reason in owed]
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            self.discard(stored, "unrecorded")
            log.error("could not record %d stored file(s): %s", len(stored), exc)
            raise RecordFailed("The files could not be recorded, so nothing was saved. Please try again.") from exc
        return ids

    def add_attachments(self, document_id: int, files: Iterable[IncomingFile], user: User) -> list[Attachment]:
        """Upload files straight onto document ``document_id``."""
        stored = self.store_files(files, "attachments")
        rows = [Attachment(document_id=document_id, uploaded_by=user.id, **item.columns()) for item in stored]
        self._record(rows, stored)
        _count_uploads(stored)
        return rows

    def stage(self, files: Iterable[IncomingFile], user: User) -> list[AttachmentStaging]:
        """Upload files to staging for ``user``, to be promoted when their document is saved."""
        stored = self.store_files(files, "staging")
        rows = [AttachmentStaging(owner_id=user.id, **item.columns()) for item in stored]
        self._record(rows, stored)
        _count_uploads(stored)
        return rows

    def update_document(
        self, document: Document, title: str, description: str | None, document_date: date | None = None
    ) -> None:
        """Save a document's new title, description and paper date (attachments change through their own routes)."""
        document.title = title.strip()
        document.description = (description or "").strip()
        document.document_date = document_date
        db.session.commit()

    def create_document(
        self,
        title: str,
        description: str,
        staged_ids: Iterable[int],
        files: list[IncomingFile],
        user: User,
        document_date: date | None = None,
    ) -> tuple[Document, list[Attachment]]:
        """Create a document whose attachments are ``user``'s staged files plus ``files``.

        Every object is copied to an attachment key (server-side on S3) before the database is
        written, so the one transaction that adds the document and its attachments is short; the
        staging objects are deleted only after it commits. Raises UploadRejected when a staged file
        is no longer there (expired or removed elsewhere), naming how many, and changes nothing.
        The staging objects' deletions are recorded in the cleanup outbox by that same transaction.
        """
        wanted = sorted(set(staged_ids))
        staged = (
            list(
                db.session.scalars(
                    select(AttachmentStaging)
                    .where(AttachmentStaging.id.in_(wanted), AttachmentStaging.owner_id == user.id)
                    .order_by(AttachmentStaging.id)
                )
            )
            if wanted
            else []
        )
        if len(staged) != len(wanted):
            missing = len(wanted) - len(staged)
            raise UploadRejected(
                f"{missing} of the staged files {'is' if missing == 1 else 'are'} no longer available "
                "(staged files expire, or were removed in another window). Add them again."
            )
        if files:
            staged += self.stage(files, user)
        # Plain copies of the rows, then no transaction stays open (and no lock is held) during the copies.
        staged = [
            SimpleNamespace(**{c.key: getattr(row, c.key) for c in AttachmentStaging.__table__.columns})
            for row in staged
        ]
        db.session.rollback()
        copies: list[StoredFile] = []
        try:
            for row in staged:
                copies.append(self._copy_for_attachment(row))
        except BaseException:
            self.discard(copies)
            raise
        document = Document(
            title=title.strip(),
            description=(description or "").strip(),
            created_by=user.id,
            document_date=document_date,
        )
        attachments = [
            Attachment(document=document, uploaded_by=row.owner_id or user.id, **copy.columns())
            for row, copy in zip(staged, copies, strict=True)
        ]
        ids = [row.id for row in staged]
        try:
            removed = (
                db.session.execute(
                    delete(AttachmentStaging).where(
                        AttachmentStaging.id.in_(ids), AttachmentStaging.owner_id == user.id
                    )
                ).rowcount
                if ids
                else 0
            )
        except Exception:
            db.session.rollback()
            self.discard(copies)
            raise
        if removed != len(ids):
            db.session.rollback()
            self.discard(copies)
            raise UploadRejected("A staged file was removed while the document was being saved. Nothing was saved.")
        owed = [(row.storage_type, row.storage_path, "promoted") for row in staged if row.storage_path]
        settle(db.engine, storage.get, self._record([document, *attachments], copies, owed))
        return document, attachments

    def _copy_for_attachment(self, row: AttachmentStaging) -> StoredFile:
        if row.storage_path:
            key = new_key("attachments")
            provider = storage.get(row.storage_type)
            provider.copy(row.storage_path, key)
            return StoredFile(key, provider.name, row.filename, row.content_type, row.size, row.sha256, row.encryption)
        with self.legacy_store().open_stream(row.filepath) as stream:
            return self.write(stream, "attachments", row.filename, row.content_type)

    # -- reading -------------------------------------------------------------------------------

    def legacy_store(self) -> LegacyFiles:
        return LegacyFiles(self.config["LEGACY_FILES_ROOT"])

    def locate(self, row: StoredFileMixin) -> tuple[StorageProvider, str]:
        """The provider and key holding ``row``'s bytes; legacy rows resolve to their filepath."""
        if row.storage_path:
            return storage.get(row.storage_type), row.storage_path
        if not row.filepath:
            raise ObjectNotFound("this attachment has neither a storage path nor a legacy file path")
        legacy = self.legacy_store()
        return legacy.provider, legacy.key_for(row.filepath)

    def open(self, row: StoredFileMixin, byte_range: tuple[int, int] | None = None) -> Iterator[bytes]:
        """The original bytes of ``row`` (decrypted when it is encrypted); ``byte_range`` is inclusive.

        Raises ObjectNotFound, StorageError, MissingPrivateKey (no key to read) or DecryptionError.
        """
        provider, key = self.locate(row)
        if not row.encryption:
            return provider.open(key, byte_range)
        return storage.encryption.open(provider, key, row.encryption, byte_range, plaintext_size=row.size)

    # -- deleting ------------------------------------------------------------------------------

    def remove_staged(self, row: AttachmentStaging) -> bool:
        """Delete one staged file: its row and the record of its object's deletion in one transaction, then the
        object (one the store refuses waits in the cleanup outbox). False when the row was already gone."""
        storage_type, key, row_id = row.storage_type, row.storage_path, row.id
        table = AttachmentStaging.__table__
        db.session.expunge(row)
        if not db.session.execute(delete(table).where(table.c.id == row_id)).rowcount:
            db.session.rollback()
            return False  # removed by another request, which recorded its object
        ids = [record(db.session.connection(), storage_type, key, "removed")] if key else []
        db.session.commit()
        settle(db.engine, storage.get, ids)
        return True

    def purge_staging(self, older_than: timedelta) -> int:
        """Remove staged files never promoted within ``older_than``; returns how many."""
        from portal.cleanup.staging import purge_expired_staging

        return purge_expired_staging(db.engine, storage.get, older_than)


class LegacyFiles:
    """Files referenced by pre-object-storage rows' ``filepath``, strictly inside LEGACY_FILES_ROOT."""

    def __init__(self, root: str):
        self.provider = LocalStorageProvider(root, name="legacy")

    def key_for(self, filepath: str) -> str:
        """The path of ``filepath`` relative to the root; absolute paths must lie inside it."""
        path = Path(filepath)
        if path.is_absolute():
            try:
                path = path.resolve().relative_to(self.provider.root)
            except ValueError:
                raise StorageMisconfigured(
                    f"legacy file {filepath!r} lies outside LEGACY_FILES_ROOT ({self.provider.root})"
                ) from None
        return path.as_posix()

    def path(self, filepath: str) -> Path:
        return self.provider.path_for(self.key_for(filepath))

    def open_stream(self, filepath: str):
        """An open binary file for a legacy path; raises ObjectNotFound when it is gone."""
        try:
            return self.path(filepath).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"legacy file {filepath!r} is missing") from None


def _count_uploads(stored: Iterable[StoredFile]) -> None:
    """Uploads as they arrive (direct and staged); promoting staged files copies, and counts nothing again."""
    for item in stored:
        metrics.count_upload(item.storage_type, item.size)
