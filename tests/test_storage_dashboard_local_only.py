"""A portal with only the local disk: the storage dashboard offers no verification and explains why."""

from __future__ import annotations

from portal.migration.models import MigrationRun


def test_verify_is_not_offered_without_an_object_store(admin_client):
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    verify = page.split('id="verify"')[1].split("</section>")[0]
    assert "No object store is configured, so there is nothing to verify" in verify
    assert "<button" not in verify


def test_verify_posted_without_an_object_store_is_refused_and_starts_nothing(admin_client):
    response = admin_client.post("/admin/storage/verify", data={"deep": "y"}, follow_redirects=True)
    assert "No object store is configured, so there is nothing to verify" in response.get_data(as_text=True)
    assert MigrationRun.query.count() == 0


def test_a_run_page_offers_no_verify_without_an_object_store(admin_client, app):
    from portal.extensions import db

    run = MigrationRun(kind="verify", status="completed", options="{}")
    db.session.add(run)
    db.session.commit()
    page = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert "/admin/storage/verify" not in page
