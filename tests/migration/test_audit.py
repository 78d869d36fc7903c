"""Migration and verification runs in the audit trail: started, cancelled, finished (outcome and counts), from
the dashboard and from the CLI, as an administrator reads them in /admin/audit.csv."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.migration import processes
from portal.migration.models import MigrationRun, utcnow
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment
from tests.migration.factory import payload
from tests.support.accounts import PASSWORD
from tests.support.audit import admin_trail
from tests.support.migration import START, latest_run, wait_for_end


@pytest.fixture
def trail(app, admin_user):
    return admin_trail(app, admin_user.email, PASSWORD)


def summary(row: dict) -> tuple:
    return row["outcome"], row["user"], row["address"], row["object_type"], row["object_id"]


def lose_first_object(store) -> None:
    """Delete the first attachment's object behind the portal's back."""
    first = db.session.scalars(select(Attachment).order_by(Attachment.id)).first()
    store.delete(first.storage_path)


def stall() -> None:
    """The run's process is gone (its heartbeat is old): a cancel ends it at once."""
    db.session.execute(update(MigrationRun).values(heartbeat_at=utcnow() - processes.STALE_AFTER))
    db.session.commit()


def test_a_dashboard_run_is_recorded_started_and_finished_with_its_counts(admin_client, files, store, trail):
    for _ in range(3):
        files.legacy(payload(1000))
    admin_client.post("/admin/storage/runs", data=START)
    run = wait_for_end(latest_run().id)
    [started] = trail("migration.start")
    assert summary(started) == ("success", "admin@example.com", "127.0.0.1", "migration_run", str(run.id))
    assert json.loads(started["detail"]) == {"target": "s3", "items": 3, "bytes": 3000}
    [finished] = trail("migration.finish")
    # Finished by the detached worker process, which acts for nobody in particular.
    assert summary(finished) == ("success", "", "cli", "migration_run", str(run.id))
    assert json.loads(finished["detail"]) == {
        "status": "completed",
        "target": "s3",
        "items_total": 3,
        "items_done": 3,
        "items_failed": 0,
        "items_skipped": 0,
        "bytes_done": 3000,
    }


def test_a_run_with_failed_files_finishes_as_a_failure(runner, files, store, trail):
    gone = files.legacy(payload(10), path="old/gone.pdf")
    files.path_of(gone).unlink()
    files.legacy(payload(10))
    assert runner.invoke(args=["storage", "migrate", "s3"]).exit_code == 1
    [started] = trail("migration.start")
    assert summary(started)[:3] == ("success", "", "cli")
    [finished] = trail("migration.finish")
    detail = json.loads(finished["detail"])
    assert finished["outcome"] == "failure"
    assert (detail["status"], detail["items_done"], detail["items_failed"]) == ("completed", 1, 1)


def test_a_cancel_from_the_dashboard_is_recorded_and_the_run_finishes_cancelled(admin_client, files, store, trail):
    files.legacy(payload(100))
    run = DocumentMigrationService().start_run(MigrationOptions())
    stall()
    admin_client.post(f"/admin/storage/runs/{run.id}/cancel", data={"confirmed": "yes"})
    [cancelled] = trail("migration.cancel")
    assert summary(cancelled) == ("success", "admin@example.com", "127.0.0.1", "migration_run", str(run.id))
    [finished] = trail("migration.finish")
    assert finished["outcome"] == "cancelled" and json.loads(finished["detail"])["status"] == "cancelled"
    again = admin_client.post(f"/admin/storage/runs/{run.id}/cancel", data={"confirmed": "yes"}, follow_redirects=True)
    assert "nothing to cancel" in again.get_data(as_text=True)
    assert len(trail("migration.cancel")) == 1  # a refused cancel changes nothing and records nothing


def test_a_cancel_from_the_cli_is_recorded(runner, files, store, trail):
    run = DocumentMigrationService().start_run(MigrationOptions())
    stall()
    assert runner.invoke(args=["storage", "cancel", str(run.id)]).exit_code == 0
    assert [summary(row)[:3] for row in trail("migration.cancel")] == [("success", "", "cli")]
    assert [row["outcome"] for row in trail("migration.finish")] == ["cancelled"]


def test_a_dashboard_verification_run_with_a_missing_object_finishes_as_a_failure(admin_client, files, store, trail):
    files.legacy(payload(100))
    files.legacy(payload(100))
    service = DocumentMigrationService()
    service.migrate_all_attachments(service.start_run(MigrationOptions()))
    lose_first_object(store)
    admin_client.post("/admin/storage/verify", data={"deep": "y"})
    run = wait_for_end(latest_run().id)
    [started] = trail("verification.start")
    assert summary(started) == ("success", "admin@example.com", "127.0.0.1", "migration_run", str(run.id))
    [finished] = trail("verification.finish")
    detail = json.loads(finished["detail"])
    assert finished["outcome"] == "failure"
    assert (detail["status"], detail["items_done"], detail["items_failed"]) == ("completed", 1, 1)


def test_a_cli_verification_is_recorded_started_and_finished(runner, files, store, trail):
    files.legacy(payload(100))
    service = DocumentMigrationService()
    service.migrate_all_attachments(service.start_run(MigrationOptions()))
    assert runner.invoke(args=["storage", "verify", "--deep"]).exit_code == 0
    lose_first_object(store)
    assert runner.invoke(args=["storage", "verify"]).exit_code == 1
    assert [json.loads(row["detail"]) for row in trail("verification.start")] == [{"deep": True}, {"deep": False}]
    finished = trail("verification.finish")
    assert [(row["outcome"], row["address"]) for row in finished] == [("success", "cli"), ("failure", "cli")]
    assert json.loads(finished[1]["detail"]) == {"deep": False, "checked": 1, "ok": 0, "mismatched": 1}
