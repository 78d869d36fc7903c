"""Security headers on the portal's own pages: no inline script ever runs, and no framing."""

from __future__ import annotations

from flask import Flask, Response

# Inline style attributes stay allowed (progress bars); inline script never is.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_headers(app: Flask) -> None:
    """Add the headers to every HTML response (downloads set their own, stricter policy)."""

    @app.after_request
    def protect(response: Response) -> Response:
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
