"""Download events are written in batches (portal/audit/buffer.py): nothing waits on the request, nothing is
lost while the database is away, and a worker that stops writes what it holds."""

from __future__ import annotations

import time

import pytest
import requests
from sqlalchemy import create_engine, func, select

from portal import audit
from portal.audit.buffer import EventBuffer
from portal.extensions import db
from portal.models import AuditEvent
from tests.support.accounts import PASSWORD, csrf_token_from
from tests.support.files import PDF, rows, upload
from tests.support.gunicorn import served_by_gunicorn


def _rows(event: str = "attachment.download") -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event))


def _values(n: int) -> dict:
    return dict(
        created_at=audit.utcnow(),
        event="attachment.download",
        outcome="success",
        actor_id=None,
        actor_email="s@example.com",
        remote_addr="127.0.0.1",
        object_type="attachment",
        object_id=str(n),
        detail="",
    )


@pytest.fixture
def buffers():
    """EventBuffer(...), closed after the test: none outlives its test's database."""
    made = []

    def make(engine, **options) -> EventBuffer:
        made.append(EventBuffer(engine, **options))
        return made[-1]

    yield make
    for buffer in made:
        buffer.close()


def test_a_flush_writes_every_waiting_row_once(app, buffers):
    buffer = buffers(db.engine, seconds=3600)
    for n in range(3):
        buffer.add(_values(n))
    assert _rows() == 0 and buffer.waiting() == 3
    assert buffer.flush() == 3 and buffer.flush() == 0
    assert _rows() == 3


def test_rows_the_database_refuses_wait_for_the_next_flush(app, tmp_path, buffers):
    away = create_engine(f"sqlite:///{tmp_path}/no/such/folder/portal.db")
    buffer = buffers(away, seconds=3600)
    buffer.add(_values(1))
    buffer.add(_values(2))
    assert buffer.flush() == 0 and buffer.waiting() == 2  # kept, not lost
    buffer.add(_values(3))
    buffer.engine = db.engine  # the database is back
    assert buffer.flush() == 3
    assert sorted(db.session.scalars(select(AuditEvent.object_id))) == ["1", "2", "3"]


def test_a_buffer_at_its_limit_drops_the_oldest_row_and_says_so(app, tmp_path, caplog, buffers):
    buffer = buffers(create_engine(f"sqlite:///{tmp_path}/no/such/folder/portal.db"), seconds=3600, limit=2)
    for n in range(3):
        buffer.add(_values(n))
    assert buffer.waiting() == 2 and "the oldest waiting row dropped" in caplog.text
    buffer.engine = db.engine
    buffer.flush()
    assert sorted(db.session.scalars(select(AuditEvent.object_id))) == ["1", "2"]


def test_the_writer_thread_writes_without_being_asked(app, buffers):
    buffer = buffers(db.engine, seconds=0.05)
    buffer.add(_values(1))
    deadline = time.monotonic() + 30
    while _rows() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows() == 1 and buffer.waiting() == 0


def test_closing_writes_what_waits_and_stops_the_writer(app):
    buffer = EventBuffer(db.engine, seconds=3600)
    buffer.add(_values(1))
    writer = buffer._thread
    assert writer.is_alive() and _rows() == 0
    buffer.close()
    assert _rows() == 1 and buffer.waiting() == 0
    assert not writer.is_alive()
    buffer.add(_values(2))  # after its app went away nothing would write it later: written at once
    assert _rows() == 2 and buffer.waiting() == 0


def test_the_app_fixture_leaves_no_writer_behind(app, staff_client, document):
    """What a test app's teardown relies on: the app's own buffer closes like any other."""
    upload(staff_client, document.id, ("kept.pdf", PDF))
    [attachment], _ = rows()
    assert staff_client.get(f"/attachments/{attachment.id}/download").status_code == 302
    buffer = app.extensions["audit_buffer"]
    assert buffer.waiting() == 1
    buffer.close()
    assert _rows() == 1 and not buffer._thread.is_alive()


def test_a_download_through_gunicorn_is_in_the_trail_after_a_graceful_stop(app, staff_user, admin_user, document):
    """A worker that stops writes what it still holds (the batch would have waited a minute)."""
    app.config["AUDIT_FLUSH_SECONDS"] = 60
    with served_by_gunicorn(app) as (base, _master):
        web = requests.Session()
        token = csrf_token_from(web.get(f"{base}/auth/login", timeout=30).text)
        login = {"email": staff_user.email, "password": PASSWORD, "csrf_token": token}
        assert web.post(f"{base}/auth/login", data=login, allow_redirects=False, timeout=30).status_code == 302
        client = app.test_client()
        client.post("/auth/login", data={"email": staff_user.email, "password": PASSWORD})
        upload(client, document.id, ("kept.pdf", PDF))
        [attachment], _ = rows()
        answer = web.get(f"{base}/attachments/{attachment.id}/download", allow_redirects=False, timeout=30)
        assert answer.status_code == 302 and "/auth/login" not in answer.headers["Location"], answer.headers["Location"]
        assert _rows() == 0  # still in the worker's batch
    assert _rows() == 1


def test_a_flush_period_of_zero_writes_each_download_at_once(app, staff_client, document):
    app.config["AUDIT_FLUSH_SECONDS"] = 0
    upload(staff_client, document.id, ("kept.pdf", PDF))
    [attachment], _ = rows()
    assert staff_client.get(f"/attachments/{attachment.id}/download").status_code == 302
    assert _rows() == 1
