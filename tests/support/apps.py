"""A portal app for a test, and one request run as a server runs it."""

from __future__ import annotations

import contextvars

from portal import create_app


def make_app(tmp_path, database_url: str, **overrides):
    """A portal on ``database_url`` with its instance folder and local store under ``tmp_path``."""
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "LOCAL_STORAGE_PATH": str(tmp_path / "storage"),
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        **overrides,
    }
    # environ={} keeps the developer's shell and .env out of the tests.
    return create_app(config, environ={})


def fresh(client, path: str, method: str = "get", **kwargs):
    """One request as a server runs it: in an app context of its own, so nothing carries over from
    earlier requests (the test's own context would share ``g`` with them) but what the process keeps."""
    return contextvars.Context().run(getattr(client, method), path, **kwargs)


class Clock:
    """A monotonic clock the test moves by hand (for the portal's short-lived caches)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
