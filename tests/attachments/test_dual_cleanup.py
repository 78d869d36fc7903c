"""Nothing half-done: faults injected in the store and in the database leave no orphan and no dangling row."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from portal.extensions import db, storage
from portal.models import Document
from portal.storage.base import StorageUnavailable
from tests.support.files import PDF, PNG, rows, stage, stored_keys, upload


def files_on_disk(app) -> list[str]:
    """Everything under the local storage folder, hidden temp files included."""
    root = Path(app.config["LOCAL_STORAGE_PATH"])
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@pytest.fixture
def commit_fails(monkeypatch):
    """The next database commit fails as if the server went away."""
    real_commit = db.session.commit
    state = {"armed": True}

    def commit():
        if state["armed"]:
            state["armed"] = False
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))
        return real_commit()

    monkeypatch.setattr(db.session, "commit", commit)
    return state


def test_store_failing_mid_stream_leaves_no_row_and_no_object(app, staff_client, document, store_fails_mid_stream):
    response = upload(staff_client, document.id, ("first.pdf", PDF), ("second.pdf", PDF * 20), json=True)
    assert response.status_code == 503
    assert store_fails_mid_stream["count"] == 2
    assert rows() == ([], [])
    assert stored_keys() == [] and files_on_disk(app) == []


def test_database_failing_after_the_write_removes_the_objects(app, staff_client, document, commit_fails):
    response = upload(staff_client, document.id, ("a.pdf", PDF), ("b.png", PNG), json=True)
    assert response.status_code == 503
    assert "could not be recorded, so nothing was saved" in response.get_json()["message"]
    assert rows() == ([], [])
    assert stored_keys() == [] and files_on_disk(app) == []


def test_staging_with_a_failing_database_leaves_nothing(app, staff_client, commit_fails):
    assert stage(staff_client, ("a.pdf", PDF)).status_code == 503
    assert rows() == ([], []) and files_on_disk(app) == []


def test_promotion_failing_at_commit_keeps_the_staged_files(app, staff_client, monkeypatch):
    staged = [stage(staff_client, (name, PDF)).get_json()["files"][0]["id"] for name in ("a.pdf", "b.pdf")]
    before = stored_keys()
    real_commit = db.session.commit

    def commit():
        raise OperationalError("COMMIT", {}, Exception("deadlock detected"))

    monkeypatch.setattr(db.session, "commit", commit)
    response = staff_client.post("/documents/new", data={"title": "Doc", "staged_ids": [str(i) for i in staged]})
    monkeypatch.setattr(db.session, "commit", real_commit)
    assert response.status_code == 503
    assert db.session.query(Document).count() == 0
    attachments, staged_rows = rows()
    assert attachments == [] and sorted(row.id for row in staged_rows) == staged
    assert stored_keys() == before


def test_promotion_failing_at_a_copy_keeps_the_staged_files(app, staff_client, monkeypatch):
    staged = [stage(staff_client, (name, PDF)).get_json()["files"][0]["id"] for name in ("a.pdf", "b.pdf")]
    before = stored_keys()
    provider = storage.default
    real_copy = provider.copy
    calls = []

    def copy(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise StorageUnavailable("the store is down")
        return real_copy(src, dst)

    monkeypatch.setattr(provider, "copy", copy)
    response = staff_client.post("/documents/new", data={"title": "Doc", "staged_ids": [str(i) for i in staged]})
    assert response.status_code == 503
    assert db.session.query(Document).count() == 0
    assert sorted(row.id for row in rows()[1]) == staged
    assert stored_keys() == before
