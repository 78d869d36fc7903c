"""Finding the rows a URL names: a document, an attachment, one's own staged files; 404 when not there."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort
from sqlalchemy import select

from portal.extensions import db
from portal.models import Attachment, AttachmentStaging, Document, User

IN_TRASH = "This is in the trash, so it is not shown or served. Whoever deleted it, or an administrator, can restore it from the trash."


def get_document_or_404(document_id: int) -> Document:
    """The live document, or a 404 answer (which says so for one in the trash)."""
    document = db.get_or_404(Document, document_id)
    if document.deleted_at is not None:
        abort(404, IN_TRASH)
    return document


def get_attachment_or_404(attachment_id: int) -> Attachment:
    """The live attachment of a live document, or a 404 answer (which says so for one in the trash)."""
    attachment = db.get_or_404(Attachment, attachment_id)
    if attachment.deleted_at is not None or attachment.document.deleted_at is not None:
        abort(404, IN_TRASH)
    return attachment


def get_trashed_document_or_404(document_id: int) -> Document:
    """A document in the trash, or a 404 answer."""
    document = db.session.get(Document, document_id)
    if document is None or document.deleted_at is None:
        abort(404)
    return document


def get_trashed_attachment_or_404(attachment_id: int) -> Attachment:
    """An attachment in the trash, or a 404 answer."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.deleted_at is None:
        abort(404)
    return attachment


def get_own_staged_or_404(staging_id: int, user: User) -> AttachmentStaging:
    """``user``'s staged file; 404 for a missing one and for anyone else's (its existence is not revealed)."""
    row = db.session.get(AttachmentStaging, staging_id)
    if row is None or row.owner_id != user.id:
        abort(404)
    return row


def own_staged_files(staged_ids: Iterable[int], user: User) -> list[AttachmentStaging]:
    """Those of ``staged_ids`` that are ``user``'s staged files (others' and missing ones are left out)."""
    return list(
        db.session.scalars(
            select(AttachmentStaging).where(
                AttachmentStaging.id.in_(list(staged_ids)), AttachmentStaging.owner_id == user.id
            )
        )
    )
