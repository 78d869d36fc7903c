"""A staged file removed in another window while its document is being saved: nothing is saved."""

from __future__ import annotations

from sqlalchemy import delete

from portal.extensions import db, storage
from portal.models import AttachmentStaging, Document
from tests.support.files import PDF, rows, stage, stored_keys


def test_a_staged_file_removed_during_the_save_stops_it(staff_client, monkeypatch):
    kept = stage(staff_client, ("kept.pdf", PDF)).get_json()["files"][0]["id"]
    gone = stage(staff_client, ("gone.pdf", PDF)).get_json()["files"][0]["id"]
    provider = storage.default
    copy = provider.copy

    def copy_while_another_window_removes_one(src_key, dst_key):
        # The save has read both staged rows and is copying their bytes: another window removes one now.
        with db.engine.begin() as connection:
            connection.execute(delete(AttachmentStaging).where(AttachmentStaging.id == gone))
        monkeypatch.setattr(provider, "copy", copy)
        return copy(src_key, dst_key)

    monkeypatch.setattr(provider, "copy", copy_while_another_window_removes_one)
    response = staff_client.post("/documents/new", data={"title": "Doc", "staged_ids": [str(kept), str(gone)]})

    assert "A staged file was removed while the document was being saved. Nothing was saved." in response.get_data(
        as_text=True
    )
    assert db.session.query(Document).count() == 0
    assert [row.id for row in rows()[1]] == [kept], "the file still staged stays staged"
    assert not [key for key in stored_keys() if key.startswith("attachments/")], "no copy is left behind"
