"""Answers to requests whose body the portal did not read: drain the rest within a bound, else close.

An upload refused before its body is read (not signed in, a store that refuses, a bad form) leaves
the rest of the body on the connection. gunicorn answers with keep-alive, drains at most 64 KiB,
then drops the connection, and the client's next request on it fails with RemoteDisconnected.
"""

from __future__ import annotations

import time

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

#: how much of an unread body is read and discarded, at most, before the answer goes out
DRAIN_MAX_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 5.0
_CHUNK = 256 * 1024


def drained(stream) -> bool:
    """Read ``stream`` to its end within the bounds; False when a bound is hit or the client went away."""
    deadline, max_bytes = time.monotonic() + DRAIN_SECONDS, DRAIN_MAX_BYTES
    taken = 0
    try:
        while not stream.is_exhausted:
            chunk = stream.read(_CHUNK)
            taken += len(chunk)
            if not chunk or taken > max_bytes or time.monotonic() > deadline:
                return stream.is_exhausted
    except Exception:  # a client gone mid-body (ClientDisconnected, a reset): nothing more to keep alive
        return False
    return True


def init_unread_body(app: Flask) -> None:
    """Register the after-request step on ``app``."""

    @app.after_request
    def settle_unread_body(response: Response) -> Response:
        if not request.content_length:
            return response  # no body, or one the server frames itself (chunked)
        try:
            stream = request.stream
        except HTTPException:  # a body over MAX_CONTENT_LENGTH: werkzeug will not read it, so close
            stream = None
        if stream is not None and getattr(stream, "is_exhausted", True):
            return response
        if stream is None or not drained(stream):
            # Honoured by servers that read it (werkzeug, waitress, uwsgi); gunicorn closes by itself.
            response.headers["Connection"] = "close"
        return response
