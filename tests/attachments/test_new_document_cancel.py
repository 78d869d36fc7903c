"""Cancel on "New document": the staged files of the form go (rows and objects); nobody else's, and nothing else."""

from __future__ import annotations

from portal.models import Document
from tests.support.files import PDF, PNG, rows, stage, stored_keys


def test_cancel_removes_the_staged_files_of_the_form(staff_client):
    first = stage(staff_client, ("a.pdf", PDF)).get_json()["files"][0]["id"]
    second = stage(staff_client, ("b.png", PNG)).get_json()["files"][0]["id"]
    assert len(stored_keys()) == 2
    response = staff_client.post(
        "/documents/new/cancel",
        data={"title": "Half written", "staged_ids": [str(first), str(second)]},
        follow_redirects=True,
    )
    assert "Nothing was saved; 2 uploaded files were removed." in response.get_data(as_text=True)
    assert rows() == ([], []) and stored_keys() == []
    assert Document.query.count() == 0


def test_cancel_leaves_other_staged_files_and_other_users_files(app, client, auth, staff_user, admin_user):
    auth.login(admin_user.email)
    theirs = stage(client, ("theirs.pdf", PDF)).get_json()["files"][0]["id"]
    auth.logout()
    auth.login(staff_user.email)
    mine = stage(client, ("mine.pdf", PDF)).get_json()["files"][0]["id"]
    other_tab = stage(client, ("other-tab.pdf", PDF)).get_json()["files"][0]["id"]
    response = client.post("/documents/new/cancel", data={"staged_ids": [str(mine), str(theirs)]})
    assert response.status_code == 302
    assert sorted(row.id for row in rows()[1]) == sorted([theirs, other_tab])
    assert len(stored_keys()) == 2


def test_cancel_with_nothing_staged_just_leaves(staff_client):
    response = staff_client.post("/documents/new/cancel", data={"title": "x"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/")


def test_the_new_document_page_cancels_by_posting_its_staged_files(staff_client):
    staged = stage(staff_client, ("a.pdf", PDF)).get_json()["files"][0]["id"]
    # A save refused (no title) shows the form again with its staged files; Cancel posts them to be removed.
    page = staff_client.post("/documents/new", data={"title": "", "staged_ids": [str(staged)]}).get_data(as_text=True)
    assert f'name="staged_ids" value="{staged}"' in page
    assert 'formaction="/documents/new/cancel"' in page and "formnovalidate" in page


def test_a_file_removed_meanwhile_by_another_request_is_not_counted(staff_client, monkeypatch):
    """Between reading the form's staged rows and removing them, another tab removed one (remove_staged: False)."""
    from sqlalchemy import delete

    from portal.documents.service import DocumentStorageService
    from portal.extensions import db
    from portal.models import AttachmentStaging

    first = stage(staff_client, ("a.pdf", PDF)).get_json()["files"][0]["id"]
    second = stage(staff_client, ("b.png", PNG)).get_json()["files"][0]["id"]
    remove = DocumentStorageService.remove_staged

    def raced(self, row):
        if row.id == first:  # the other request, on a connection of its own
            with db.engine.begin() as other:
                other.execute(delete(AttachmentStaging.__table__).where(AttachmentStaging.id == row.id))
        return remove(self, row)

    monkeypatch.setattr(DocumentStorageService, "remove_staged", raced)
    response = staff_client.post(
        "/documents/new/cancel", data={"staged_ids": [str(first), str(second)]}, follow_redirects=True
    )
    assert "Nothing was saved; 1 uploaded file was removed." in response.get_data(as_text=True)
    assert rows() == ([], []) and len(stored_keys()) == 1  # the other request's object is its own to delete
