"""Error pages: HTTP errors, CSRF failures and the storage error family, as pages or JSON."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.extensions import db
from portal.storage.base import ObjectNotFound, StorageError, StorageIntegrityError, StorageUnavailable
from portal.storage.keys import MissingPrivateKey
from portal.storage.oplog import CLIENT_GONE

TITLES = {
    400: ("Bad request", "The request could not be understood. Please check the form and try again."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing here. It may have been deleted, or the link is wrong."),
    405: ("Not allowed", "This page cannot be used that way."),
    410: ("Link expired", "This download link has expired. Go back and click the download link again."),
    413: ("File too large", "The upload is larger than the portal accepts."),
    429: ("Too many attempts", "Please wait a little and try again."),
    500: ("Something went wrong", "The portal hit an unexpected error. Nothing was changed; please try again."),
    503: ("Storage unavailable", "The file store cannot be reached right now. Please try again shortly."),
}


def wants_json() -> bool:
    """Scripts (staging API, progress polling) get JSON errors; browsers get pages."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json"


def render_error(status: int, message: str | None = None):
    title, default = TITLES.get(status, TITLES[500])
    message = message or default
    if wants_json():
        return jsonify(error=title, message=message), status
    return render_template("error.html", status=status, title=title, message=message), status


def init_errors(app: Flask) -> None:
    """Register the handlers on ``app``."""

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return render_error(
            400, "The form was missing its security token or it had expired. Reload the page and submit it again."
        )

    @app.errorhandler(413)
    def too_large(exc):
        form_limit = request.max_content_length
        if form_limit is not None and form_limit < app.config["MAX_CONTENT_LENGTH"]:
            return render_error(
                413, f"The form is larger than the {form_limit // 1024} KB this page accepts. Nothing was saved."
            )
        limit = app.config["MAX_UPLOAD_MB"]
        return render_error(413, f"The upload is larger than the limit of {limit} MB. Nothing was saved.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if isinstance(exc, InternalServerError):
            return server_error(exc)
        message = exc.description if exc.code in (400, 403, 404, 410) and _custom(exc) else None
        return render_error(exc.code or 500, message)

    @app.errorhandler(StorageError)
    def storage_error(exc: StorageError):
        db.session.rollback()
        app.logger.warning("storage error on %s %s: %s", request.method, request.path, exc)
        if getattr(exc, "shown_to_users", False):
            return render_error(503, str(exc))
        if isinstance(exc, ObjectNotFound):
            return render_error(
                404,
                "The file's bytes are missing from storage. Please tell an administrator; the portal's log names the file and the reason.",
            )
        if isinstance(exc, StorageUnavailable):
            return render_error(503)
        if isinstance(exc, MissingPrivateKey):
            return render_error(503, f"This file is encrypted and this portal cannot decrypt it: {exc}.")
        if isinstance(exc, StorageIntegrityError):
            return render_error(
                503,
                "The stored file failed its integrity check, so it was not sent. Please tell an administrator; the portal's log names the file and the reason.",
            )
        # Misconfiguration details (paths, buckets, endpoints) go to the log, not to the page.
        return render_error(
            503,
            "The file store is not set up correctly. Please tell an administrator; the portal's log says what is wrong.",
        )

    @app.errorhandler(OSError)
    def disk_error(exc: OSError):
        db.session.rollback()
        if isinstance(exc, CLIENT_GONE):
            # The browser went away mid-request (a tab closed, the network dropped): nobody reads this answer.
            app.logger.info("client went away during %s %s: %s", request.method, request.path, type(exc).__name__)
            return render_error(400, "The request was cut off before it finished. Nothing was saved.")
        # The local store's disk failing (full, read-only, I/O error) is a storage outage, not a bug page.
        app.logger.error("file system error on %s %s: %s", request.method, request.path, exc)
        return render_error(
            503,
            "The file store could not be read or written. Nothing was changed; "
            "please try again, and tell an administrator if it persists.",
        )

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)


def _custom(exc: HTTPException) -> bool:
    """True when a route gave its own description rather than Werkzeug's stock text."""
    return type(exc).description != exc.description
