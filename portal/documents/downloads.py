"""The one place that decides how a download is answered: redirect to the store, or stream through the portal."""
from __future__ import annotations

from typing import Iterator

from flask import Response, current_app, redirect, request, send_file
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from portal.documents.lookups import get_attachment_or_404
from portal.documents.service import DocumentStorageService
from portal.models import StoredFileMixin
from portal.recent import Recent, recent
from portal.storage.base import ObjectNotFound, StorageIntegrityError
from portal.storage.disposition import content_disposition

_RECENT_LINKS = "recent_download_links"


def attachment_download(attachment_id: int) -> Response:
    """The answer to /attachments/<id>/download, for a signed-in user; 404 for no such attachment.

    A redirect handed out for the attachment within the last DOWNLOAD_CACHE_SECONDS is handed out
    again without reading its row: the link itself is valid for minutes. A row deleted in this
    process is forgotten at once (forget_download); one deleted by another process may be answered
    for those few seconds more with a link the store then refuses, since the object is gone.
    """
    links = recent(_RECENT_LINKS)
    link = links.get(attachment_id)
    if link is not None:
        return redirect(link, code=302)
    since = links.stamp()
    return download_response(get_attachment_or_404(attachment_id), links, since)


def forget_download(attachment_id: int) -> None:
    """Stop this process from reusing the attachment's redirect (the attachment was deleted)."""
    recent(_RECENT_LINKS).forget(attachment_id)


def download_response(row: StoredFileMixin, links: Recent | None = None, loaded_since: float | None = None) -> Response:
    """302 to a presigned or signed URL; legacy, encrypted and DOWNLOAD_MODE=proxy rows are streamed.

    A redirect is remembered in ``links`` (by row id) for DOWNLOAD_CACHE_SECONDS, or a tenth of the
    link's lifetime when that is shorter. Raises ObjectNotFound when the bytes are gone, StorageError
    when the store fails.
    """
    service = DocumentStorageService()
    if not row.storage_path:
        return _legacy_response(service, row)
    if row.encryption or current_app.config["DOWNLOAD_MODE"] == "proxy":
        return _streamed_response(service, row)
    provider, key = service.locate(row)
    link = provider.url(key, filename=row.filename, content_type=row.content_type)
    if links is not None:
        links.put(row.id, link, min(current_app.config["DOWNLOAD_CACHE_SECONDS"], provider.link_seconds / 10),
                  loaded_since=loaded_since)
    return redirect(link, code=302)


def _protect(response: Response, row: StoredFileMixin) -> Response:
    """Served as a download that the browser never renders in the portal's origin."""
    response.headers["Content-Disposition"] = content_disposition(row.filename, "attachment")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.cache_control.private = True
    return response


def _legacy_response(service: DocumentStorageService, row: StoredFileMixin) -> Response:
    path = service.legacy_store().path(row.filepath or "")
    if not path.is_file():
        raise ObjectNotFound(f"legacy file {row.filepath!r} is missing")
    response = send_file(path, mimetype=row.content_type, conditional=True, etag=True, max_age=0)
    return _protect(response, row)


def _streamed_response(service: DocumentStorageService, row: StoredFileMixin) -> Response:
    """Stream the plaintext with single byte-range support (206) and ETag revalidation (304)."""
    size = service.plaintext_size(row)
    etag = row.sha256
    if etag and request.if_none_match.contains(etag):
        response = Response(status=304)
        response.set_etag(etag)
        return response
    byte_range = _requested_range(size, etag)
    # HEAD gets the headers only: the object is not opened (nothing to close, no wasted GET).
    body = () if request.method == "HEAD" else _abort_on_tamper(service.open(row, byte_range), row)
    response = Response(body, mimetype=row.content_type, direct_passthrough=True)
    if byte_range is not None:
        first, last = byte_range
        response.status_code = 206
        response.content_range = f"bytes {first}-{last}/{size}"
        response.content_length = last - first + 1
    else:
        response.content_length = size
    response.accept_ranges = "bytes"
    if etag:
        response.set_etag(etag)
    return _protect(response, row)


def _abort_on_tamper(body: Iterator[bytes], row: StoredFileMixin) -> Iterator[bytes]:
    """Pass the bytes on; a segment that fails to decrypt is logged and ends the response mid-way.

    The status line is already sent by then, so the only honest signal left is a broken download
    (the client sees fewer bytes than Content-Length), never silently wrong bytes.
    """
    try:
        yield from body
    except StorageIntegrityError as exc:
        current_app.logger.error("download of %s %s stopped: %s", row.__tablename__, row.id, exc)
        raise
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _requested_range(size: int, etag: str | None) -> tuple[int, int] | None:
    """The inclusive byte range asked for, None for the whole file; 416 for one that cannot be served."""
    requested = request.range
    if requested is None or requested.units != "bytes" or len(requested.ranges) != 1:
        return None
    if request.if_range.etag and request.if_range.etag != etag:
        return None
    span = requested.range_for_length(size)
    if span is None:
        raise RequestedRangeNotSatisfiable(length=size)
    start, stop = span
    return start, stop - 1
