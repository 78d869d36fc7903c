"""/healthz answers 503 the moment any part it reports on is down, and says which."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy.exc import OperationalError

from portal.extensions import db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def app_config():
    return {
        "S3_BUCKET": "portal-health",
        "S3_ENDPOINT_URL": f"http://127.0.0.1:{_closed_port()}",
        "S3_ACCESS_KEY": "testing-access",
        "S3_SECRET_KEY": "testing-secret",
        "S3_CONNECT_TIMEOUT": 1,
        "S3_READ_TIMEOUT": 1,
        "S3_MAX_ATTEMPTS": 1,
    }


def test_an_unreachable_store_makes_healthz_503(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body == {"status": "unavailable", "database": "ok", "storage": {"local": "ok", "s3": "unavailable"}}


def test_an_unreachable_database_makes_healthz_503(app, client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(db.session, "execute", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unavailable"
    assert response.get_json()["status"] == "unavailable"
