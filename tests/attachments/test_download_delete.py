"""Downloads (signed redirect, legacy filepath, proxy with ranges) and deletes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.cleanup.outbox import OUTBOX
from portal.extensions import db, storage
from portal.models import Attachment
from portal.storage.base import StorageUnavailable
from tests.support.files import PDF, legacy_row, purge_trash, rows, stored_keys, upload


def _one(client, document, name="r.pdf", content=PDF) -> Attachment:
    upload(client, document.id, (name, content))
    return rows()[0][-1]


def test_download_redirects_to_a_signed_link_served_as_attachment(staff_client, document):
    attachment = _one(staff_client, document, "Prüfbericht 2026.pdf")
    response = staff_client.get(f"/attachments/{attachment.id}/download")
    assert response.status_code == 302 and "/files/" in response.headers["Location"]
    with staff_client.get(response.headers["Location"]) as served:
        assert served.get_data() == PDF
        assert served.headers["Content-Disposition"].startswith("attachment;")
        assert "filename*=UTF-8''Pr%C3%BCfbericht%202026.pdf" in served.headers["Content-Disposition"]
        assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_uploaded_html_never_renders_in_the_portal(staff_client, document):
    attachment = _one(staff_client, document, "evil.html", b"<script>alert(document.cookie)</script>")
    location = staff_client.get(f"/attachments/{attachment.id}/download").headers["Location"]
    with staff_client.get(location) as served:
        assert served.headers["Content-Disposition"].startswith("attachment;")
        assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_legacy_rows_are_served_from_their_filepath(app, staff_client, admin_view, document, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/2019/old scan.pdf")
    assert "store-legacy" in admin_view(f"/documents/{document.id}")
    with staff_client.get(f"/attachments/{row.id}/download") as served:
        assert served.status_code == 200 and served.get_data() == PDF
        assert served.headers["X-Content-Type-Options"] == "nosniff"


MISSING = (
    404,
    "The file&#39;s bytes are missing from storage. Please tell an administrator; the portal&#39;s log names the file and the reason.",
)
# A row pointing outside LEGACY_FILES_ROOT means the root is set wrong for it: the store's set-up, not the file.
OUTSIDE = (
    503,
    "The file store is not set up correctly. Please tell an administrator; the portal&#39;s log says what is wrong.",
)


@pytest.mark.parametrize(
    "filepath, status, message",
    [("legacy/gone.pdf", *MISSING), ("/etc/passwd", *OUTSIDE), ("../../etc/passwd", *OUTSIDE)],
)
def test_missing_or_escaping_legacy_files_give_a_clear_page(staff_client, document, filepath, status, message):
    row = Attachment(
        document_id=document.id, filename="x.pdf", content_type="application/pdf", size=1, filepath=filepath
    )
    db.session.add(row)
    db.session.commit()
    response = staff_client.get(f"/attachments/{row.id}/download")
    page = response.get_data(as_text=True)
    assert response.status_code == status
    assert message in page
    assert "root:" not in page and filepath not in page  # neither the file nor where it was looked for


def test_the_log_names_what_the_page_asks_staff_to_report(staff_client, document, caplog):
    """The page says the portal's log names the file and the reason: it does, at WARNING."""
    row = Attachment(
        document_id=document.id, filename="x.pdf", content_type="application/pdf", size=1, filepath="legacy/gone.pdf"
    )
    db.session.add(row)
    db.session.commit()
    assert staff_client.get(f"/attachments/{row.id}/download").status_code == 404
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and r.name == "portal"]
    assert any(f"/attachments/{row.id}/download" in line and "legacy/gone.pdf" in line for line in warnings)


class TestProxyMode:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_MODE": "proxy"}

    def test_streams_through_the_portal_with_ranges(self, staff_client, document):
        attachment = _one(staff_client, document)
        with staff_client.get(f"/attachments/{attachment.id}/download") as whole:
            assert whole.status_code == 200 and whole.get_data() == PDF
            assert whole.headers["Accept-Ranges"] == "bytes"
            assert whole.headers["Content-Disposition"] == 'attachment; filename="r.pdf"'
            etag = whole.headers["ETag"]
        with staff_client.get(f"/attachments/{attachment.id}/download", headers={"Range": "bytes=5-24"}) as part:
            assert part.status_code == 206 and part.get_data() == PDF[5:25]
            assert part.headers["Content-Range"] == f"bytes 5-24/{len(PDF)}"
        with staff_client.get(f"/attachments/{attachment.id}/download", headers={"Range": "bytes=-10"}) as tail:
            assert tail.get_data() == PDF[-10:]
        beyond = staff_client.get(f"/attachments/{attachment.id}/download", headers={"Range": f"bytes={len(PDF)}-"})
        assert beyond.status_code == 416
        cached = staff_client.get(f"/attachments/{attachment.id}/download", headers={"If-None-Match": etag})
        assert cached.status_code == 304


def test_owner_deletes_row_and_object(staff_client, document):
    attachment = _one(staff_client, document)
    response = staff_client.post(f"/attachments/{attachment.id}/delete", follow_redirects=True)
    assert "Deleted r.pdf." in response.get_data(as_text=True)
    purge_trash()
    assert rows() == ([], []) and stored_keys() == []


def test_other_staff_cannot_delete_but_an_admin_can(client, auth, staff_user, admin_user, document):
    from portal.auth.service import create_user
    from tests.support.accounts import PASSWORD

    create_user("other@example.com", "Other", PASSWORD)
    auth.login(staff_user.email)
    attachment = _one(client, document)
    auth.logout()
    auth.login("other@example.com")
    assert client.post(f"/attachments/{attachment.id}/delete").status_code == 403
    assert len(rows()[0]) == 1
    auth.logout()
    auth.login(admin_user.email)
    assert client.post(f"/attachments/{attachment.id}/delete").status_code == 302
    purge_trash()
    assert rows() == ([], []) and stored_keys() == []


def test_a_store_that_refuses_the_delete_owes_it_in_the_cleanup_outbox(app, staff_client, document, monkeypatch):
    from portal.cleanup.drain import drain, pending

    attachment = _one(staff_client, document)
    attachment_id, key = attachment.id, attachment.storage_path

    def refuse(key):
        raise StorageUnavailable("the store is down")

    monkeypatch.setattr(storage.default, "delete", refuse)
    staff_client.post(f"/attachments/{attachment_id}/delete")
    report = purge_trash()
    assert report.failed == [f"attachment {attachment_id} (r.pdf): StorageUnavailable: the store is down"]
    monkeypatch.undo()
    assert rows() == ([], []) and stored_keys() == [key] and pending(db.engine)[0] == 1
    db.session.execute(OUTBOX.update().values(next_attempt_at=datetime.now(UTC)))
    db.session.commit()
    assert drain(db.engine, storage.get).deleted == 1
    assert stored_keys() == [] and pending(db.engine)[0] == 0


def test_unknown_attachment_is_404(staff_client):
    assert staff_client.get("/attachments/999/download").status_code == 404
    assert staff_client.post("/attachments/999/delete").status_code == 404


class TestProxyHead:
    @pytest.fixture
    def app_config(self):
        return {"DOWNLOAD_MODE": "proxy"}

    def test_head_answers_headers_without_opening_the_object(self, staff_client, document, monkeypatch):
        attachment = _one(staff_client, document)
        opened = []
        real_open = storage.default.open
        monkeypatch.setattr(storage.default, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
        response = staff_client.head(f"/attachments/{attachment.id}/download")
        assert response.status_code == 200 and response.headers["Content-Length"] == str(len(PDF))
        assert opened == []


def test_a_disk_that_refuses_the_delete_owes_it_in_the_cleanup_outbox(app, staff_client, document, monkeypatch):
    from sqlalchemy import select

    attachment = _one(staff_client, document)
    key = attachment.storage_path

    def read_only(key):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(storage.default, "delete", read_only)
    staff_client.post(f"/attachments/{attachment.id}/delete")
    report = purge_trash()
    assert len(report.failed) == 1 and "Read-only file system" in report.failed[0]
    assert rows() == ([], []) and stored_keys() == [key]
    assert db.session.scalars(select(OUTBOX.c.key)).all() == [key]


def test_a_full_disk_gives_a_storage_page_not_a_crash(app, staff_client, document, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage.default, "save", disk_full)
    response = upload(staff_client, document.id, ("a.pdf", PDF))
    assert response.status_code == 503
    assert "could not be read or written" in response.get_data(as_text=True)
    assert rows() == ([], [])
