"""The trash: documents and attachments moved there, listed, restored, and purged after their retention."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, func, or_, select

from portal.documents.downloads import forget_download
from portal.documents.service import DocumentStorageService
from portal.extensions import db
from portal.models import Attachment, Document, User
from portal.storage.base import ObjectNotFound

log = logging.getLogger("portal.documents")

BATCH = 200  # rows read per purge query, so a large trash never sits in memory


class RestoreRefused(Exception):
    """A restore the user may not make (the attachment's document is someone else's and in the trash)."""


@dataclass
class TrashContents:
    """What one user sees on /trash: trashed documents (with their attachment counts) and attachments trashed
    on their own (those that went with their document come back with it)."""

    documents: list[Document]
    attachments: list[Attachment]


@dataclass
class PurgeReport:
    """What a purge removed (or, with dry_run, would remove), and the attachments whose objects it could not delete."""

    documents: int = 0
    attachments: int = 0
    bytes: int = 0
    failed: list[str] = field(default_factory=list)


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

    Purging is the dual cleanup of a delete: the object first, then the row; a row whose object could not
    be deleted stays (still in the trash) and is named in the report, so no row ever outlives its object
    silently and no object is left without its row.
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
        db.session.commit()
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
        db.session.commit()  # the document and the attachment come back together, or neither
        return with_document

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
        """Remove attachments and documents in the trash for longer than ``older_than``: objects, then rows.

        An attachment of a purged document goes with it, however recently it was trashed; a document is
        removed only once none of its attachments is left. With ``dry_run`` nothing changes.
        """
        cutoff = _now() - older_than
        report = PurgeReport()
        expired_documents = select(Document.id).where(Document.deleted_at < cutoff)
        due = or_(
            Attachment.deleted_at < cutoff,
            and_(Attachment.deleted_at.is_not(None), Attachment.document_id.in_(expired_documents)),
        )
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
                if dry_run or self._purge_attachment(row, report):
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
                left = db.session.scalar(select(func.count(Attachment.id)).where(Attachment.document_id == document.id))
                if dry_run:
                    report.documents += 1
                elif left == 0:  # an attachment whose object could not be deleted keeps its document too
                    db.session.delete(document)
                    db.session.commit()
                    report.documents += 1

    def _purge_attachment(self, row: Attachment, report: PurgeReport) -> bool:
        """Delete the object, then the row; a failed object delete keeps the row and is reported."""
        service = DocumentStorageService()
        described = f"attachment {row.id} ({row.filename})"
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
                report.failed.append(f"{described}: {exc}")
                return False
        db.session.delete(row)
        db.session.commit()
        log.info("purged %s (%s)", described, f"{provider.name}/{key}" if provider else "no object")
        return True
