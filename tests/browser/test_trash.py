"""A real browser on a phone: delete an attachment and a document (asked first), find them in the trash, restore."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in
from tests.support.files import PDF

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS")
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def document_with_files(app, staff_user):
    from portal.extensions import db, storage
    from portal.models import Attachment, Document

    document = Document(title="Quarterly report", created_by=staff_user.id)
    db.session.add(document)
    for name in ("budget-2025.xlsx", "notes.pdf"):
        key = f"attachments/2026/11/{name}"
        stored = storage.default.save(key, io.BytesIO(PDF), content_type="application/pdf")
        db.session.add(
            Attachment(
                document=document,
                filename=name,
                content_type="application/pdf",
                size=stored.size,
                sha256=stored.sha256,
                storage_path=key,
                storage_type="local",
                uploaded_by=staff_user.id,
            )
        )
    db.session.commit()
    return document.id


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide"


def _shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def test_delete_trash_restore_at_390px(browser, live_server, staff_user, document_with_files):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/{document_with_files}")

    page.get_by_role("link", name="Delete budget-2025.xlsx").click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible() and "Delete budget-2025.xlsx?" in dialog.inner_text()
    _fits(page)
    _shot(page, "dialog-attachment-390")
    dialog.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible()
    assert page.get_by_role("link", name="Delete budget-2025.xlsx").count() == 1  # Cancel changed nothing
    page.get_by_role("link", name="Delete budget-2025.xlsx").click()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Delete budget-2025.xlsx").click()
    assert "Deleted budget-2025.xlsx." in page.locator(".flashes").inner_text()
    assert page.locator("table.attachments a.download").all_inner_texts() == ["notes.pdf"]

    page.get_by_role("link", name="Delete Quarterly report").click()
    assert "Delete “Quarterly report” and its 1 attachment?" in dialog.inner_text()
    with page.expect_navigation():
        dialog.get_by_role("button", name="Delete Quarterly report").click()
    assert "Deleted “Quarterly report” and its 1 attachment." in page.locator(".flashes").inner_text()
    assert page.get_by_role("link", name="Quarterly report").count() == 0

    page.goto(f"{live_server}/trash")
    _fits(page)
    _shot(page, "trash-390")
    if SCREENSHOTS:
        page.set_viewport_size({"width": 1280, "height": 900})
        _shot(page, "trash-1280")
        page.set_viewport_size(PHONE)
    with page.expect_navigation():
        page.get_by_role("button", name="Restore budget-2025.xlsx").click()
    assert (
        "Its document “Quarterly report” was in the trash too and is restored." in page.locator(".flashes").inner_text()
    )
    assert page.get_by_role("button", name="Restore Quarterly report").count() == 0
    page.goto(f"{live_server}/documents/{document_with_files}")
    assert sorted(page.locator("table.attachments a.download").all_inner_texts()) == ["budget-2025.xlsx", "notes.pdf"]
    context.close()


def test_without_script_the_delete_link_leads_to_a_confirmation_page(
    browser, live_server, staff_user, document_with_files
):
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(15000)
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/{document_with_files}")
    page.get_by_role("link", name="Delete Quarterly report").click()
    page.wait_for_url(f"{live_server}/documents/{document_with_files}/delete")
    assert "Delete “Quarterly report” and its 2 attachments?" in page.locator("h1").inner_text()
    assert "They go to the trash for 30 days" in page.locator("main").inner_text()
    _fits(page)
    _shot(page, "confirm-390")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{live_server}/documents/{document_with_files}")
    page.get_by_role("link", name="Delete Quarterly report").click()
    with page.expect_navigation():
        page.get_by_role("button", name="Delete Quarterly report").click()
    assert "Deleted “Quarterly report” and its 2 attachments." in page.locator(".flashes").inner_text()
    context.close()
