"""The audit trail: a row for each security event, /admin/audit with filters and CSV, `flask audit export`, the log."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal import audit
from portal.extensions import db
from portal.models import AuditEvent, utcnow
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh


def events(name: str | None = None) -> list[AuditEvent]:
    statement = select(AuditEvent).order_by(AuditEvent.id)
    if name:
        statement = statement.where(AuditEvent.event == name)
    return list(db.session.scalars(statement))


def test_sign_in_success_failure_lockout_and_sign_out_are_recorded(app, client, auth, staff_user):
    auth.login(password="wrong password!", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    failed = events("auth.login")[-1]
    assert (failed.outcome, failed.actor_email, failed.remote_addr, failed.actor_id) == (
        "failure",
        "staff@example.com",
        "198.51.100.7",
        None,
    )
    auth.login()
    succeeded = events("auth.login")[-1]
    assert (succeeded.outcome, succeeded.actor_id, succeeded.object_id) == (
        "success",
        staff_user.id,
        str(staff_user.id),
    )
    auth.logout()
    assert events("auth.logout")[-1].actor_id == staff_user.id
    for _ in range(5):
        assert auth.login(password="wrong password!").status_code == 401
    assert auth.login().status_code == 429
    assert [e.outcome for e in events("auth.lockout")] == ["refused"]
    assert events("auth.login")[-1].outcome == "refused"


def test_account_changes_and_reset_links_are_recorded(app, admin_client, admin_user, staff_user):
    admin_client.post(
        f"/admin/users/{staff_user.id}/edit", data={"name": "Sam Renamed", "email": staff_user.email, "is_active": "y"}
    )
    change = events("user.update")[-1]
    assert change.actor_id == admin_user.id and json.loads(change.detail) == {"name": ["Sam Staff", "Sam Renamed"]}
    page = admin_client.post(f"/admin/users/{staff_user.id}/reset-link").get_data(as_text=True)
    token = page.split("/reset/")[1].split('"')[0]
    assert json.loads(events("account.reset_issued")[-1].detail)["via"] == "admin"
    fresh(
        app.test_client(),
        f"/reset/{token}",
        "post",
        data={"password": "reset new password", "confirm": "reset new password"},
    )
    used = events("account.reset_used")[-1]
    assert used.object_id == str(staff_user.id) and used.actor_id is None
    admin_client.post(f"/admin/users/{staff_user.id}/toggle", data={"confirmed": "yes"})
    assert events("user.deactivate")[-1].object_id == str(staff_user.id)
    admin_client.post(
        "/account/password",
        data={"current": PASSWORD, "password": "admin new password", "confirm": "admin new password"},
    )
    assert events("account.password_change")[-1].actor_id == admin_user.id
    assert events("user.create")  # the fixtures' accounts


def test_documents_created_and_edited_are_recorded(staff_client, staff_user):
    location = staff_client.post("/documents/new", data={"title": "Lease"}).headers["Location"]
    document_id = location.rsplit("/", 1)[1]
    staff_client.post(f"/documents/{document_id}/edit", data={"title": "Lease 2027"})
    assert [(e.event, e.object_id) for e in events() if e.event.startswith("document.")] == [
        ("document.create", document_id),
        ("document.edit", document_id),
    ]


def test_record_refuses_an_unknown_outcome(app):
    with pytest.raises(ValueError):
        audit.record("thing.happened", outcome="maybe")


def test_security_events_go_to_the_log_at_warning(app, caplog):
    with caplog.at_level(logging.INFO, logger="portal.audit"):
        audit.record("auth.login", outcome="failure", email="x@example.com")
        audit.record("document.create", object_type="document", object_id=1)
    levels = {record.getMessage().split()[0]: record.levelno for record in caplog.records}
    assert levels == {"auth.login": logging.WARNING, "document.create": logging.INFO}


def test_json_log_lines(tmp_path, capfd):
    from portal.audit.logs import configure_logging

    configure_logging("info", "json")
    try:
        logging.getLogger("portal.audit").warning("auth.login failure", extra={"audit": {"event": "auth.login"}})
        logging.getLogger("portal.storage").info("an info line")
        lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        configure_logging("info", "text")
    assert lines[0]["level"] == "WARNING" and lines[0]["event"] == "auth.login" and lines[0]["logger"] == "portal.audit"
    assert lines[1]["message"] == "an info line"  # INFO lines are not dropped


@pytest.fixture
def trail(app, admin_user, staff_user):
    """A few events: two sign-in failures (one old), a document, and a formula planted as an email."""
    audit.record("auth.login", outcome="failure", email="staff@example.com")
    audit.record("auth.login", outcome="failure", email='=HYPERLINK("http://evil")')
    audit.record("document.create", user=staff_user, object_type="document", object_id=7)
    old = audit.record("auth.login", outcome="failure", email="old@example.com")
    db.session.execute(
        update(AuditEvent).where(AuditEvent.id == old.id).values(created_at=utcnow() - timedelta(days=30))
    )
    db.session.commit()


def test_the_audit_page_filters_by_event_user_and_dates(trail, admin_client):
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "document.create" in page and "old@example.com" in page
    page = admin_client.get("/admin/audit?event=document.create").get_data(as_text=True)
    assert "1 event." in page
    page = admin_client.get("/admin/audit?user=STAFF@").get_data(as_text=True)
    assert "old@example.com" not in page and "staff@example.com" in page
    today = utcnow().date().isoformat()
    page = admin_client.get(f"/admin/audit?from={today}&to={today}&event=auth.login").get_data(as_text=True)
    assert "old@example.com" not in page and "3 events." in page  # two failures and the admin's sign-in
    assert admin_client.get("/admin/audit?from=yesterday").status_code == 400


def test_the_audit_page_pages(app, admin_client, admin_user):
    for number in range(55):
        audit.record("document.edit", user=admin_user, object_type="document", object_id=number, commit=False)
    db.session.commit()
    first = admin_client.get("/admin/audit?event=document.edit").get_data(as_text=True)
    assert 'rel="next"' in first and "document 54" in first and "document 4<" not in first
    second = admin_client.get("/admin/audit?event=document.edit&page=2").get_data(as_text=True)
    assert "document 4<" in second and "document 54" not in second


def test_staff_cannot_read_the_audit_trail(staff_client):
    assert staff_client.get("/admin/audit").status_code == 403
    assert staff_client.get("/admin/audit.csv").status_code == 403


def test_the_csv_export_streams_the_filtered_rows_and_defuses_formulas(trail, admin_client):
    response = admin_client.get("/admin/audit.csv?event=auth.login")
    assert response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {row["event"] for row in rows} == {"auth.login"}
    assert len(rows) == 4  # three sign-ins, and the admin's sign-in by the fixture
    assert '\'=HYPERLINK("http://evil")' in [row["user"] for row in rows]
    assert events("audit.export")


def test_flask_audit_export_since(trail, runner):
    result = runner.invoke(args=["audit", "export", "--since", "7d"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    emails = {row["user"] for row in rows}
    assert "staff@example.com" in emails and "old@example.com" not in emails
    everything = runner.invoke(args=["audit", "export", "--since", "60d", "--event", "auth.login"])
    assert "old@example.com" in everything.stdout
    bad = runner.invoke(args=["audit", "export", "--since", "lately"])
    assert bad.exit_code == 2 and "neither an age" in bad.output


def test_attachments_uploaded_or_promoted_from_staging_are_recorded(staff_client, staff_user):
    from tests.support.files import PDF, multipart, stage

    staged = stage(staff_client, ("staged.pdf", PDF)).get_json()["files"][0]["id"]
    location = staff_client.post("/documents/new", data={"title": "Lease", "staged_ids": [str(staged)]}).headers[
        "Location"
    ]
    document_id = int(location.rsplit("/", 1)[1])
    body, content_type = multipart([("direct.pdf", PDF)])
    staff_client.post(f"/documents/{document_id}/attachments", data=body, content_type=content_type)
    created = events("attachment.create")
    assert [json.loads(e.detail)["filename"] for e in created] == ["staged.pdf", "direct.pdf"]
    assert {(e.actor_id, e.object_type, json.loads(e.detail)["document"]) for e in created} == {
        (staff_user.id, "attachment", document_id)
    }
