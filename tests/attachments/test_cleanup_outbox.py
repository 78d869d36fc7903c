"""The cleanup outbox: deletions a store refused are kept, retried with backoff, never run against a referenced key."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta

from portal.cleanup.drain import drain
from portal.cleanup.outbox import backoff, record
from portal.extensions import db, storage
from portal.models import AttachmentStaging
from tests.support.files import PDF, rows, stage, stored_keys, upload
from tests.support.metrics import scrape, value
from tests.support.outbox import make_due, outbox


def test_a_refused_cleanup_is_recorded_and_maintain_finishes_it(
    app, staff_client, document, runner, store_fails_mid_stream, deletes_refused
):
    response = upload(staff_client, document.id, ("one.pdf", PDF), ("two.pdf", PDF * 20), ("three.pdf", PDF), json=True)
    assert response.status_code == 503
    assert rows() == ([], [])
    [left] = stored_keys()
    [entry] = outbox()
    assert (entry.storage_type, entry.key, entry.reason, entry.attempts) == ("local", left, "discard", 1)
    assert "StorageUnavailable" in entry.last_error
    waiting = runner.invoke(args=["storage", "maintain"])  # backing off after the failed attempt: not tried yet
    assert waiting.exit_code == 1 and "0 deleted" in waiting.output and "1 deletion(s) still owed" in waiting.output
    make_due()
    still_down = runner.invoke(args=["storage", "maintain"])
    assert still_down.exit_code == 1 and "1 still refused" in still_down.output
    [entry] = outbox()
    assert entry.attempts == 2 and stored_keys() == [left]
    deletes_refused["down"] = False
    make_due()
    done = runner.invoke(args=["storage", "maintain"])
    assert done.exit_code == 0, done.output
    assert "1 deleted" in done.output
    assert outbox() == [] and stored_keys() == []


def test_a_failed_commit_whose_cleanup_is_refused_is_recorded(
    app, staff_client, document, deletes_refused, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    def commit():
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(db.session, "commit", commit)
    response = upload(staff_client, document.id, ("a.pdf", PDF), ("b.pdf", PDF), json=True)
    assert response.status_code == 503
    monkeypatch.undo()
    assert sorted(entry.key for entry in outbox()) == stored_keys() and len(stored_keys()) == 2
    assert {entry.reason for entry in outbox()} == {"unrecorded"}


def test_an_entry_whose_key_a_row_points_at_again_keeps_its_object(app, staff_client, runner):
    response = stage(staff_client, ("kept.pdf", PDF))
    assert response.status_code == 201, response.get_json()
    [staged] = rows()[1]
    with db.engine.begin() as conn:
        record(conn, staged.storage_type, staged.storage_path, "removed", "StorageUnavailable: down")
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 0, result.output
    assert "0 deleted, 1 dropped" in result.output
    assert outbox() == [] and stored_keys() == [staged.storage_path]


def test_retries_back_off_exponentially(app, deletes_refused):
    with db.engine.begin() as conn:
        record(conn, "local", "attachments/2026/11/gone", "discard")
    start = datetime.now(UTC)
    clock = {"now": start}
    report = drain(db.engine, storage.get, clock=lambda: clock["now"])
    assert (report.failed, outbox()[0].attempts) == (1, 1)
    assert [backoff(n) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)]
    assert backoff(40) == timedelta(hours=6)
    clock["now"] = start + timedelta(seconds=29)
    assert drain(db.engine, storage.get, clock=lambda: clock["now"]).failed == 0
    clock["now"] = start + timedelta(seconds=31)
    assert drain(db.engine, storage.get, clock=lambda: clock["now"]).failed == 1
    assert outbox()[0].attempts == 2
    deletes_refused["down"] = False
    clock["now"] = start + timedelta(minutes=2)
    assert drain(db.engine, storage.get, clock=lambda: clock["now"]).deleted == 1  # a missing key is gone: success
    assert outbox() == []


def test_two_maintainers_at_once_delete_each_object_once(app):
    provider = storage.default
    keys = [f"attachments/2026/11/owed-{n}" for n in range(12)]
    with db.engine.begin() as conn:
        for key in keys:
            provider.save(key, io.BytesIO(b"x"))
            record(conn, "local", key, "discard", "down")
    deleted, lock, start = [], threading.Lock(), threading.Barrier(2)

    class Counting:
        def delete(self, key):
            with lock:
                deleted.append(key)
            time.sleep(0.01)  # both workers are busy at once
            provider.delete(key)

    reports, engine = [], db.engine

    def work():
        start.wait()
        reports.append(drain(engine, lambda name: Counting()))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(deleted) == sorted(keys)
    assert sum(report.deleted for report in reports) == len(keys)
    assert outbox() == [] and stored_keys() == []


def test_expired_staging_purged_by_maintain_is_recorded_before_its_row_goes(app, staff_client, runner, deletes_refused):
    stage(staff_client, ("old.pdf", PDF))
    db.session.execute(AttachmentStaging.__table__.update().values(created_at=datetime.now(UTC) - timedelta(days=3)))
    db.session.commit()
    [key] = stored_keys()
    result = runner.invoke(args=["storage", "maintain"])
    assert "Staging: 1 upload(s) older than 24 h removed." in result.output and result.exit_code == 1
    assert rows() == ([], []) and [entry.key for entry in outbox()] == [key] and stored_keys() == [key]
    deletes_refused["down"] = False
    make_due()
    assert runner.invoke(args=["storage", "maintain"]).exit_code == 0
    assert outbox() == [] and stored_keys() == []


def test_outbox_gauges(client, app):
    samples = scrape(client)
    assert value(samples, "portal_cleanup_outbox_pending") == 0
    assert value(samples, "portal_cleanup_outbox_oldest_age_seconds") == 0
    with db.engine.begin() as conn:
        record(conn, "local", "attachments/2026/11/a", "discard", now=datetime.now(UTC) - timedelta(hours=2))
        record(conn, "local", "attachments/2026/11/b", "discard")
    samples = scrape(client)
    assert value(samples, "portal_cleanup_outbox_pending") == 2
    assert 2 * 3600 <= value(samples, "portal_cleanup_outbox_oldest_age_seconds") < 3 * 3600


def test_a_cleanup_neither_done_nor_recorded_is_logged_as_an_orphan(
    app, staff_client, document, caplog, store_fails_mid_stream, deletes_refused, monkeypatch
):
    from sqlalchemy.exc import OperationalError

    from portal.cleanup import drain as drain_module

    def database_down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(drain_module, "record", database_down)
    response = upload(staff_client, document.id, ("one.pdf", PDF), ("two.pdf", PDF * 20), json=True)
    assert response.status_code == 503
    [left] = stored_keys()
    assert outbox() == [] and deletes_refused["refused"] == 1  # never recorded: deleted directly, refused
    assert f"could not delete local/{left} nor record it" in caplog.text
    assert "now an orphan, `flask storage orphans` finds it" in caplog.text


def test_after_a_failed_commit_an_object_that_cannot_be_recorded_is_left_alone(
    app, staff_client, document, caplog, monkeypatch
):
    """The commit's answer was lost, so it may have succeeded: without the outbox (and its reference check) the
    object is not deleted blindly; `flask storage orphans` weighs it against the rows later."""
    from sqlalchemy.exc import OperationalError

    from portal.cleanup import drain as drain_module

    def lost(*args, **kwargs):
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(db.session, "commit", lost)
    monkeypatch.setattr(drain_module, "record", lost)
    response = upload(staff_client, document.id, ("a.pdf", PDF), json=True)
    assert response.status_code == 503
    monkeypatch.undo()
    [left] = stored_keys()
    assert outbox() == [] and rows() == ([], [])
    assert f"could not record local/{left} for deletion" in caplog.text and "left in place" in caplog.text
