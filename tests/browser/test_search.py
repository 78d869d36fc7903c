"""Finding a document from the search box and the filters, as staff do it in Chromium."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import Attachment, Document
from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


@pytest.fixture
def letters(app, staff_user):
    for title, filename, mime in (
        ("Müller & Söhne", "angebot.pdf", "application/pdf"),
        ("Bank", "Überweisung März.pdf", "application/pdf"),
        ("Baustelle", "foto.jpg", "image/jpeg"),
    ):
        document = Document(title=title, created_by=staff_user.id)
        db.session.add(document)
        db.session.flush()
        db.session.add(
            Attachment(
                document_id=document.id,
                filename=filename,
                content_type=mime,
                size=1,
                storage_path=f"attachments/{document.id}",
                uploaded_by=staff_user.id,
            )
        )
    db.session.commit()


def listed(page) -> list[str]:
    return page.locator("table.documents tbody td:first-child a").all_text_contents()


@pytest.mark.parametrize("width", [390, 1280])
def test_search_box_and_filters_find_the_document(browser, live_server, staff_user, letters, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, staff_user.email, PASSWORD)
        page.wait_for_url(live_server + "/")
        page.fill("input[name=q]", "muller")
        page.press("input[name=q]", "Enter")
        page.wait_for_url("**/?q=muller*")
        assert listed(page) == ["Müller & Söhne"]
        page.fill("input[name=q]", "uberweisung")
        page.press("input[name=q]", "Enter")
        page.wait_for_url("**/?q=uberweisung*")
        assert listed(page) == ["Bank"]

        page.goto(live_server + "/")
        page.click("details.filters summary")
        page.select_option("select[name=type]", "image")
        page.click("details.filters button[type=submit]")
        page.wait_for_url("**type=image*")
        assert listed(page) == ["Baustelle"]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
