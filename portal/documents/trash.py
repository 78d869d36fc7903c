"""The trash: documents and attachments moved there, listed, restored, and purged after their retention."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, exists, func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from portal import audit
from portal.cleanup.drain import settle
from portal.cleanup.outbox import forget, record
from portal.documents.downloads import forget_download
from portal.documents.service import DocumentStorageService
from portal.extensions import db, storage
from portal.models import Attachment, Document, User
from portal.storage.base import ObjectNotFound

log = logging.getLogger("portal.documents")

BATCH = 200  # rows read per purge query, so a large trash never sits in memory


class RestoreRefused(Exception):
    """A restore that cannot be made: the attachment's document is someone else's and in the trash, or the row
    was purged meanwhile; ``reason`` says which (for the audit trail)."""

    def __init__(self, message: str, reason: str = "document in the trash"):
        super().__init__(message)
        self.reason = reason


@dataclass
class TrashContents:
    """What one user sees on /trash: trashed documents (with their attachment counts) and attachments trashed
    on their own (those that went with their document come back with it)."""

    documents: list[Document]
    attachments: list[Attachment]


@dataclass
class PurgeReport:
    """What a purge removed (or, with dry_run, would remove); the removed attachments whose objects the store
    refused to delete (``failed``: those deletions wait in the cleanup outbox for `flask storage maintain`); and
    the legacy rows kept in the trash because their file could not be deleted (``kept``: the next purge tries
    again)."""

    documents: int = 0
    attachments: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def retention() -> timedelta:
    """How long things stay in the trash before a purge may remove them (TRASH_RETENTION_DAYS)."""
    return timedelta(days=current_app.config["TRASH_RETENTION_DAYS"])


def _due(cutoff: datetime):
    """Attachments a purge at ``cutoff`` removes: trashed before it, or trashed with a document trashed before it."""
    expired_documents = select(Document.id).where(Document.deleted_at < cutoff)
    return or_(
        Attachment.deleted_at < cutoff,
        and_(Attachment.deleted_at.is_not(None), Attachment.document_id.in_(expired_documents)),
    )


def record_purge(report: PurgeReport, older_than: timedelta, source: str) -> None:
    """The ``trash.purge`` audit event of a purge: what went, how many deletions are still owed, and where it was
    asked for (``source``: cli, dashboard, maintain)."""
    audit.record(
        "trash.purge",
        outcome="failure" if report.failed or report.kept else "success",
        detail={
            "older_than": str(older_than),
            "documents": report.documents,
            "attachments": report.attachments,
            "bytes": report.bytes,
            "failed": len(report.failed),
            "kept": len(report.kept),
            "from": source,
        },
    )


def may_manage_document(user: User, document: Document) -> bool:
    """A document is deleted and restored by its creator or an administrator."""
    return bool(user.is_admin or document.created_by == user.id)


def may_manage_attachment(user: User, attachment: Attachment) -> bool:
    """An attachment is deleted and restored by its uploader or an administrator."""
    return bool(user.is_admin or attachment.uploaded_by == user.id)


def _now() -> datetime:
    return datetime.now(UTC)


class TrashService:
    """Moves rows to the trash and back (their objects stay until a purge), and purges the trash.

    Purging removes a row in the same transaction that records its object's deletion in the cleanup outbox,
    then deletes the object through the outbox; one the store refuses stays recorded (and is named in the
    report) until `flask storage maintain` gets it done. So no row goes before its object is gone or
    recorded, and a restore (which withdraws its keys' owed deletions) never loses its object.
    """

    # -- to the trash ------------------------------------------------------------------------

    def trash_document(self, document: Document, user: User) -> int:
        """Move ``document`` and its live attachments to the trash; returns how many attachments went with it."""
        when = _now()
        attachments = list(
            db.session.scalars(
                select(Attachment).where(Attachment.document_id == document.id, Attachment.deleted_at.is_(None))
            )
        )
        for row in (document, *attachments):
            row.deleted_at, row.deleted_by = when, user.id
        db.session.commit()
        for row in attachments:
            forget_download(row.id)
        return len(attachments)

    def trash_attachment(self, attachment: Attachment, user: User) -> None:
        """Move one attachment to the trash."""
        attachment.deleted_at, attachment.deleted_by = _now(), user.id
        db.session.commit()
        forget_download(attachment.id)

    # -- back again --------------------------------------------------------------------------

    def restore_document(self, document: Document) -> int:
        """Bring ``document`` back with the attachments that went to the trash with it; returns their number.

        Attachments deleted on their own before the document stay in the trash (they were deleted first).
        """
        count = self._untrash_document(document)
        self._commit_restore()
        return count

    def restore_attachment(self, attachment: Attachment, user: User) -> bool:
        """Bring ``attachment`` back; when its document is in the trash it comes back too (returns True then).

        Raises RestoreRefused when the document is in the trash and ``user`` may not restore it.
        """
        document = attachment.document
        with_document = document.deleted_at is not None
        if with_document and not may_manage_document(user, document):
            raise RestoreRefused(
                f"“{attachment.filename}” belongs to “{document.title}”, which is in the trash too. "
                "Its creator or an administrator can restore the document first."
            )
        if with_document:
            self._untrash_document(document)
        attachment.deleted_at, attachment.deleted_by = None, None
        self._withdraw_deletions([attachment])
        self._commit_restore()  # the document and the attachment come back together, or neither
        return with_document

    def _withdraw_deletions(self, rows: list[Attachment]) -> None:
        """In the restore's transaction: no deletion stays owed for a key a restored row points at (waits for a
        drain deleting one right now; a trashed row's key is only ever owed after a failed commit's cleanup)."""
        conn = db.session.connection()
        for row in rows:
            if row.storage_path:
                forget(conn, row.storage_type, row.storage_path)

    def _commit_restore(self) -> None:
        try:
            db.session.commit()
        except StaleDataError:  # purged by another process since it was read
            db.session.rollback()
            raise RestoreRefused(
                "It was purged from the trash meanwhile, so it cannot be restored.", "purged meanwhile"
            ) from None

    def _untrash_document(self, document: Document) -> int:
        attachments = list(
            db.session.scalars(
                select(Attachment).where(
                    Attachment.document_id == document.id, Attachment.deleted_at == document.deleted_at
                )
            )
        )
        for row in (document, *attachments):
            row.deleted_at, row.deleted_by = None, None
        self._withdraw_deletions(attachments)
        return len(attachments)

    # -- listing -----------------------------------------------------------------------------

    def contents(self, user: User) -> TrashContents:
        """What ``user`` may restore: what they created, uploaded or deleted; an administrator sees everything."""
        documents = select(Document).where(Document.deleted_at.is_not(None))
        attachments = (
            select(Attachment)
            .join(Document, Attachment.document_id == Document.id)
            .where(
                Attachment.deleted_at.is_not(None),
                or_(Document.deleted_at.is_(None), Document.deleted_at != Attachment.deleted_at),
            )
        )
        if not user.is_admin:
            documents = documents.where(or_(Document.created_by == user.id, Document.deleted_by == user.id))
            attachments = attachments.where(or_(Attachment.uploaded_by == user.id, Attachment.deleted_by == user.id))
        found = list(db.session.scalars(documents.order_by(Document.deleted_at.desc(), Document.id.desc())))
        counts = (
            dict(
                db.session.execute(
                    select(Attachment.document_id, func.count(Attachment.id))
                    .join(Document, Attachment.document_id == Document.id)
                    .where(
                        Attachment.document_id.in_([d.id for d in found]), Attachment.deleted_at == Document.deleted_at
                    )
                    .group_by(Attachment.document_id)
                ).all()
            )
            if found
            else {}
        )
        for document in found:
            document.trashed_attachments = counts.get(document.id, 0)
        return TrashContents(
            found, list(db.session.scalars(attachments.order_by(Attachment.deleted_at.desc(), Attachment.id.desc())))
        )

    # -- purging -----------------------------------------------------------------------------

    def purge(self, older_than: timedelta, dry_run: bool = False) -> PurgeReport:
        """Remove attachments and documents in the trash for longer than ``older_than``: each row with its object's
        deletion recorded in the cleanup outbox, then the object.

        An attachment of a purged document goes with it, however recently it was trashed; a document is
        removed only once none of its attachments is left. With ``dry_run`` nothing changes: the report is
        what is due (two counting queries).
        """
        cutoff = _now() - older_than
        due = _due(cutoff)
        if dry_run:
            attachments, size = db.session.execute(
                select(func.count(Attachment.id), func.coalesce(func.sum(Attachment.size), 0)).where(due)
            ).one()
            documents = db.session.scalar(select(func.count(Document.id)).where(Document.deleted_at < cutoff))
            return PurgeReport(documents=documents, attachments=attachments, bytes=int(size))
        report = PurgeReport()
        last = 0
        while True:
            batch = list(
                db.session.scalars(
                    select(Attachment).where(due, Attachment.id > last).order_by(Attachment.id).limit(BATCH)
                )
            )
            if not batch:
                break
            last = batch[-1].id
            for row in batch:
                if self._purge_attachment(row, report):
                    report.attachments += 1
                    report.bytes += row.size or 0
        last = 0
        while True:
            documents = list(
                db.session.scalars(
                    select(Document)
                    .where(Document.deleted_at < cutoff, Document.id > last)
                    .order_by(Document.id)
                    .limit(BATCH)
                )
            )
            if not documents:
                return report
            last = documents[-1].id
            for document in documents:
                if self._purge_document(document):  # only once no attachment is left: a kept one keeps it too
                    report.documents += 1

    def _purge_document(self, document: Document) -> bool:
        """Remove a trashed document with no attachment left, unless it was restored (or given one) meanwhile."""
        table, attachments = Document.__table__, Attachment.__table__
        deleted_at = document.deleted_at
        db.session.expunge(document)
        removed = db.session.execute(
            delete(table).where(
                table.c.id == document.id,
                table.c.deleted_at == deleted_at,
                ~exists().where(attachments.c.document_id == table.c.id),
            )
        ).rowcount
        db.session.commit()
        return bool(removed)

    def _purge_attachment(self, row: Attachment, report: PurgeReport) -> bool:
        """Remove one trashed row, recording its object's deletion in the same transaction, then delete the
        object; one the store refuses is reported and stays owed in the cleanup outbox.

        The row goes only while it is still trashed as it was when read (a restore meanwhile wins). A legacy
        row (only a filepath, outside every store) keeps the old order: its file first, then the row.
        """
        described = f"attachment {row.id} ({row.filename})"
        table = Attachment.__table__
        storage_type, key, deleted_at = row.storage_type, row.storage_path, row.deleted_at
        if not key:
            return self._purge_legacy(row, report, described)
        db.session.expunge(row)
        if not db.session.execute(delete(table).where(table.c.id == row.id, table.c.deleted_at == deleted_at)).rowcount:
            db.session.rollback()
            return False  # restored (or purged by another process) meanwhile
        ids = [record(db.session.connection(), storage_type, key, "purged")]
        db.session.commit()
        owed = settle(db.engine, storage.get, ids)
        if owed:
            error = next(iter(owed.values())) or "being deleted by another process"
            log.error("purged %s; its object %s/%s is owed a deletion: %s", described, storage_type, key, error)
            report.failed.append(f"{described}: {error}")
        else:
            log.info("purged %s (%s/%s)", described, storage_type, key)
        return True

    def _purge_legacy(self, row: Attachment, report: PurgeReport, described: str) -> bool:
        service = DocumentStorageService()
        try:
            provider, key = service.locate(row)
        except ObjectNotFound:
            provider = key = None  # a row with no location has no object to delete
        if provider is not None:
            try:
                provider.delete(key)
            except Exception as exc:  # StorageError, or an OSError from a read-only or failing disk
                log.error(
                    "purge kept %s: its object %s/%s could not be deleted: %s", described, provider.name, key, exc
                )
                report.kept.append(f"{described}: {exc}")
                return False
        db.session.delete(row)
        db.session.commit()
        log.info("purged %s (%s)", described, f"{provider.name}/{key}" if provider else "no object")
        return True
