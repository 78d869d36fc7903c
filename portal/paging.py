"""The `page` query argument, checked once: a missing one is page 1, a nonsensical one a 400."""

from __future__ import annotations

from flask import abort, request

#: far beyond any real list, far below what the database's integers hold
MAX_PAGE = 100_000


def page_argument(name: str = "page") -> int:
    """The page number asked for; aborts with 400 unless it is a whole number from 1 to MAX_PAGE."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, description=f"The page number must be a whole number from 1 to {MAX_PAGE}.")
    return int(raw)
