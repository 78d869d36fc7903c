"""Routes: the documents list, create, view and edit."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal.documents.forms import DocumentForm
from portal.documents.service import create_document, search_documents, update_document
from portal.extensions import db
from portal.models import Document

bp = Blueprint("documents", __name__)


def get_document_or_404(document_id: int) -> Document:
    document = db.session.get(Document, document_id)
    if document is None:
        abort(404)
    return document


@bp.route("/")
def index():
    query = request.args.get("q", "")
    page = request.args.get("page", 1, type=int)
    documents = search_documents(query, page, current_app.config["DOCUMENTS_PER_PAGE"])
    return render_template("documents/index.html", documents=documents, query=query)


@bp.route("/documents/new", methods=["GET", "POST"])
def new():
    form = DocumentForm()
    if form.validate_on_submit():
        document = create_document(form.title.data, form.description.data, current_user)
        db.session.commit()
        flash(f"“{document.title}” was created.", "success")
        return redirect(url_for("documents.view", document_id=document.id))
    return render_template("documents/form.html", form=form, document=None)


@bp.route("/documents/<int:document_id>")
def view(document_id: int):
    document = get_document_or_404(document_id)
    return render_template("documents/view.html", document=document)


@bp.route("/documents/<int:document_id>/edit", methods=["GET", "POST"])
def edit(document_id: int):
    document = get_document_or_404(document_id)
    form = DocumentForm(obj=document)
    if form.validate_on_submit():
        update_document(document, form.title.data, form.description.data)
        flash("Your changes are saved.", "success")
        return redirect(url_for("documents.view", document_id=document.id))
    return render_template("documents/form.html", form=form, document=document)
