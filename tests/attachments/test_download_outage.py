"""A download while the object store is down stays in the portal: its "storage unavailable" page, never a
redirect to a store that does not answer; a tampered /files link says so."""

from __future__ import annotations

import uuid
from contextlib import ExitStack

import pytest

from portal.documents import downloads
from portal.expiring_cache import recent
from portal.extensions import storage
from tests.support.files import PDF, rows, upload
from tests.support.moto_server import running_moto_server

UNAVAILABLE = "The file store cannot be reached right now. Please try again shortly."


@pytest.fixture
def moto_of_its_own():
    """A moto server only this test uses, so that it can be stopped mid-test; yields (endpoint, stop)."""
    stack = ExitStack()
    endpoint = stack.enter_context(running_moto_server())
    yield endpoint, stack.close
    stack.close()


@pytest.fixture
def app_config(moto_of_its_own):
    endpoint, _ = moto_of_its_own
    return {
        "STORAGE_TYPE": "s3",
        "S3_BUCKET": f"outage-{uuid.uuid4().hex[:12]}",
        "S3_ENDPOINT_URL": endpoint,
        "S3_ACCESS_KEY": "testing-access",
        "S3_SECRET_KEY": "testing-secret",
        "S3_REGION": "us-east-1",
        "S3_CONNECT_TIMEOUT": 1,
        "S3_MAX_ATTEMPTS": 1,
    }


@pytest.fixture
def stored_file(app, staff_client, document):
    storage.get("s3").ensure_ready()
    upload(staff_client, document.id, ("Prüfbericht.pdf", PDF))
    return rows()[0][-1]


def _outage_page(response) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 503, response.status_code
    assert "Location" not in response.headers  # no redirect to a store that does not answer
    assert UNAVAILABLE in page
    assert 'class="topbar"' in page and "Back to documents" in page  # the portal's own page, a way back
    return page


def test_a_redirected_download_in_an_outage_gets_the_portal_page(app, staff_client, stored_file, moto_of_its_own):
    assert staff_client.get(f"/attachments/{stored_file.id}/download").status_code == 302
    downloads.forget_download(stored_file.id)
    app.extensions[downloads.STORE_REACHABLE].forget("s3")
    moto_of_its_own[1]()  # the store goes down
    _outage_page(staff_client.get(f"/attachments/{stored_file.id}/download"))


def test_a_cached_redirect_is_not_handed_out_once_the_outage_is_known(app, staff_client, stored_file, moto_of_its_own):
    assert staff_client.get(f"/attachments/{stored_file.id}/download").status_code == 302  # link now cached
    moto_of_its_own[1]()
    app.extensions[downloads.STORE_REACHABLE].forget("s3")  # the few seconds of the last answer have passed
    _outage_page(staff_client.get(f"/attachments/{stored_file.id}/download"))


def test_the_store_is_asked_once_per_window_not_per_download(app, staff_client, stored_file, monkeypatch):
    asked = []
    provider = storage.get("s3")
    real = provider.reachable
    monkeypatch.setattr(provider, "reachable", lambda: asked.append(1) or real())
    app.extensions.pop(downloads.STORE_REACHABLE, None)
    for _ in range(3):
        downloads.forget_download(stored_file.id)
        assert staff_client.get(f"/attachments/{stored_file.id}/download").status_code == 302
    assert len(asked) == 1


def test_a_streamed_download_in_an_outage_gets_the_portal_page(app, staff_client, stored_file, moto_of_its_own):
    app.config["DOWNLOAD_MODE"] = "proxy"
    moto_of_its_own[1]()
    _outage_page(staff_client.get(f"/attachments/{stored_file.id}/download"))


def test_an_inline_view_in_an_outage_gets_the_portal_page(app, staff_client, stored_file, moto_of_its_own):
    moto_of_its_own[1]()
    _outage_page(staff_client.get(f"/attachments/{stored_file.id}/view"))


def test_the_store_back_up_serves_again(app, staff_client, stored_file, moto_of_its_own):
    recent(downloads.STORE_REACHABLE).put("s3", False, 60)  # an outage remembered
    downloads.forget_download(stored_file.id)
    _outage_page(staff_client.get(f"/attachments/{stored_file.id}/download"))
    recent(downloads.STORE_REACHABLE).forget("s3")  # its memory expires; the store answers again
    assert staff_client.get(f"/attachments/{stored_file.id}/download").status_code == 302
