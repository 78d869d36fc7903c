"""Routes for attachment bytes: direct upload, staging, download, inline view and delete."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, request, send_file, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms.validators import ValidationError

from portal import audit
from portal.documents.downloads import (
    Conditions,
    Download,
    LegacyFile,
    NotViewable,
    Redirect,
    Streamed,
    decide_download,
    decide_view,
)
from portal.documents.file_rules import UploadRejected, passive_type
from portal.documents.lookups import get_attachment_or_404, get_document_or_404, get_own_staged_or_404
from portal.documents.request_files import base64_file, streamed_files
from portal.documents.service import DocumentStorageService
from portal.documents.trash import TrashService, may_manage_attachment
from portal.errors import wants_json
from portal.extensions import csrf, db
from portal.storage.disposition import content_disposition, file_policy, safe_disposition
from portal.templating import human_size

bp = Blueprint("attachments", __name__)


def _check_csrf(form_token: str | None) -> None:
    """The streaming routes skip CSRFProtect (it would parse the body first) and check here instead:
    the X-CSRFToken header (scripts) or the form's csrf_token field, which the forms send first."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    token = request.headers.get("X-CSRFToken") or form_token
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CSRFError(str(exc)) from None


def _file_json(row) -> dict:
    return {
        "id": row.id,
        "filename": row.filename,
        "size": row.size,
        "size_human": human_size(row.size),
        "content_type": row.content_type,
        "storage": row.location,
    }


def record_new_attachments(rows) -> None:
    """One ``attachment.create`` audit event per file now on a document (uploaded, or promoted from staging)."""
    for row in rows:
        detail = {"filename": row.filename, "size": row.size, "document": row.document_id}
        audit.record("attachment.create", object_type="attachment", object_id=row.id, detail=detail, commit=False)
    db.session.commit()


def _rejected(exc: UploadRejected):
    if wants_json():
        return jsonify(error="Upload refused", message=str(exc)), exc.status
    flash(str(exc), "error")
    return None


@bp.post("/documents/<int:document_id>/attachments")
@csrf.exempt
def upload(document_id: int):
    """Direct upload of one or more files onto a document."""
    get_document_or_404(document_id)
    db.session.rollback()  # hold no transaction open while the body streams in
    try:
        files = streamed_files(request, "files", _check_csrf)
        rows = DocumentStorageService().add_attachments(document_id, files, current_user)
    except UploadRejected as exc:
        return _rejected(exc) or redirect(url_for("documents.view", document_id=document_id, _anchor="attachments"))
    record_new_attachments(rows)
    if wants_json():
        return jsonify(files=[_file_json(row) for row in rows]), 201
    # The page marks the new files and says they were saved (newest first, so they are on page 1).
    new = ",".join(str(row.id) for row in rows)
    return redirect(url_for("documents.view", document_id=document_id, new=new, _anchor="attachments"))


@bp.post("/staging")
@csrf.exempt
def stage():
    """Stage files (multipart) for a document being written; answers JSON."""
    try:
        rows = DocumentStorageService().stage(streamed_files(request, "files", _check_csrf), current_user)
    except UploadRejected as exc:
        return jsonify(error="Upload refused", message=str(exc)), exc.status
    return jsonify(files=[_file_json(row) for row in rows]), 201


@bp.post("/staging/base64")
@csrf.exempt
def stage_base64():
    """Stage one file sent as base64 or a data: URL in the body; the name comes in ?filename=."""
    _check_csrf(None)
    try:
        rows = DocumentStorageService().stage([base64_file(request)], current_user)
    except UploadRejected as exc:
        return jsonify(error="Upload refused", message=str(exc)), exc.status
    return jsonify(files=[_file_json(row) for row in rows]), 201


@bp.post("/staging/<int:staging_id>/delete")
def unstage(staging_id: int):
    """Remove one of your own staged files."""
    row = get_own_staged_or_404(staging_id, current_user)
    DocumentStorageService().remove_staged(row)
    if wants_json():
        return jsonify(removed=staging_id)
    flash(f"Removed {row.filename}.", "info")
    return redirect(request.referrer or url_for("documents.new"))


@bp.get("/attachments/<int:attachment_id>/download")
def download(attachment_id: int):
    """Answer as the download service decides: 302 to the store, a legacy file, or a stream."""
    conditions = Conditions(request.range, request.if_range, request.if_none_match, request.method == "HEAD")
    answer = decide_download(attachment_id, conditions)
    _record_download("attachment.download", attachment_id, answer, conditions)
    return _response(answer)


@bp.get("/attachments/<int:attachment_id>/view")
def view(attachment_id: int):
    """Show a PDF, image or text file inline; anything else (or bytes that do not match) goes to the download."""
    conditions = Conditions(request.range, request.if_range, request.if_none_match, request.method == "HEAD")
    try:
        answer = decide_view(attachment_id, conditions)
    except NotViewable:
        return redirect(url_for("attachments.download", attachment_id=attachment_id), code=302)
    _record_download("attachment.view", attachment_id, answer, conditions)
    return _response(answer)


def _record_download(event: str, attachment_id: int, answer: Download, conditions: Conditions) -> None:
    """The audit event of a file handed out (AUDIT_DOWNLOADS=on): a link, a legacy file or a stream.

    HEAD and 304 answers hand out nothing and are not recorded; a byte range is, with its range. The row is
    written with others within a second (audit.record_later): a transaction per download would cost more
    than the download.
    """
    if current_app.config["AUDIT_DOWNLOADS"] != "on" or conditions.head:
        return
    if isinstance(answer, Streamed) and answer.not_modified:
        return
    via = "redirect" if isinstance(answer, Redirect) else "legacy" if isinstance(answer, LegacyFile) else "stream"
    detail = {"filename": answer.filename, "via": via}
    if conditions.byte_range is not None:
        detail["range"] = conditions.byte_range.to_header()
    audit.record_later(event, object_type="attachment", object_id=attachment_id, detail=detail)


@bp.app_template_global()
def viewable(filename: str, content_type: str | None = None) -> bool:
    """True when a file of this name may be offered a View link (the view route still checks its bytes)."""
    kind = passive_type(filename, content_type)
    return kind is not None and kind.viewable


def _response(answer: Download) -> Response:
    """The Response for a decision; files are attachments in a sandbox unless the viewer asked for inline."""
    if isinstance(answer, Redirect):
        return redirect(answer.url, code=302)
    if isinstance(answer, LegacyFile):
        response = send_file(answer.path, mimetype=answer.content_type, conditional=True, etag=True, max_age=0)
    elif answer.not_modified:
        response = Response(status=304)
        response.set_etag(answer.etag)
        return response
    else:
        response = Response(answer.body, mimetype=answer.content_type, direct_passthrough=True)
        if answer.byte_range is not None:
            first, last = answer.byte_range
            response.status_code = 206
            response.content_range = f"bytes {first}-{last}/{answer.size}"
            response.content_length = last - first + 1
        else:
            response.content_length = answer.size
        response.accept_ranges = "bytes"
        if answer.etag:
            response.set_etag(answer.etag)
    # Never rendered in the portal's origin: the sandbox gives the file a unique origin and no script runs.
    disposition = safe_disposition(answer.disposition, answer.content_type)
    response.headers["Content-Disposition"] = content_disposition(answer.filename, disposition)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = file_policy(disposition)
    response.cache_control.private = True
    return response


@bp.post("/attachments/<int:attachment_id>/delete")
def delete(attachment_id: int):
    """Move an attachment to the trash (its uploader or an admin); `flask storage purge-trash` removes it later."""
    attachment = get_attachment_or_404(attachment_id)
    if not may_manage_attachment(current_user, attachment):
        abort(403)
    TrashService().trash_attachment(attachment, current_user)
    audit.record(
        "attachment.delete",
        object_type="attachment",
        object_id=attachment.id,
        detail={"filename": attachment.filename, "document": attachment.document_id},
    )
    flash(
        f"Deleted {attachment.filename}. It stays in the trash for {current_app.config['TRASH_RETENTION_DAYS']} days.",
        "success",
    )
    return redirect(url_for("documents.view", document_id=attachment.document_id, _anchor="attachments"))
