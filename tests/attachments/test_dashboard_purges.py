"""Purging from the storage dashboard asks first: an unconfirmed post shows what would go and removes nothing;
a confirmed one removes exactly that and is recorded."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal.cleanup.models import CleanupOutboxEntry
from portal.extensions import db, storage
from portal.models import Attachment, AuditEvent
from portal.storage.base import StorageUnavailable
from tests.support.files import PDF, legacy_row, rows, stored_keys, upload


@pytest.fixture
def expired_trash(app, admin_client, document, admin_user):
    """Two attachments in the trash for longer than the retention, one trashed today."""
    for name in ("old-1.pdf", "old-2.pdf", "recent.pdf"):
        upload(admin_client, document.id, (name, PDF))
    now = datetime.now(UTC)
    for row in rows()[0]:
        old = row.filename.startswith("old")
        db.session.execute(
            update(Attachment)
            .where(Attachment.id == row.id)
            .values(deleted_at=now - timedelta(days=31 if old else 0), deleted_by=admin_user.id)
        )
    db.session.commit()
    return document


def _events(name: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_the_dashboard_offers_the_expired_trash_with_its_numbers(admin_client, expired_trash):
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    card = page.split('id="clean-up"')[1].split("</section>")[0]
    assert "2 attachments (" in card and "have been in the trash for" in card and "more than 30 days" in card
    assert 'data-confirm="Remove 2 attachments (' in card
    assert 'aria-label="Remove the expired trash for good"' in card


def test_an_unconfirmed_trash_purge_asks_and_removes_nothing(admin_client, expired_trash):
    response = admin_client.post("/admin/storage/purge-trash")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Remove 2 attachments (" in page and "this cannot be undone" in page
    assert len(rows()[0]) == 3 and len(stored_keys()) == 3 and _events("trash.purge") == []


def test_a_confirmed_trash_purge_removes_only_what_is_past_its_retention(admin_client, expired_trash):
    page = admin_client.post("/admin/storage/purge-trash", data={"confirmed": "yes"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "Removed 2 attachments (" in page
    assert [row.filename for row in rows()[0]] == ["recent.pdf"] and len(stored_keys()) == 1
    [event] = _events("trash.purge")
    assert '"attachments": 2' in event.detail and '"from": "dashboard"' in event.detail


def test_a_dashboard_purge_the_store_refuses_says_the_deletions_are_owed(admin_client, expired_trash, monkeypatch):
    def refuse(key):
        raise StorageUnavailable("the store is down")

    monkeypatch.setattr(storage.default, "delete", refuse)
    page = admin_client.post("/admin/storage/purge-trash", data={"confirmed": "yes"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "Removed 2 attachments (" in page
    assert "The store refused to delete the files of 2 attachments: the deletions are owed" in page
    # the rows left the trash; their objects wait in the cleanup outbox, listed on the same page
    assert [row.filename for row in rows()[0]] == ["recent.pdf"] and len(stored_keys()) == 3
    assert len(db.session.scalars(select(CleanupOutboxEntry)).all()) == 2
    assert "2</strong> object deletions the stores refused" in page
    [event] = _events("trash.purge")
    assert event.outcome == "failure" and '"failed": 2' in event.detail


def test_a_legacy_file_that_cannot_be_deleted_keeps_its_row_in_the_trash_and_says_so(
    app, admin_client, document, admin_user, tmp_path, monkeypatch
):
    row = legacy_row(document, tmp_path / "storage", "legacy/2019/old scan.pdf")
    db.session.execute(
        update(Attachment)
        .where(Attachment.id == row.id)
        .values(deleted_at=datetime.now(UTC) - timedelta(days=31), deleted_by=admin_user.id)
    )
    db.session.commit()

    def read_only(key):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(type(storage.get("local")), "delete", lambda self, key: read_only(key))
    page = admin_client.post("/admin/storage/purge-trash", data={"confirmed": "yes"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "1 attachment stayed in the trash: its legacy file could not be deleted" in page
    assert "deletions are owed" not in page
    db.session.expire_all()
    assert db.session.get(Attachment, row.id).deleted_at is not None  # still in the trash, restorable
    assert db.session.scalars(select(CleanupOutboxEntry)).all() == []
    [event] = _events("trash.purge")
    assert event.outcome == "failure" and '"kept": 1' in event.detail


def test_nothing_expired_means_nothing_to_confirm(admin_client, document):
    page = admin_client.post("/admin/storage/purge-trash", follow_redirects=True).get_data(as_text=True)
    assert "Nothing in the trash is older than its retention; nothing was removed." in page


@pytest.fixture
def quarantine(app) -> Path:
    root = Path(app.config["QUARANTINE_PATH"])
    old = root / "legacy/2019/old scan.pdf"
    new = root / "local/attachments/2026/11/fresh"
    for path in (old, new):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(PDF)
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    return root


def test_an_unconfirmed_quarantine_purge_counts_and_deletes_nothing(admin_client, quarantine):
    response = admin_client.post("/admin/storage/purge-quarantine", data={"older_than": "30d"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Delete 1 quarantined file" in page and "more than 30d ago" in page
    assert "/admin/storage/purge-quarantine?older_than=30d" in page  # the confirmation keeps the age
    assert (quarantine / "legacy/2019/old scan.pdf").exists()


def test_a_confirmed_quarantine_purge_deletes_only_older_files(admin_client, quarantine):
    page = admin_client.post(
        "/admin/storage/purge-quarantine?older_than=30d", data={"confirmed": "yes"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Deleted 1 quarantined file" in page
    assert not (quarantine / "legacy/2019/old scan.pdf").exists()
    assert (quarantine / "local/attachments/2026/11/fresh").exists()
    assert '"files": 1' in _events("quarantine.purge")[0].detail


@pytest.mark.parametrize("age", ["", "soon", "0d"])
def test_a_bad_age_is_refused_and_deletes_nothing(admin_client, quarantine, age):
    page = admin_client.post(
        "/admin/storage/purge-quarantine", data={"older_than": age, "confirmed": "yes"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Quarantine: " in page and "Nothing was deleted." in page
    assert (quarantine / "legacy/2019/old scan.pdf").exists()


def test_staff_cannot_purge(staff_client):
    assert staff_client.post("/admin/storage/purge-trash", data={"confirmed": "yes"}).status_code == 403
    assert staff_client.post("/admin/storage/purge-quarantine", data={"older_than": "1d"}).status_code == 403


def test_a_quarantine_with_nothing_that_old_says_so(admin_client, quarantine):
    page = admin_client.post(
        "/admin/storage/purge-quarantine", data={"older_than": "60d"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "No quarantined file is older than 60d; nothing was deleted." in page
