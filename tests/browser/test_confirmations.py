"""In Chromium, at 390 and 1280 px: deactivating, cancelling a run and marking a file as lost ask first
(a dialog with script, a page without); Cancel changes nothing. The storage pages show failures as failures,
live."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def app_config(tmp_path):
    return {"WTF_CSRF_ENABLED": True, "LEGACY_FILES_ROOT": str(tmp_path / "legacy")}


def _fits(page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px"


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _signed_in(browser, live_server, email, viewport=PHONE, **options):
    context = browser.new_context(viewport=viewport, **options)
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, live_server, email, PASSWORD)
    page.wait_for_url(live_server + "/")
    return context, page


def _is_active(user_id: int) -> bool:
    from portal.extensions import db
    from portal.models import User

    db.session.expire_all()
    return db.session.get(User, user_id).is_active


def _run(**columns):
    from portal.extensions import db
    from portal.migration.models import MigrationRun

    now = datetime.now(UTC)
    values = {
        "kind": "migrate",
        "target": "s3",
        "status": "completed",
        "options": json.dumps({"batch_size": 100, "workers": 4, "verify": "auto", "include_staging": True}),
        "created_from": "dashboard",
        "created_at": now - timedelta(minutes=5),
        "started_at": now - timedelta(minutes=5),
        "heartbeat_at": now,
    }
    values.update(columns)
    if values["status"] in ("completed", "failed", "cancelled"):
        values.setdefault("finished_at", now - timedelta(minutes=1))
    run = MigrationRun(**values)
    db.session.add(run)
    db.session.commit()
    return run


def _missing_row(run, name: str, document):
    """A legacy attachment whose file is gone, and the failure the run recorded for it."""
    from portal.extensions import db
    from portal.migration.models import MigrationItem
    from portal.models import Attachment

    row = Attachment(
        document_id=document.id, filename=name, content_type="application/pdf", size=48_213, filepath=f"2019/{name}"
    )
    db.session.add(row)
    db.session.flush()
    db.session.add(
        MigrationItem(
            run_id=run.id,
            table_name="attachment",
            row_id=row.id,
            status="failed",
            source=f"2019/{name}",
            error=f"source missing: no file at '2019/{name}'",
        )
    )
    db.session.commit()
    return row


def _failed_again(run, name: str) -> None:
    """The retry ``run`` fails the same row once more."""
    from sqlalchemy import select

    from portal.extensions import db
    from portal.migration.models import MigrationItem
    from portal.models import Attachment

    row_id = db.session.scalars(select(Attachment.id).where(Attachment.filename == name)).first()
    db.session.add(
        MigrationItem(
            run_id=run.id,
            table_name="attachment",
            row_id=row_id,
            status="failed",
            source=f"2019/{name}",
            error=f"source missing: no file at '2019/{name}'",
        )
    )
    db.session.commit()


@pytest.fixture
def document(app, staff_user):
    from portal.extensions import db
    from portal.models import Document

    Path(app.config["LEGACY_FILES_ROOT"]).mkdir(parents=True, exist_ok=True)

    document = Document(title="Rahmenvertrag Stadtwerke", created_by=staff_user.id)
    db.session.add(document)
    db.session.commit()
    return document


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_deactivating_asks_in_a_dialog_and_cancel_changes_nothing(
    browser, live_server, admin_user, staff_user, viewport
):
    context, page = _signed_in(browser, live_server, admin_user.email, viewport)
    page.goto(f"{live_server}/admin/users")
    button = page.get_by_role("button", name=f"Deactivate {staff_user.email}")
    button.click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible()
    assert f"Deactivate {staff_user.name} ({staff_user.email})?" in dialog.inner_text()
    _fits(page, viewport["width"])
    _shot(page, f"confirm-deactivate-{viewport['width']}")
    dialog.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible() and _is_active(staff_user.id)
    button.click()
    with page.expect_navigation():
        dialog.get_by_role("button", name=f"Deactivate {staff_user.email}").click()
    assert f"{staff_user.email} is now deactivated." in page.locator(".flashes").inner_text()
    assert not _is_active(staff_user.id)
    context.close()


def test_without_script_deactivating_asks_on_a_page(browser, live_server, admin_user, staff_user):
    context, page = _signed_in(browser, live_server, admin_user.email, PHONE, java_script_enabled=False)
    page.goto(f"{live_server}/admin/users")
    page.get_by_role("button", name=f"Deactivate {staff_user.email}").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == f"Deactivate {staff_user.name} ({staff_user.email})?"
    _fits(page, PHONE["width"])
    _shot(page, "confirm-deactivate-noscript-390")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{live_server}/admin/users")
    assert _is_active(staff_user.id)
    page.get_by_role("button", name=f"Deactivate {staff_user.email}").click()
    page.get_by_role("button", name=f"Deactivate {staff_user.email}").click()  # the page's own button
    page.wait_for_url(f"{live_server}/admin/users")
    assert not _is_active(staff_user.id)
    context.close()


def test_cancelling_a_run_asks_and_keep_it_running_changes_nothing(browser, live_server, admin_user):
    from portal.extensions import db
    from portal.migration import run_state

    run = _run(status="running", active=1, items_total=300, items_done=120, bytes_total=10**9, bytes_done=4 * 10**8)
    context, page = _signed_in(browser, live_server, admin_user.email, DESKTOP)
    page.goto(f"{live_server}/admin/storage/runs/{run.id}")
    page.get_by_role("button", name=f"Cancel run #{run.id}").click()
    dialog = page.locator("#confirm-dialog")
    assert (
        f"Cancel run #{run.id} (migration to s3)?" in dialog.inner_text() and "Nothing is lost." in dialog.inner_text()
    )
    _shot(page, "confirm-cancel-run-1280")
    dialog.get_by_role("button", name="Keep it running").click()
    assert not dialog.is_visible()
    assert run_state.fetch_run(db.engine, run.id).status == "running"
    page.get_by_role("button", name=f"Cancel run #{run.id}").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name=f"Cancel run #{run.id}").click()
    assert f"Run #{run.id} is cancelled" in page.locator(".flashes").inner_text()
    assert run_state.fetch_run(db.engine, run.id).status == "cancelled"
    context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_mark_as_lost_asks_and_cancel_keeps_the_row(browser, live_server, admin_user, document, viewport):
    from portal.extensions import db
    from portal.models import Attachment

    run = _run(status="failed", items_total=1, items_failed=1)
    row = _missing_row(run, "Angebot_Rahmenvertrag_Stadtwerke_Musterstadt_2026_final.docx", document)
    row_id, filename = row.id, row.filename
    context, page = _signed_in(browser, live_server, admin_user.email, viewport)
    page.goto(f"{live_server}/admin/storage/missing")
    assert "MISSING EVERYWHERE" in page.locator("#missing-files").inner_text()
    _fits(page, viewport["width"])
    _shot(page, f"missing-files-{viewport['width']}")
    name = f"Mark {filename} as lost"
    page.get_by_role("button", name=name).click()
    dialog = page.locator("#confirm-dialog")
    assert "the audit trail keeps its name" in dialog.inner_text()
    _fits(page, viewport["width"])
    _shot(page, f"confirm-lost-{viewport['width']}")
    dialog.get_by_role("button", name="Cancel").click()
    db.session.expire_all()
    assert db.session.get(Attachment, row_id) is not None
    page.get_by_role("button", name=name).click()
    with page.expect_navigation():
        dialog.get_by_role("button", name=name).click()
    assert "is marked as lost" in page.locator(".flashes").inner_text()
    db.session.expire_all()
    assert db.session.get(Attachment, row_id) is None
    context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1280"])
def test_failures_show_up_live_and_failed_runs_look_failed(browser, live_server, admin_user, document, viewport):
    from sqlalchemy import update

    from portal.extensions import db
    from portal.migration.models import MigrationRun

    first = _run(
        status="completed", items_total=40, items_done=38, items_failed=2, bytes_total=10**8, bytes_done=9 * 10**7
    )
    _missing_row(first, "Zeugnis_Müller.pdf", document)
    _missing_row(first, "Scan_Unterschrift_Geschäftsführung.pdf", document)
    retry = _run(
        status="failed",
        retry_of=first.id,
        items_total=2,
        items_failed=2,
        bytes_total=2 * 48_213,
        message="all 2 file(s) failed, nothing was moved",
    )
    for name in ("Zeugnis_Müller.pdf", "Scan_Unterschrift_Geschäftsführung.pdf"):
        _failed_again(retry, name)
    active = _run(status="running", active=1, items_total=300, items_done=120, bytes_total=10**9, bytes_done=4 * 10**8)
    context, page = _signed_in(browser, live_server, admin_user.email, viewport)
    page.goto(f"{live_server}/admin/storage")
    history = page.locator("#run-history").inner_text()
    assert "COMPLETED WITH 2 FAILURES" in history and "FAILED" in history
    _fits(page, viewport["width"])
    _shot(page, f"storage-{viewport['width']}")
    page.goto(f"{live_server}/admin/storage/runs/{retry.id}")
    assert page.locator("[data-field=state]").inner_text() == "FAILED"
    assert page.locator("#run-failures tr", has_text="Zeugnis_Müller.pdf").count() == 1
    _fits(page, viewport["width"])
    _shot(page, f"run-failed-{viewport['width']}")

    page.goto(f"{live_server}/admin/storage/runs/{active.id}")
    assert page.locator("[data-failures-empty]").inner_text() == "None so far."
    page.evaluate("window.__sameDocument = true")
    _missing_row(active, "Lieferantenliste.csv", document)  # a worker records a failure
    db.session.execute(update(MigrationRun).where(MigrationRun.id == active.id).values(items_failed=1))
    db.session.commit()
    page.locator("#run-failures a", has_text="Lieferantenliste.csv").wait_for()
    assert page.locator("[data-failures-empty]").is_hidden()
    assert page.locator("[data-field=failed]").inner_text() == "1"
    assert page.evaluate("window.__sameDocument === true")  # shown without a reload
    link = page.locator("#run-failures a", has_text="Lieferantenliste.csv")
    assert link.get_attribute("href") == f"/documents/{document.id}"
    _fits(page, viewport["width"])
    _shot(page, f"run-live-failures-{viewport['width']}")
    context.close()


def test_purging_the_expired_trash_asks_with_its_numbers(browser, live_server, admin_user, document):
    import io

    from portal.extensions import db, storage
    from portal.models import Attachment

    old = datetime.now(UTC) - timedelta(days=40)
    for name in ("Rechnung 2024-001.pdf", "Rechnung 2024-002.pdf"):
        key = f"attachments/2026/10/{name}"
        stored = storage.default.save(key, io.BytesIO(b"%PDF-1.4 old"), content_type="application/pdf")
        db.session.add(
            Attachment(
                document_id=document.id,
                filename=name,
                content_type="application/pdf",
                size=stored.size,
                sha256=stored.sha256,
                storage_path=key,
                storage_type="local",
                deleted_at=old,
                deleted_by=admin_user.id,
            )
        )
    db.session.commit()

    def left() -> int:
        db.session.expire_all()
        return db.session.query(Attachment).count()

    context, page = _signed_in(browser, live_server, admin_user.email, PHONE)
    page.goto(f"{live_server}/admin/storage")
    button = page.get_by_role("button", name="Remove the expired trash for good")
    button.click()
    dialog = page.locator("#confirm-dialog")
    assert "Remove 2 attachments (" in dialog.inner_text()
    _fits(page, PHONE["width"])
    _shot(page, "confirm-purge-trash-390")
    dialog.get_by_role("button", name="Cancel").click()
    assert left() == 2
    button.click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Remove the expired trash for good").click()
    assert "Removed 2 attachments (" in page.locator(".flashes").inner_text()
    assert left() == 0
    context.close()
