"""Every decision that lets an object go records it in the cleanup outbox in its own transaction, and the drain
never deletes an object a row points at again (a restore, a re-upload under the same key)."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError

from portal.cleanup.drain import drain
from portal.cleanup.outbox import forget, record
from portal.cleanup.startup import retry_owed_deletions, start_retry
from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging
from portal.templating import utc_iso
from tests.support.files import PDF, downloaded, rows, stage, stored_keys, upload
from tests.support.outbox import make_due, outbox


def _staged_id(client, content=PDF, name="scan.pdf") -> int:
    response = stage(client, (name, content))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["files"][0]["id"]


def test_promoting_staged_files_records_their_deletion_with_the_document(app, staff_client, runner, deletes_refused):
    staged = _staged_id(staff_client)
    [staging_key] = stored_keys()
    response = staff_client.post("/documents/new", data={"title": "Contract", "staged_ids": [str(staged)]})
    assert response.status_code == 302
    [attachment], staged_rows = rows()
    assert staged_rows == []
    [entry] = outbox()
    assert (entry.key, entry.reason, entry.attempts) == (staging_key, "promoted", 1)
    assert sorted(stored_keys()) == sorted([staging_key, attachment.storage_path])
    deletes_refused["down"] = False
    make_due()
    assert runner.invoke(args=["storage", "maintain"]).exit_code == 0
    assert outbox() == [] and stored_keys() == [attachment.storage_path]
    assert downloaded(staff_client, attachment.id) == PDF


def test_a_staged_file_is_removed_with_its_deletion_recorded_or_not_at_all(
    app, staff_client, deletes_refused, monkeypatch
):
    from portal.documents import service

    staged = _staged_id(staff_client)
    [key] = stored_keys()

    def database_fails(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    real_record = service.record
    monkeypatch.setattr(service, "record", database_fails)
    response = staff_client.post(f"/staging/{staged}/delete", headers={"Accept": "application/json"})
    assert response.status_code == 500
    assert [row.id for row in rows()[1]] == [staged] and stored_keys() == [key] and outbox() == []  # nothing changed
    monkeypatch.setattr(service, "record", real_record)
    response = staff_client.post(f"/staging/{staged}/delete", headers={"Accept": "application/json"})
    assert response.get_json() == {"removed": staged}
    assert rows()[1] == [] and stored_keys() == [key] and [entry.key for entry in outbox()] == [key]


def test_a_document_purged_while_the_store_is_down_leaves_recorded_deletions(
    app, staff_client, document, runner, deletes_refused
):
    upload(staff_client, document.id, ("a.pdf", PDF), ("b.pdf", PDF))
    keys = stored_keys()
    staff_client.post(f"/documents/{document.id}/delete")
    db.session.execute(Attachment.__table__.update().values(deleted_at=datetime.now(UTC) - timedelta(days=40)))
    db.session.commit()
    result = runner.invoke(args=["storage", "purge-trash"])
    assert result.exit_code == 1 and "2 objects not deleted yet" in result.output
    assert rows() == ([], []) and stored_keys() == keys and sorted(entry.key for entry in outbox()) == keys
    assert {entry.reason for entry in outbox()} == {"purged"}


# -- a restore or a re-upload of a key the outbox holds --------------------------------------------------


def _lost_commit_answer(monkeypatch):
    """The next commit succeeds, but its answer is lost (the connection drops as the server says OK)."""
    real_commit, state = db.session.commit, {"armed": True}

    def commit():
        real_commit()
        if state["armed"]:
            state["armed"] = False
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(db.session, "commit", commit)


def test_a_commit_whose_answer_was_lost_keeps_the_object_its_row_points_at(
    app, staff_client, document, runner, deletes_refused, monkeypatch
):
    """The dual cleanup records the objects first and deletes them through the outbox, whose reference check
    sees the row the lost commit did write: the object stays, nothing is owed."""
    _lost_commit_answer(monkeypatch)
    response = upload(staff_client, document.id, ("kept.pdf", PDF), json=True)
    assert response.status_code == 503  # the portal believes nothing was saved ...
    [row], _ = rows()  # ... but the row is there, with its object
    assert outbox() == [] and deletes_refused["refused"] == 0 and stored_keys() == [row.storage_path]
    assert downloaded(staff_client, row.id) == PDF


def test_a_restored_row_whose_key_sits_in_the_outbox_keeps_its_object(app, staff_client, document, runner):
    upload(staff_client, document.id, ("kept.pdf", PDF))
    [row], _ = rows()
    assert staff_client.post(f"/attachments/{row.id}/delete").status_code == 302  # to the trash
    with db.engine.begin() as conn:  # a deletion owed for its key (say, a cleanup that could not check the rows)
        record(conn, row.storage_type, row.storage_path, "unrecorded")
    assert staff_client.post(f"/trash/attachments/{row.id}/restore").status_code == 302
    assert outbox() == []  # the restore withdrew it in its own transaction
    assert runner.invoke(args=["storage", "maintain"]).exit_code == 0
    assert stored_keys() == [row.storage_path] and downloaded(staff_client, row.id) == PDF


def test_a_trashed_row_keeps_an_owed_object(app, staff_client, document, runner):
    upload(staff_client, document.id, ("kept.pdf", PDF))
    [row], _ = rows()
    staff_client.post(f"/attachments/{row.id}/delete")
    with db.engine.begin() as conn:
        record(conn, row.storage_type, row.storage_path, "unrecorded")
    result = runner.invoke(args=["storage", "maintain"])
    assert "0 deleted, 1 dropped" in result.output and stored_keys() == [row.storage_path]
    assert staff_client.post(f"/trash/attachments/{row.id}/restore").status_code == 302
    assert downloaded(staff_client, row.id) == PDF


@pytest.fixture
def impatient_engine(app):
    """A second connection to the test database that gives up on a lock at once instead of waiting for it."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 0}, execution_options=db.engine.get_execution_options())
    else:
        engine = create_engine(url, execution_options=db.engine.get_execution_options())

        @event.listens_for(engine, "connect")
        def no_wait(dbapi_connection, record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '50ms'")
            dbapi_connection.commit()

    yield engine
    engine.dispose()


def test_a_re_upload_cannot_take_a_key_the_drain_is_deleting(app, impatient_engine):
    """Deterministic: the re-upload's withdrawal is tried at the moment between the drain's reference check and its
    delete. It cannot pass (the entry is held), so the re-upload waits; once the drain is done it goes ahead,
    writes the key afresh, and nothing deletes it afterwards."""
    provider, key = storage.default, "attachments/2026/11/deterministic-key"
    provider.save(key, io.BytesIO(b"first attempt"))
    with db.engine.begin() as conn:
        record(conn, "local", key, "migration")
    seen = {}

    def re_upload_tries_now(entry):
        def attempt():
            try:
                with impatient_engine.begin() as conn:
                    forget(conn, "local", key)
                seen["outcome"] = "passed"
            except OperationalError as exc:
                seen["outcome"] = f"held: {exc.orig.__class__.__name__}"

        thread = threading.Thread(target=attempt)  # another connection, as another request or process would be
        thread.start()
        thread.join()
        assert provider.exists(key)  # the drain has checked, not yet deleted

    report = drain(db.engine, storage.get, before_delete=re_upload_tries_now)
    assert seen["outcome"].startswith("held") and report.deleted == 1 and not provider.exists(key)
    with db.engine.begin() as conn:  # the re-upload now: withdraw (nothing left), write, point a row at it
        assert forget(conn, "local", key) == 0
    provider.save(key, io.BytesIO(b"second attempt"))
    staged = AttachmentStaging(filename="x.pdf", content_type="application/pdf", size=14, storage_path=key)
    staged.storage_type = "local"
    db.session.add(staged)
    db.session.commit()
    assert drain(db.engine, storage.get).deleted == 0
    assert b"".join(provider.open(key)) == b"second attempt"


def test_a_withdrawal_before_the_drain_takes_the_entry_keeps_the_object(app):
    provider, key = storage.default, "attachments/2026/11/withdrawn-key"
    provider.save(key, io.BytesIO(b"kept"))
    with db.engine.begin() as conn:
        record(conn, "local", key, "migration")
    with db.engine.begin() as conn:
        assert forget(conn, "local", key) == 1
    assert drain(db.engine, storage.get) == drain(db.engine, storage.get)  # nothing to take
    assert b"".join(provider.open(key)) == b"kept" and outbox() == []


# -- the start-up retry ---------------------------------------------------------------------------------


def _owe(count: int) -> list[str]:
    provider, keys = storage.default, [f"attachments/2026/11/owed-{n}" for n in range(count)]
    with db.engine.begin() as conn:
        for key in keys:
            provider.save(key, io.BytesIO(b"x"))
            record(conn, "local", key, "discard")
    return keys


def test_the_start_up_retry_takes_a_bounded_batch(app):
    _owe(5)
    app.config["CLEANUP_STARTUP_LIMIT"] = 3
    report = retry_owed_deletions(app)
    assert report.deleted == 3 and len(outbox()) == 2 and len(stored_keys()) == 2


def test_the_start_up_retry_stops_taking_entries_when_its_time_is_up(app, monkeypatch):
    from portal.cleanup import drain as drain_module

    _owe(4)
    ticks = iter([0.0, 0.0, 1.0, 99.0, 99.0, 99.0])  # the budget starts at 0 s, runs out after the second entry
    monkeypatch.setattr(drain_module.time, "monotonic", lambda: next(ticks))
    app.config["CLEANUP_STARTUP_SECONDS"] = 10
    report = retry_owed_deletions(app)
    assert report.deleted == 2 and len(outbox()) == 2


def test_the_start_up_retry_never_fails_a_start(app, deletes_refused, monkeypatch, caplog):
    _owe(2)
    report = retry_owed_deletions(app)
    assert report.failed == 2 and {entry.attempts for entry in outbox()} == {1}
    from portal.cleanup import startup

    def database_down(*args, **kwargs):
        raise OperationalError("SELECT", {}, Exception("the database system is starting up"))

    monkeypatch.setattr(startup, "drain", database_down)
    assert retry_owed_deletions(app) is None
    assert "start-up retry of owed deletions skipped" in caplog.text


def test_the_start_up_retry_runs_in_the_background_and_can_be_turned_off(app):
    _owe(2)
    app.config["CLEANUP_STARTUP_LIMIT"] = 0
    assert start_retry(app) is None and len(outbox()) == 2
    app.config["CLEANUP_STARTUP_LIMIT"] = 100
    thread = start_retry(app)
    thread.join()
    assert outbox() == [] and stored_keys() == []


def test_a_gunicorn_start_works_off_owed_deletions(app):
    """The real start: gunicorn's first worker runs the retry (gunicorn.conf.py) while it already serves."""
    import time

    from tests.support.gunicorn import served_by_gunicorn

    _owe(2)
    with served_by_gunicorn(app):
        deadline = time.monotonic() + 60
        while outbox() and time.monotonic() < deadline:
            time.sleep(0.2)
    assert outbox() == [] and stored_keys() == []


# -- what the administrator sees ------------------------------------------------------------------------


def test_the_storage_dashboard_shows_the_owed_deletions(app, admin_client):
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    assert "Owed deletions" in page and "None: every object the portal let go of is gone" in page
    then = datetime.now(UTC) - timedelta(days=2)
    with db.engine.begin() as conn:
        record(conn, "local", "attachments/2026/11/oldest", "purged", "StorageUnavailable: down", now=then)
        record(conn, "local", "attachments/2026/11/newer", "discard")
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    assert "<strong>2</strong> object deletions" in page
    since = page[page.index("the oldest owed since") :]
    assert since.index(f'<time datetime="{utc_iso(then)}">') < since.index("</p>")
    assert page.index("attachments/2026/11/oldest") < page.index("attachments/2026/11/newer")
    assert "StorageUnavailable: down" in page


# -- a purge and a restore at once ------------------------------------------------------------------------


def test_a_purge_leaves_a_row_restored_since_it_was_read(app, staff_client, document):
    from portal.documents.trash import PurgeReport, TrashService

    upload(staff_client, document.id, ("kept.pdf", PDF))
    [row], _ = rows()
    staff_client.post(f"/attachments/{row.id}/delete")
    db.session.expire_all()
    stale = db.session.get(Attachment, row.id)
    assert stale.deleted_at is not None  # what the purge read
    with db.engine.begin() as conn:  # another request restores it
        conn.execute(Attachment.__table__.update().where(Attachment.id == row.id).values(deleted_at=None))
    report = PurgeReport()
    assert TrashService()._purge_attachment(stale, report) is False
    [kept], _ = rows()
    assert kept.deleted_at is None and stored_keys() == [kept.storage_path] and outbox() == []
    assert downloaded(staff_client, kept.id) == PDF


def test_a_restore_of_a_row_purged_meanwhile_says_so(app, staff_client, staff_user, document):
    from portal.documents.trash import RestoreRefused, TrashService

    upload(staff_client, document.id, ("gone.pdf", PDF))
    [row], _ = rows()
    staff_client.post(f"/attachments/{row.id}/delete")
    db.session.expire_all()
    stale = db.session.get(Attachment, row.id)
    stale.document  # noqa: B018  (loaded, as the restore page has it)
    with db.engine.begin() as conn:  # another process purges it
        conn.execute(Attachment.__table__.delete().where(Attachment.id == row.id))
    with pytest.raises(RestoreRefused, match="purged from the trash meanwhile"):
        TrashService().restore_attachment(stale, staff_user)
    assert rows() == ([], [])
