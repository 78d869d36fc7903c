"""Cancelling a run from the dashboard asks first: an unconfirmed post answers with the question, the run goes on."""

from __future__ import annotations

from portal.extensions import db
from portal.migration import run_state
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from tests.migration.factory import payload


def test_an_unconfirmed_cancel_asks_and_the_run_goes_on(admin_client, files, store):
    files.legacy(payload(100))
    run = DocumentMigrationService().start_run(MigrationOptions())
    response = admin_client.post(f"/admin/storage/runs/{run.id}/cancel")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Cancel run #{run.id} (migration to s3)?" in page and "Nothing is lost." in page
    assert "Keep it running" in page and f'href="/admin/storage/runs/{run.id}"' in page
    assert run_state.fetch_run(db.engine, run.id).status == "running"


def test_a_confirmed_cancel_cancels(admin_client, files, store):
    files.legacy(payload(100))
    run = DocumentMigrationService().start_run(MigrationOptions())
    response = admin_client.post(
        f"/admin/storage/runs/{run.id}/cancel", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert f"Run #{run.id} is cancelled" in response.get_data(as_text=True)
    assert run_state.fetch_run(db.engine, run.id).status == "cancelled"


def test_the_dashboard_and_the_run_page_offer_cancel_with_its_question(admin_client, files, store):
    files.legacy(payload(100))
    run = DocumentMigrationService().start_run(MigrationOptions())
    for path in ("/admin/storage", f"/admin/storage/runs/{run.id}"):
        page = admin_client.get(path).get_data(as_text=True)
        assert f'data-confirm="Cancel run #{run.id} (migration to s3)?"' in page, path
        assert f'aria-label="Cancel run #{run.id}"' in page and 'id="confirm-dialog"' in page, path
