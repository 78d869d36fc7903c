"""A request refused before its body is read leaves a connection the client can use again."""

from __future__ import annotations

import http.client

import pytest

from portal import unread_body
from tests.support.gunicorn import served_by_gunicorn

FORM = {"Content-Type": "multipart/form-data; boundary=unread"}


@pytest.fixture
def gunicorn(app):
    """This test's portal served by a real gunicorn (gthread worker, keep-alive on); yields its port."""
    with served_by_gunicorn(app) as (base, _):
        yield int(base.rsplit(":", 1)[1])


def test_the_next_request_on_the_connection_is_answered(gunicorn):
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn, timeout=30)
    # Not signed in: refused before a byte of the (1 MiB) body is read.
    connection.request("POST", "/documents/1/attachments", body=b"x" * (1024 * 1024), headers=FORM)
    refused = connection.getresponse()
    refused.read()
    assert refused.status == 302 and refused.getheader("Connection") == "keep-alive"
    connection.request("GET", "/healthz")  # the same connection, as browsers and requests.Session reuse it
    answer = connection.getresponse()
    assert answer.status == 200 and answer.read()
    connection.close()


def test_a_body_past_the_bound_is_answered_with_connection_close(client, monkeypatch):
    monkeypatch.setattr(unread_body, "DRAIN_MAX_BYTES", 100_000)
    response = client.post("/documents/1/attachments", data=b"x" * 300_000, headers=FORM)
    assert response.status_code == 302 and response.headers["Connection"] == "close"


def test_a_body_within_the_bound_is_drained_and_the_connection_kept(client):
    response = client.post("/documents/1/attachments", data=b"x" * 300_000, headers=FORM)
    assert response.status_code == 302 and "Connection" not in response.headers


def test_a_body_over_the_upload_limit_is_not_read_and_the_connection_closed(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 100_000
    response = client.post("/documents/1/attachments", data=b"x" * 300_000, headers=FORM)
    assert response.status_code == 302 and response.headers["Connection"] == "close"
