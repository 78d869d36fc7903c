"""A redirect is handed out again for DOWNLOAD_CACHE_SECONDS without reading the attachment's row."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, event

from portal import audit
from portal.expiring_cache import Recent
from portal.extensions import db
from portal.models import Attachment
from tests.support.apps import Clock, fresh
from tests.support.files import PDF, legacy_row, rows, upload


@pytest.fixture
def clock(app) -> Clock:
    """One clock for this app's short-lived caches: who is signed in, and recent download links."""
    clock = Clock()
    app.extensions["signed_in_users"] = Recent(clock=clock)
    app.extensions["recent_download_links"] = Recent(clock=clock)
    return clock


@pytest.fixture
def attachment(staff_client, document) -> Attachment:
    upload(staff_client, document.id, ("kept.pdf", PDF))
    return rows()[0][-1]


def download(client, attachment_id: int):
    return fresh(client, f"/attachments/{attachment_id}/download")


def delete_elsewhere(attachment_id: int) -> None:
    """Another worker process's delete as seen from here: the row is gone, nothing else changed."""
    db.session.execute(delete(Attachment).where(Attachment.id == attachment_id))
    db.session.commit()


@pytest.mark.parametrize("audited", ["on", "off"])
def test_a_repeated_download_reads_nothing_from_the_database(app, clock, staff_client, attachment, audited):
    """The request itself runs no SQL; its audit event (AUDIT_DOWNLOADS=on) goes in with the next batch."""
    app.config["AUDIT_DOWNLOADS"] = audited
    first = download(staff_client, attachment.id)
    assert first.status_code == 302
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    again = download(staff_client, attachment.id)
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert seen == []
    audit.pending().flush()
    assert [statement.split(" (")[0] for statement in seen] == (["INSERT INTO audit_event"] if audited == "on" else [])
    with fresh(staff_client, again.headers["Location"]) as served:
        assert served.get_data() == PDF


def test_the_login_is_checked_before_a_kept_link_is_handed_out(app, clock, staff_client, attachment):
    assert download(staff_client, attachment.id).status_code == 302
    anonymous = app.test_client()
    response = download(anonymous, attachment.id)
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_a_delete_here_ends_the_link_at_once(app, clock, staff_client, attachment):
    assert download(staff_client, attachment.id).status_code == 302
    page = fresh(staff_client, f"/attachments/{attachment.id}/delete", "post", follow_redirects=True)
    assert "Deleted kept.pdf." in page.get_data(as_text=True)
    assert download(staff_client, attachment.id).status_code == 404


def test_a_delete_elsewhere_ends_the_link_within_the_window(app, clock, staff_client, attachment):
    assert download(staff_client, attachment.id).status_code == 302
    delete_elsewhere(attachment.id)
    assert download(staff_client, attachment.id).status_code == 302  # kept for a few seconds more
    clock.now += app.config["DOWNLOAD_CACHE_SECONDS"]
    assert download(staff_client, attachment.id).status_code == 404


def test_streamed_downloads_are_never_kept(app, clock, staff_client, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/old.pdf")
    with download(staff_client, row.id) as served:
        assert served.status_code == 200 and served.get_data() == PDF
    delete_elsewhere(row.id)
    assert download(staff_client, row.id).status_code == 404


class TestShortLinks:
    @pytest.fixture
    def app_config(self):
        return {"LOCAL_URL_EXPIRES": 20}

    def test_a_link_is_kept_for_at_most_a_tenth_of_its_lifetime(self, app, clock, staff_client, attachment):
        assert download(staff_client, attachment.id).status_code == 302
        delete_elsewhere(attachment.id)
        clock.now += 2
        assert download(staff_client, attachment.id).status_code == 404


class TestNotKept:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_CACHE_SECONDS": 0}

    def test_every_download_reads_the_row(self, app, clock, staff_client, attachment):
        assert download(staff_client, attachment.id).status_code == 302
        delete_elsewhere(attachment.id)
        assert download(staff_client, attachment.id).status_code == 404
