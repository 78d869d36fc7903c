"""Routes: the documents list, create, view and edit."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import audit
from portal.documents.attachment_routes import record_new_attachments
from portal.documents.file_rules import UploadRejected
from portal.documents.forms import DocumentForm
from portal.documents.listing import (
    attachment_order,
    attachments_page,
    parse_query,
    saved_files,
    search_documents,
    uploaders,
)
from portal.documents.lookups import get_document_or_404, own_staged_files
from portal.documents.request_files import form_files
from portal.documents.service import DocumentStorageService
from portal.file_types import FILE_TYPES
from portal.paging import page_argument

bp = Blueprint("documents", __name__)


@bp.route("/")
def index():
    """The documents list: search, filters, sorting and pages, all in the URL."""
    query = parse_query(request.args, page=page_argument())
    documents = search_documents(query, current_app.config["DOCUMENTS_PER_PAGE"])
    return render_template(
        "documents/index.html", documents=documents, query=query, uploaders=uploaders(), file_types=FILE_TYPES
    )


@bp.route("/documents/new", methods=["GET", "POST"])
def new():
    """Create a document; its staged files (and files chosen without JavaScript) become attachments."""
    form = DocumentForm()
    staged_ids = [int(value) for value in request.form.getlist("staged_ids") if value.isdigit()]
    if form.validate_on_submit():
        try:
            document, attachments = DocumentStorageService().create_document(
                form.title.data,
                form.description.data,
                staged_ids,
                form_files(request, "files"),
                current_user,
                document_date=form.document_date.data,
            )
        except UploadRejected as exc:
            flash(str(exc), "error")
        else:
            audit.record(
                "document.create",
                object_type="document",
                object_id=document.id,
                detail={"title": document.title, "attachments": len(attachments)},
            )
            record_new_attachments(attachments)
            count = len(attachments)
            with_files = f" with {count} attachment{'s' if count != 1 else ''}." if count else "."
            flash(f"“{document.title}” was created{with_files}", "success")
            return redirect(url_for("documents.view", document_id=document.id))
    staged = own_staged_files(staged_ids, current_user)
    return render_template("documents/form.html", form=form, document=None, staged=staged)


@bp.post("/documents/new/cancel")
def cancel_new():
    """Leave "New document" without saving: the user's own staged files of the form are removed."""
    staged_ids = [int(value) for value in request.form.getlist("staged_ids") if value.isdigit()]
    staged = own_staged_files(staged_ids, current_user)
    service = DocumentStorageService()
    count = sum(service.remove_staged(row) for row in staged)  # one another request removed first is not counted
    if count:
        flash(f"Nothing was saved; {count} uploaded file{'s were' if count != 1 else ' was'} removed.", "info")
    return redirect(url_for("documents.index"))


@bp.route("/documents/<int:document_id>")
def view(document_id: int):
    document = get_document_or_404(document_id)
    order = attachment_order(request.args)
    attachments = attachments_page(document, page_argument(), current_app.config["ATTACHMENTS_PER_PAGE"], order)
    return render_template(
        "documents/view.html",
        document=document,
        attachments=attachments,
        order=order,
        saved=saved_files(document, request.args.get("new")),
    )


@bp.route("/documents/<int:document_id>/edit", methods=["GET", "POST"])
def edit(document_id: int):
    """Edit title and description: the document's creator or an administrator, 403 for other staff."""
    document = get_document_or_404(document_id)
    if not (current_user.is_admin or document.created_by == current_user.id):
        abort(403)
    form = DocumentForm(obj=document)
    if form.validate_on_submit():
        DocumentStorageService().update_document(
            document, form.title.data, form.description.data, form.document_date.data
        )
        audit.record("document.edit", object_type="document", object_id=document.id, detail={"title": document.title})
        flash("Your changes are saved.", "success")
        return redirect(url_for("documents.view", document_id=document.id))
    return render_template("documents/form.html", form=form, document=document)
