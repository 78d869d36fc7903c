"""/admin/storage: counts, starting runs in a detached process, one run at a time, live JSON, actions."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.migration import processes, run_state
from portal.migration.models import MigrationRun, utcnow
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment
from tests.migration.factory import payload
from tests.support.migration import START, latest_run, wait_for_end


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/admin/storage"),
        ("get", "/admin/storage/runs/1"),
        ("get", "/admin/storage/runs/1/progress"),
        ("post", "/admin/storage/runs"),
        ("post", "/admin/storage/verify"),
        ("post", "/admin/storage/runs/1/cancel"),
        ("post", "/admin/storage/runs/1/retry"),
        ("post", "/admin/storage/runs/1/resume"),
    ],
)
def test_staff_get_403_everywhere(staff_client, method, path):
    assert getattr(staff_client, method)(path).status_code == 403


def test_dashboard_counts_files_and_bytes_per_table_and_location(admin_client, files):
    files.legacy(payload(1000))
    files.legacy(payload(3000))
    files.local(payload(500), table="attachment_staging")
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    stats = page.split('id="storage-stats"')[1].split("</table>")[0]
    assert "store-legacy" in stats and ">2<" in stats and "3.9 KiB" in stats
    assert "Staged uploads (not saved yet)" in stats and "store-local" in stats and "500 B" in stats
    assert "100% of the files, 100% of the bytes" in stats
    assert 'href="/admin/storage"' in page  # in the admin navigation


def test_a_run_started_on_the_dashboard_works_in_its_own_process_to_the_end(admin_client, files, store):
    rows = [files.legacy(payload(2000)) for _ in range(12)]
    response = admin_client.post("/admin/storage/runs", data=START)
    run = latest_run()
    assert response.status_code == 302 and response.location.endswith(f"/admin/storage/runs/{run.id}")
    assert (run.created_from, run.items_total) == ("dashboard", 12)
    finished = wait_for_end(run.id)
    assert (finished.status, finished.items_done, finished.items_failed) == ("completed", 12, 0)
    db.session.expire_all()
    assert {db.session.get(Attachment, row.id).location for row in rows} == {"s3"}
    progress = admin_client.get(f"/admin/storage/runs/{run.id}/progress").get_json()
    assert (progress["percent"], progress["finished"], progress["state"]) == (100, True, "completed")
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert "100%" in page and "None." in page


def test_the_worker_process_is_detached_from_the_web_process(app, files, store):
    from portal.migration.launch import launch, log_path

    files.legacy(payload(100))
    run = DocumentMigrationService().start_run(MigrationOptions())
    pid = launch(app, run.id, ["storage", "migrate", "s3", "--run-id", str(run.id)])
    assert os.getsid(pid) == pid != os.getsid(0)  # its own session: a signal to our group misses it
    assert wait_for_end(run.id).status == "completed"
    # The run is recorded as completed before the worker writes its last log line: wait for it to exit.
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # already reaped by subprocess's own clean-up: it has exited
    assert f"Run #{run.id} completed" in log_path(app, run.id).read_text()


def test_a_second_start_is_refused_and_points_at_the_active_run(admin_client, files, store):
    active = DocumentMigrationService().start_run(MigrationOptions())
    response = admin_client.post("/admin/storage/runs", data=START, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert f"Not started: run #{active.id}" in page and f"/admin/storage/runs/{active.id}" in page
    assert latest_run().id == active.id
    dashboard = admin_client.get("/admin/storage").get_data(as_text=True)
    assert f"Run #{active.id}: migration to s3" in dashboard and "data-run-progress" in dashboard
    verify = admin_client.post("/admin/storage/verify", data={}, follow_redirects=True).get_data(as_text=True)
    assert f"Not started: run #{active.id}" in verify


def test_dry_run_reports_and_changes_nothing(admin_client, files, store):
    files.legacy(payload(1024))
    gone = files.legacy(payload(10), name="lost.pdf")
    files.path_of(gone).unlink()
    page = admin_client.post("/admin/storage/runs", data={**START, "dry_run": "y"}).get_data(as_text=True)
    assert "Nothing was copied" in page and "1.0 KiB" in page
    assert "lost.pdf" in page and "1 row(s) would fail" in page
    assert latest_run() is None
    assert {row.location for row in db.session.scalars(select(Attachment))} == {"legacy"}


def test_bad_options_are_refused_with_a_message(admin_client, files, store):
    page = admin_client.post("/admin/storage/runs", data={**START, "workers": "0"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "Files copied at once: Number must be between 1 and 64." in page
    assert latest_run() is None


def test_cancel_and_resume_a_stalled_run(admin_client, files, store):
    files.legacy(payload(100))
    run = DocumentMigrationService().start_run(MigrationOptions())
    db.session.execute(update(MigrationRun).values(heartbeat_at=utcnow() - processes.STALE_AFTER))
    db.session.commit()
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert "Stalled" in page and "Resume" in page
    admin_client.post(f"/admin/storage/runs/{run.id}/resume")
    assert wait_for_end(run.id).status == "completed"
    again = admin_client.post(f"/admin/storage/runs/{run.id}/resume", follow_redirects=True).get_data(as_text=True)
    assert "nothing to resume" in again
    stalled = DocumentMigrationService().start_run(MigrationOptions())
    db.session.execute(update(MigrationRun).values(heartbeat_at=utcnow() - processes.STALE_AFTER))
    db.session.commit()
    admin_client.post(f"/admin/storage/runs/{stalled.id}/cancel", data={"confirmed": "yes"})
    assert run_state.fetch_run(db.engine, stalled.id).status == "cancelled"


def test_retry_failed_moves_the_rows_that_failed(admin_client, files, store):
    row = files.legacy(payload(100))
    data = files.path_of(row).read_bytes()
    files.path_of(row).unlink()
    admin_client.post("/admin/storage/runs", data=START)
    failed = wait_for_end(latest_run().id)
    assert failed.items_failed == 1
    page = admin_client.get(f"/admin/storage/runs/{failed.id}").get_data(as_text=True)
    assert "source missing" in page and "Retry failed (1)" in page
    files.path_of(row).write_bytes(data)
    admin_client.post(f"/admin/storage/runs/{failed.id}/retry")
    retry = wait_for_end(latest_run().id)
    assert (retry.retry_of, retry.items_done, retry.items_failed) == (failed.id, 1, 0)


def test_verify_run_lists_a_missing_object(admin_client, files, store):
    files.legacy(payload(100))
    files.legacy(payload(100))
    service = DocumentMigrationService()
    service.migrate_all_attachments(service.start_run(MigrationOptions()))
    lost = db.session.scalars(select(Attachment).order_by(Attachment.id)).first()
    store.delete(lost.storage_path)
    admin_client.post("/admin/storage/verify", data={"deep": "y"})
    run = wait_for_end(latest_run().id)
    assert (run.kind, run.status, run.items_done, run.items_failed) == ("verify", "completed", 1, 1)
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert "object missing from the store" in page and "deep verification" in page


def test_a_worker_that_cannot_start_fails_its_run_at_once(admin_client, files, store, monkeypatch):
    monkeypatch.setattr("portal.migration.launch.worker_command", lambda *args: ["/nonexistent/python", *args])
    files.legacy(payload(10))
    page = admin_client.post("/admin/storage/runs", data=START, follow_redirects=True).get_data(as_text=True)
    assert "could not start its worker process" in page
    run = latest_run()
    assert (run.status, run.active) == ("failed", None)


def test_one_dashboard_load_counts_the_stores_once(admin_client, files, store, monkeypatch):
    """The location table, the pickers' totals and the defaults all come from one count over both tables."""
    from portal.migration import stats

    counted = []
    real = stats.location_stats
    monkeypatch.setattr(stats, "location_stats", lambda engine: counted.append(1) or real(engine))
    assert admin_client.get("/admin/storage").status_code == 200
    assert len(counted) == 1
