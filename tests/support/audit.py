"""The audit trail as an administrator reads it: /admin/audit.csv, through a client of its own."""

from __future__ import annotations

import contextvars
import csv
import io
from collections.abc import Callable

from flask import Flask


def admin_trail(app: Flask, email: str, password: str) -> Callable[[str], list[dict]]:
    """Sign ``email`` in on a new client; returns ``trail(event)``: that event's CSV rows, oldest first."""
    admin = app.test_client()
    # Each request in a context of its own, as a server runs it (the CSV streams inside its request context).
    signed_in = contextvars.Context().run(
        admin.post, "/auth/login", data={"email": email, "password": password}, follow_redirects=False
    )
    assert signed_in.status_code == 302, "the administrator could not sign in"

    def trail(event: str) -> list[dict]:
        def read() -> str:
            with admin.get("/admin/audit.csv", query_string={"event": event}) as response:
                assert response.status_code == 200
                return response.get_data(as_text=True)

        return list(csv.DictReader(io.StringIO(contextvars.Context().run(read))))[::-1]

    return trail
