"""Routes: deleting a document (to the trash, after a confirmation), the trash page, and restoring."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal import audit
from portal.documents.lookups import (
    get_attachment_or_404,
    get_document_or_404,
    get_trashed_attachment_or_404,
    get_trashed_document_or_404,
)
from portal.documents.trash import RestoreRefused, TrashService, may_manage_attachment, may_manage_document
from portal.extensions import db
from portal.models import Attachment

bp = Blueprint("trash", __name__)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@bp.get("/documents/<int:document_id>/delete")
def confirm_document_delete(document_id: int):
    """The confirmation page the Delete button leads to (a dialog asks instead when script runs)."""
    document = get_document_or_404(document_id)
    if not may_manage_document(current_user, document):
        abort(403)
    count = db.session.scalar(
        select(func.count(Attachment.id)).where(Attachment.document_id == document.id, Attachment.deleted_at.is_(None))
    )
    question = f"Delete “{document.title}” and its {_plural(count, 'attachment')}?"
    return render_template(
        "trash/confirm.html",
        question=question,
        name=document.title,
        several=True,
        action=url_for("trash.delete_document", document_id=document.id),
        cancel=url_for("documents.view", document_id=document.id),
    )


@bp.post("/documents/<int:document_id>/delete")
def delete_document(document_id: int):
    """Move a document and its attachments to the trash (its creator or an administrator)."""
    document = get_document_or_404(document_id)
    if not may_manage_document(current_user, document):
        abort(403)
    count = TrashService().trash_document(document, current_user)
    audit.record(
        "document.delete",
        object_type="document",
        object_id=document.id,
        detail={"title": document.title, "attachments": count},
    )
    flash(
        f"Deleted “{document.title}” and its {_plural(count, 'attachment')}. "
        f"They stay in the trash for {current_app.config['TRASH_RETENTION_DAYS']} days.",
        "success",
    )
    return redirect(url_for("documents.index"))


@bp.get("/attachments/<int:attachment_id>/delete")
def confirm_attachment_delete(attachment_id: int):
    """The confirmation page for deleting one attachment."""
    attachment = get_attachment_or_404(attachment_id)
    if not may_manage_attachment(current_user, attachment):
        abort(403)
    return render_template(
        "trash/confirm.html",
        question=f"Delete “{attachment.filename}”?",
        name=attachment.filename,
        several=False,
        action=url_for("attachments.delete", attachment_id=attachment.id),
        cancel=url_for("documents.view", document_id=attachment.document_id, _anchor="attachments"),
    )


@bp.get("/trash")
def index():
    """What the signed-in user may restore; an administrator sees everything."""
    return render_template("trash/index.html", trash=TrashService().contents(current_user))


@bp.post("/trash/documents/<int:document_id>/restore")
def restore_document(document_id: int):
    """Bring a document back with the attachments that went to the trash with it."""
    document = get_trashed_document_or_404(document_id)
    if not may_manage_document(current_user, document):
        abort(403)
    title = document.title
    try:
        count = TrashService().restore_document(document)
    except RestoreRefused as exc:  # purged by another process since the page was read
        flash(f"“{title}”: {exc}", "error")
        return redirect(url_for("trash.index"))
    audit.record(
        "document.restore",
        object_type="document",
        object_id=document.id,
        detail={"title": document.title, "attachments": count},
    )
    flash(f"Restored “{document.title}” and {_plural(count, 'attachment')}.", "success")
    return redirect(url_for("trash.index"))


@bp.post("/trash/attachments/<int:attachment_id>/restore")
def restore_attachment(attachment_id: int):
    """Bring an attachment back, and its document when that is in the trash too."""
    attachment = get_trashed_attachment_or_404(attachment_id)
    if not may_manage_attachment(current_user, attachment):
        abort(403)
    filename = attachment.filename
    try:
        with_document = TrashService().restore_attachment(attachment, current_user)
    except RestoreRefused as exc:
        audit.record(
            "attachment.restore",
            outcome="refused",
            object_type="attachment",
            object_id=attachment_id,
            detail={"filename": filename, "reason": exc.reason},
        )
        flash(str(exc), "error")
        return redirect(url_for("trash.index"))
    audit.record(
        "attachment.restore",
        object_type="attachment",
        object_id=attachment.id,
        detail={"filename": attachment.filename, "with_document": with_document},
    )
    also = f" Its document “{attachment.document.title}” was in the trash too and is restored." if with_document else ""
    flash(f"Restored {attachment.filename}.{also}", "success")
    return redirect(url_for("trash.index"))
