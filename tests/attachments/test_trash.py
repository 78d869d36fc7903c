"""The trash: delete asks first, moves documents and attachments there, restore brings them back, purge ends them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.cleanup.models import CleanupOutboxEntry
from portal.documents.trash import TrashService
from portal.extensions import db, storage
from portal.models import Attachment, AuditEvent, Document
from portal.storage.base import StorageUnavailable
from tests.support.accounts import PASSWORD
from tests.support.files import PDF, PNG, downloaded, rows, stored_keys, upload


def _documents() -> list[Document]:
    db.session.expire_all()
    return list(db.session.scalars(select(Document).order_by(Document.id)))


def _events() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.event).order_by(AuditEvent.id)))


def _page(client, path: str) -> str:
    """The page at ``path`` without its flashed messages (which may name what was just deleted)."""
    page = client.get(path).get_data(as_text=True)
    return re.sub(r'<ul class="flashes".*?</ul>', "", page, flags=re.S)


def _age_trash(days: int) -> None:
    """Pretend everything in the trash was deleted ``days`` ago."""
    then = datetime.now(UTC) - timedelta(days=days)
    for model in (Document, Attachment):
        db.session.execute(model.__table__.update().where(model.deleted_at.is_not(None)).values(deleted_at=then))
    db.session.commit()


@pytest.fixture
def filled(staff_client, document):
    """``document`` with two attachments, uploaded by staff."""
    upload(staff_client, document.id, ("budget-2025.xlsx.pdf", PDF), ("photo.png", PNG))
    return document


def test_delete_trash_restore_purge(app, runner, staff_client, filled):
    document_id = filled.id
    first, second = rows()[0]
    confirm = staff_client.get(f"/documents/{document_id}/delete").get_data(as_text=True)
    assert "Delete “Quarterly report” and its 2 attachments?" in confirm
    assert "They go to the trash for 30 days" in confirm and 'aria-label="Delete Quarterly report"' in confirm

    response = staff_client.post(f"/documents/{document_id}/delete", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Deleted “Quarterly report” and its 2 attachments." in page
    assert "Quarterly report" not in _page(staff_client, "/")
    assert staff_client.get(f"/documents/{document_id}").status_code == 404
    gone = staff_client.get(f"/attachments/{first.id}/download")
    assert gone.status_code == 404 and "in the trash" in gone.get_data(as_text=True)
    assert len(stored_keys()) == 2  # the bytes stay until the purge

    trash = staff_client.get("/trash").get_data(as_text=True)
    assert f'action="/trash/documents/{document_id}/restore"' in trash
    assert 'aria-label="Restore Quarterly report"' in trash
    staff_client.post(f"/trash/documents/{document_id}/restore")
    assert staff_client.get(f"/documents/{document_id}").status_code == 200
    assert downloaded(staff_client, first.id) == PDF and downloaded(staff_client, second.id) == PNG

    staff_client.post(f"/attachments/{second.id}/delete")
    assert 'aria-label="Restore photo.png"' in staff_client.get("/trash").get_data(as_text=True)
    _age_trash(31)
    result = runner.invoke(args=["storage", "purge-trash"])
    assert result.exit_code == 0, result.output
    assert "Removed 0 documents and 1 attachment" in result.output
    attachments, _ = rows()
    assert [a.id for a in attachments] == [first.id] and len(stored_keys()) == 1
    trash_events = ("document.delete", "document.restore", "attachment.delete", "attachment.restore", "trash.")
    assert [e for e in _events() if e.startswith(trash_events)] == [
        "document.delete",
        "document.restore",
        "attachment.delete",
        "trash.purge",
    ]


def test_purge_removes_a_trashed_document_with_its_attachments(runner, staff_client, filled):
    staff_client.post(f"/documents/{filled.id}/delete")
    assert runner.invoke(args=["storage", "purge-trash"]).output.startswith("Removed 0 documents")  # not yet due
    result = runner.invoke(args=["storage", "purge-trash", "--older-than", "0s"])
    assert result.exit_code == 2  # zero is refused as an age: it would empty the trash by mistake
    _age_trash(31)
    result = runner.invoke(args=["storage", "purge-trash"])
    assert "Removed 1 document and 2 attachments" in result.output
    assert rows() == ([], []) and stored_keys() == [] and _documents() == []


def test_dry_run_changes_nothing(runner, staff_client, filled):
    staff_client.post(f"/documents/{filled.id}/delete")
    _age_trash(40)
    result = runner.invoke(args=["storage", "purge-trash", "--older-than", "30d", "--dry-run"])
    assert result.exit_code == 0 and "Would remove 1 document and 2 attachments" in result.output
    assert len(rows()[0]) == 2 and len(stored_keys()) == 2 and len(_documents()) == 1
    assert "trash.purge" not in _events()


def test_a_bad_age_is_refused(runner):
    result = runner.invoke(args=["storage", "purge-trash", "--older-than", "soon"])
    assert result.exit_code == 2 and "not a duration" in result.output


def test_a_purge_whose_object_delete_fails_records_it_and_says_so(runner, staff_client, filled, monkeypatch):
    staff_client.post(f"/documents/{filled.id}/delete")
    _age_trash(31)

    def refuse(key):
        raise StorageUnavailable("the store is down")

    monkeypatch.setattr(storage.default, "delete", refuse)
    result = runner.invoke(args=["storage", "purge-trash"])
    assert result.exit_code == 1
    assert "2 objects not deleted yet (the store refused)" in result.output
    assert "the store is down" in result.output
    # the rows are gone, their objects are recorded as owed: nothing is left that nobody will clean up
    assert rows() == ([], []) and len(stored_keys()) == 2 and _documents() == []
    assert sorted(db.session.scalars(select(CleanupOutboxEntry.key))) == stored_keys()
    assert db.session.scalars(select(AuditEvent.outcome).where(AuditEvent.event == "trash.purge")).all() == ["failure"]
    monkeypatch.undo()
    db.session.execute(CleanupOutboxEntry.__table__.update().values(next_attempt_at=datetime.now(UTC)))
    db.session.commit()
    assert runner.invoke(args=["storage", "maintain"]).exit_code == 0
    assert stored_keys() == [] and db.session.scalars(select(CleanupOutboxEntry)).all() == []


def test_other_staff_get_403_and_see_nothing_in_their_trash(client, auth, staff_user, admin_user, filled):
    from portal.auth.service import create_user

    create_user("other@example.com", "Other", PASSWORD)
    attachment = rows()[0][0]
    auth.logout()
    auth.login("other@example.com")
    assert client.get(f"/documents/{filled.id}/delete").status_code == 403
    assert client.post(f"/documents/{filled.id}/delete").status_code == 403
    assert client.get(f"/attachments/{attachment.id}/delete").status_code == 403
    assert client.post(f"/attachments/{attachment.id}/delete").status_code == 403
    assert _documents()[0].deleted_at is None
    auth.logout()
    auth.login(staff_user.email)
    client.post(f"/documents/{filled.id}/delete")
    auth.logout()
    auth.login("other@example.com")
    assert "Quarterly report" not in client.get("/trash").get_data(as_text=True)
    assert client.post(f"/trash/documents/{filled.id}/restore").status_code == 403
    auth.logout()
    auth.login(admin_user.email)
    assert "Quarterly report" in client.get("/trash").get_data(as_text=True)


def test_cancel_changes_nothing(staff_client, filled):
    page = staff_client.get(f"/documents/{filled.id}/delete").get_data(as_text=True)
    cancel = page.split('<a class="button" href="')[1].split('"')[0]
    assert cancel == f"/documents/{filled.id}"
    assert staff_client.get(cancel).status_code == 200
    assert _documents()[0].deleted_at is None and all(a.deleted_at is None for a in rows()[0])
    attachment = rows()[0][0]
    page = staff_client.get(f"/attachments/{attachment.id}/delete").get_data(as_text=True)
    assert "Delete “budget-2025.xlsx.pdf”?" in page and "It goes to the trash for 30 days" in page
    assert page.split('<a class="button" href="')[1].split('"')[0] == f"/documents/{filled.id}#attachments"


def test_trashed_attachments_are_never_listed_searched_or_served(staff_client, filled):
    attachment = rows()[0][0]
    staff_client.get(f"/attachments/{attachment.id}/download")  # this process now keeps its link
    staff_client.post(f"/attachments/{attachment.id}/delete")
    view = staff_client.get(f"/documents/{filled.id}").get_data(as_text=True).split('id="attachments"')[1]
    assert "budget-2025" not in view and "photo.png" in view
    assert "Quarterly report" not in _page(staff_client, "/?q=budget")
    assert "Quarterly report" in _page(staff_client, "/?q=photo")
    assert staff_client.get(f"/attachments/{attachment.id}/download").status_code == 404
    assert staff_client.post(f"/attachments/{attachment.id}/delete").status_code == 404
    staff_client.post(f"/documents/{filled.id}/delete")
    for query in ("/?q=quarterly", "/?q=photo", "/"):
        assert "Quarterly report" not in _page(staff_client, query)


def test_restoring_an_attachment_restores_its_document(staff_client, filled):
    first, second = rows()[0]
    staff_client.post(f"/attachments/{first.id}/delete")
    staff_client.post(f"/documents/{filled.id}/delete")
    trash = staff_client.get("/trash").get_data(as_text=True)
    assert f"/trash/attachments/{first.id}/restore" in trash  # deleted on its own: listed on its own
    assert f"/trash/attachments/{second.id}/restore" not in trash  # went with the document
    page = staff_client.post(f"/trash/attachments/{first.id}/restore", follow_redirects=True).get_data(as_text=True)
    assert "was in the trash too and is restored" in page
    assert downloaded(staff_client, first.id) == PDF and downloaded(staff_client, second.id) == PNG


def test_restoring_a_document_leaves_attachments_deleted_before_it(staff_client, filled):
    first, second = rows()[0]
    staff_client.post(f"/attachments/{first.id}/delete")
    staff_client.post(f"/documents/{filled.id}/delete")
    staff_client.post(f"/trash/documents/{filled.id}/restore")
    assert staff_client.get(f"/attachments/{first.id}/download").status_code == 404
    assert downloaded(staff_client, second.id) == PNG


def test_an_uploader_may_not_restore_someone_elses_trashed_document(client, auth, staff_user, filled):
    from portal.auth.service import create_user

    create_user("other@example.com", "Other", PASSWORD)
    auth.logout()
    auth.login("other@example.com")
    upload(client, filled.id, ("mine.pdf", PDF))
    mine = rows()[0][-1]
    client.post(f"/attachments/{mine.id}/delete")
    auth.logout()
    auth.login(staff_user.email)
    client.post(f"/documents/{filled.id}/delete")
    auth.logout()
    auth.login("other@example.com")
    page = client.post(f"/trash/attachments/{mine.id}/restore", follow_redirects=True).get_data(as_text=True)
    assert "which is in the trash too" in page and "Its creator or an administrator" in page
    assert _documents()[0].deleted_at is not None and rows()[0][-1].deleted_at is not None
    assert db.session.scalars(select(AuditEvent.outcome).where(AuditEvent.event == "attachment.restore")).all() == [
        "refused"
    ]


def test_the_document_page_offers_delete_with_a_dialog_and_a_page(staff_client, filled):
    response = staff_client.get(f"/documents/{filled.id}")
    page = response.get_data(as_text=True)
    assert f'href="/documents/{filled.id}/delete" aria-label="Delete Quarterly report"' in page
    assert 'aria-label="Delete budget-2025.xlsx.pdf"' in page
    assert '<dialog class="confirm-dialog"' in page and "/static/confirm.js" in page
    assert "<script>" not in page and "onclick" not in page


def test_the_service_keeps_trashed_rows_for_the_purge(app, staff_client, staff_user, filled):
    count = TrashService().trash_document(filled, staff_user)
    assert count == 2
    report = TrashService().purge(timedelta(days=1), dry_run=True)
    assert (report.documents, report.attachments) == (0, 0)
