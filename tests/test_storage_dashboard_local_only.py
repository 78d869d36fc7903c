"""A portal with only the local disk: the storage dashboard verifies the files the local store keeps."""

from __future__ import annotations

import time

from sqlalchemy import select

from portal.extensions import db, storage
from portal.migration import run_state
from portal.migration.models import MigrationRun
from portal.models import Attachment
from tests.support.files import upload


def finished(run_id: int) -> MigrationRun:
    deadline = time.monotonic() + 60
    while (run := run_state.fetch_run(db.engine, run_id)).is_active:
        assert time.monotonic() < deadline, f"run #{run_id} did not end: {run}"
        time.sleep(0.2)
    return run


def test_verify_is_offered_without_an_object_store(admin_client):
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    verify = page.split('id="verify"')[1].split("</section>")[0]
    assert "Verify stored files" in verify
    assert 'aria-label="Verify the stored files"' in verify


def test_a_verification_from_the_dashboard_checks_the_local_disk(admin_client, document):
    upload(admin_client, document.id, ("kept.pdf", b"%PDF-1.4 kept"), ("lost.pdf", b"%PDF-1.4 lost"))
    kept, lost = db.session.scalars(select(Attachment).order_by(Attachment.id)).all()
    storage.get("local").local_path(lost.storage_path).unlink()

    page = admin_client.post("/admin/storage/verify", data={"deep": "y"}, follow_redirects=True)
    assert "Verification run #" in page.get_data(as_text=True)
    run = finished(db.session.scalars(select(MigrationRun)).one().id)
    assert (run.kind, run.status, run.items_done, run.items_failed) == ("verify", "completed", 1, 1)
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    mismatches = page.split('id="run-failures"')[1].split("</table>")[0]
    assert "lost.pdf" in mismatches and "object missing from the store" in mismatches
    assert "kept.pdf" not in mismatches


def test_a_finished_run_offers_verify_on_a_local_only_portal(admin_client):
    run = MigrationRun(kind="verify", status="completed", options="{}")
    db.session.add(run)
    db.session.commit()
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert 'aria-label="Verify the stored files"' in page
