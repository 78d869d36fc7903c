"""The one place that decides how a download or an inline view is answered: redirect to the store, or stream.

``decide_download`` and ``decide_view`` return a small decision (``Redirect``, ``LegacyFile`` or ``Streamed``) that the
route turns into a Response; nothing here reads ``request`` or builds a response.

Two caches sit on the redirect path, one inside the other:

- the S3 provider hands the same presigned link out again while it is at most a fifth of its lifetime
  old (S3_PRESIGN_EXPIRES / 5), because signing costs more than the rest of a redirect;
- this module keeps the redirect per attachment for DOWNLOAD_CACHE_SECONDS, but never longer than a
  tenth of the provider's link lifetime (``link_seconds`` / 10), so that a repeated download reads no
  row (the route still writes its audit event unless AUDIT_DOWNLOADS=off).

So a link is at most 1/5 + 1/10 of its lifetime old when it is last handed out, and whoever gets it
still has 70% of that lifetime left: the download cache never outlives the link it holds, however the
two settings are chosen. The local store's signed links are made afresh each time, under the same cap.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from werkzeug.datastructures import ETags, IfRange, Range
from werkzeug.exceptions import RequestedRangeNotSatisfiable

from portal import metrics
from portal.documents.file_rules import download_type, passive_type
from portal.documents.lookups import get_attachment_or_404
from portal.documents.service import DocumentStorageService
from portal.expiring_cache import recent
from portal.extensions import storage
from portal.models import Attachment
from portal.storage.base import ObjectNotFound, StorageIntegrityError, StorageProvider, StorageUnavailable

#: the app.extensions name of the per-process cache of redirects, by attachment id
RECENT_LINKS = "recent_download_links"
#: the app.extensions name of the per-process memory of whether each store answers, by store name
STORE_REACHABLE = "store_reachable"
#: how long a store that answered is taken to be up, and one that did not to be down
REACHABLE_SECONDS, UNREACHABLE_SECONDS = 5.0, 2.0

# Not current_app.logger: a streamed body is read after the view has returned, outside the app context.
log = logging.getLogger("portal.documents.downloads")


@dataclass(frozen=True)
class Conditions:
    """What the request asks of a streamed answer, as the route parsed it from the headers."""

    byte_range: Range | None
    if_range: IfRange
    if_none_match: ETags
    head: bool


@dataclass(frozen=True)
class Redirect:
    """302 to ``url``: a presigned GET on S3/MinIO, or a signed ``/files/<token>`` link on the local store."""

    url: str
    filename: str = ""


@dataclass(frozen=True)
class LegacyFile:
    """A pre-object-storage file on disk, served with Range and conditional requests (send_file)."""

    path: Path
    filename: str
    content_type: str
    disposition: str = "attachment"


@dataclass(frozen=True)
class Streamed:
    """The original bytes streamed through the portal (encrypted rows and DOWNLOAD_MODE=proxy).

    ``not_modified`` answers 304; ``byte_range`` (inclusive) answers 206; ``body`` is empty for HEAD.
    """

    filename: str
    content_type: str
    size: int
    etag: str | None
    byte_range: tuple[int, int] | None = None
    body: Iterable[bytes] = ()
    not_modified: bool = False
    disposition: str = "attachment"


Download = Redirect | LegacyFile | Streamed

#: leading bytes read back from the store before a file is shown inline
VIEW_SNIFF_SIZE = 1024


class NotViewable(Exception):
    """The attachment is not shown inline (its type is not viewable, or its bytes do not match it)."""


def decide_download(attachment_id: int, conditions: Conditions) -> Download:
    """How to answer /attachments/<id>/download for a signed-in user.

    A redirect handed out within the cache's window is handed out again without reading the row. A
    row deleted in this process is forgotten at once (forget_download); one deleted by another process
    may be answered for those few seconds more with a link the store then refuses, since the object
    is gone. Raises NotFound (404) for no such attachment, RequestedRangeNotSatisfiable (416),
    ObjectNotFound when the bytes are gone, StorageError when the store fails.
    """
    links = recent(RECENT_LINKS)
    cached = links.get(attachment_id)
    if cached is not None:
        link, store, size, filename = cached
        _check_reachable(store)
        metrics.count_download(store, size)
        return Redirect(link, filename)
    loaded_since = links.stamp()
    row = get_attachment_or_404(attachment_id)
    service = DocumentStorageService()
    if not row.storage_path:
        if not row.filepath:
            # An empty path would name LEGACY_FILES_ROOT itself and be refused as an unsafe key (a 503).
            raise ObjectNotFound("this attachment has neither a storage path nor a legacy file path")
        path = service.legacy_store().path(row.filepath)
        if not path.is_file():
            raise ObjectNotFound(f"legacy file {row.filepath!r} is missing")
        metrics.count_download("legacy", row.size)
        return LegacyFile(path, row.filename, download_type(row.filename, row.content_type))
    if row.encryption or current_app.config["DOWNLOAD_MODE"] == "proxy":
        answer = _streamed(service, row, conditions, download_type(row.filename, row.content_type))
        if not answer.not_modified and not conditions.head:
            first, last = answer.byte_range or (0, answer.size - 1)
            metrics.count_download(row.storage_type, last - first + 1)
        return answer
    provider, key = service.locate(row)
    _check_reachable(row.storage_type, provider)
    link = provider.url(key, filename=row.filename, content_type=download_type(row.filename, row.content_type))
    keep = min(current_app.config["DOWNLOAD_CACHE_SECONDS"], provider.link_seconds / 10)
    links.put(row.id, (link, row.storage_type, row.size, row.filename), keep, loaded_since=loaded_since)
    metrics.count_download(row.storage_type, row.size)
    return Redirect(link, row.filename)


def decide_view(attachment_id: int, conditions: Conditions) -> Download:
    """How to answer /attachments/<id>/view: the file inline, typed by the portal, or NotViewable.

    The type comes from the extension's passive type, and only when the object's first bytes (read
    back from the store now, so rows recorded before the portal checked types are covered too) match
    it. Never cached: each view checks the bytes again. Raises NotViewable, NotFound (404),
    RequestedRangeNotSatisfiable (416), ObjectNotFound, StorageError.
    """
    row = get_attachment_or_404(attachment_id)
    kind = passive_type(row.filename, row.content_type)
    if kind is None or not kind.viewable or not row.size:
        raise NotViewable(f"{row.filename} is not a viewable type")
    service = DocumentStorageService()
    if not kind.matches(_head(service, row)):
        raise NotViewable(f"{row.filename} does not hold what its name says")
    served = kind.mime_type + ("; charset=utf-8" if kind.text else "")
    if not row.storage_path:
        path = service.legacy_store().path(row.filepath or "")
        return LegacyFile(path, row.filename, served, "inline")
    if row.encryption or current_app.config["DOWNLOAD_MODE"] == "proxy":
        return _streamed(service, row, conditions, served, "inline")
    provider, key = service.locate(row)
    return Redirect(provider.url(key, filename=row.filename, content_type=served, disposition="inline"), row.filename)


def _head(service: DocumentStorageService, row: Attachment) -> bytes:
    """The object's first VIEW_SNIFF_SIZE bytes (decrypted when it is encrypted)."""
    body = service.open(row, (0, min(row.size, VIEW_SNIFF_SIZE) - 1))
    try:
        return b"".join(body)[:VIEW_SNIFF_SIZE]
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def _check_reachable(store: str, provider: StorageProvider | None = None) -> None:
    """Raise StorageUnavailable when the store a redirect would send the browser to does not answer.

    A redirect to a store that is down takes the user out of the portal to the browser's "site can't
    be reached"; this keeps them on the portal's "storage unavailable" page instead. It costs one
    HeadBucket per store and process every REACHABLE_SECONDS (UNREACHABLE_SECONDS after a failure),
    never one per download: an outage that starts within that window may still send a few browsers
    to the store (docs/uploads.md).
    """
    answers = recent(STORE_REACHABLE)
    known = answers.get(store)
    if known is None:
        provider = provider or storage.get(store)
        known = provider.reachable()
        answers.put(store, known, REACHABLE_SECONDS if known else UNREACHABLE_SECONDS)
    if not known:
        raise StorageUnavailable(f"the {store} store does not answer, so no download link was handed out")


def forget_download(attachment_id: int) -> None:
    """Stop this process from reusing the attachment's redirect (the attachment was deleted)."""
    recent(RECENT_LINKS).forget(attachment_id)


def _streamed(
    service: DocumentStorageService,
    row: Attachment,
    conditions: Conditions,
    content_type: str,
    disposition: str = "attachment",
) -> Streamed:
    """The plaintext with single byte-range support (206) and ETag revalidation (304)."""
    size, etag = row.size, row.sha256
    if etag and conditions.if_none_match.contains(etag):
        return Streamed(row.filename, content_type, size, etag, not_modified=True, disposition=disposition)
    byte_range = _requested_range(conditions, size, etag)
    # HEAD gets the headers only: the object is not opened (nothing to close, no wasted GET).
    body = () if conditions.head else _started(service.open(row, byte_range), _label(row))
    return Streamed(row.filename, content_type, size, etag, byte_range, body, disposition=disposition)


def _label(row: Attachment) -> str:
    """How the log names a row: table, id and filename (taken now: the row is detached once the view returns)."""
    return f"{row.__tablename__} {row.id} ({row.filename})"


def _started(body: Iterable[bytes], label: str) -> Iterator[bytes]:
    """``body`` with its first chunk already read (for an encrypted object, its first segment decrypted and
    authenticated), so that a failure there raises in the view and gets the portal's error page instead
    of the server's bare 500 after the status line has gone out. Later failures end the response mid-way.
    """
    chunks = iter(body)
    try:
        first = next(chunks, None)
    except StorageIntegrityError as exc:
        log.error("download of %s refused: %s", label, exc)
        _close(chunks)
        raise
    except BaseException:
        _close(chunks)
        raise
    return _abort_on_tamper(first, chunks, label)


def _abort_on_tamper(first: bytes | None, rest: Iterator[bytes], label: str) -> Iterator[bytes]:
    """Yield ``first`` then the rest; a segment that fails to decrypt is logged and ends the response mid-way.

    The status line is already sent by then, so the only honest signal left is a broken download
    (the client sees fewer bytes than Content-Length), never silently wrong bytes. This runs after the
    view has returned: it needs nothing from the app or the request context.
    """
    try:
        if first is not None:
            yield first
        yield from rest
    except StorageIntegrityError as exc:
        log.error("download of %s stopped: %s", label, exc)
        raise
    finally:
        _close(rest)


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _requested_range(conditions: Conditions, size: int, etag: str | None) -> tuple[int, int] | None:
    """The inclusive byte range asked for, None for the whole file; 416 for one that cannot be served."""
    requested = conditions.byte_range
    if requested is None or requested.units != "bytes" or len(requested.ranges) != 1:
        return None
    if conditions.if_range.etag and conditions.if_range.etag != etag:
        return None
    span = requested.range_for_length(size)
    if span is None:
        raise RequestedRangeNotSatisfiable(length=size)
    start, stop = span
    return start, stop - 1
