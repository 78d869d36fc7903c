"""In Chromium: leaving "New document" with something to lose asks first; Cancel removes the staged files."""

from __future__ import annotations

import pytest

from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in
from tests.support.files import PDF

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def _staged_count() -> int:
    from portal.extensions import db
    from portal.models import AttachmentStaging

    db.session.expire_all()
    return db.session.query(AttachmentStaging).count()


def _stage_a_file(page, tmp_path) -> None:
    path = tmp_path / "contract.pdf"
    path.write_bytes(PDF)
    page.set_input_files("#files", str(path))
    page.locator("#staged-list li[data-staging-id]").wait_for()


def test_leaving_with_a_staged_file_asks_and_staying_keeps_it(page, live_server, staff_user, tmp_path):
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/new")
    _stage_a_file(page, tmp_path)
    asked = []

    def answer(dialog):
        asked.append(dialog.type)
        dialog.dismiss()  # "Stay on page"

    page.on("dialog", answer)
    page.get_by_role("link", name="Documents", exact=True).click()
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    assert page.url.endswith("/documents/new")
    assert page.locator("#staged-list li[data-staging-id]").count() == 1
    assert _staged_count() == 1


def test_an_untouched_form_leaves_without_a_question(page, live_server, staff_user):
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/new")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.locator("#title").click()  # a gesture, so the browser would ask if the page wanted it
    page.get_by_role("link", name="Documents", exact=True).click()
    page.wait_for_url(live_server + "/")
    assert asked == []


def test_a_typed_title_is_something_to_lose(page, live_server, staff_user):
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/new")
    page.fill("#title", "Lease 2027")
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.get_by_role("link", name="Documents", exact=True).click()
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and page.url.endswith("/documents/new")


def test_cancel_removes_the_staged_files_without_a_question(page, live_server, staff_user, tmp_path):
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/new")
    page.fill("#title", "Never mind")
    _stage_a_file(page, tmp_path)
    assert _staged_count() == 1
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept()))
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_url(live_server + "/")
    assert asked == []
    assert "Nothing was saved; 1 uploaded file was removed." in page.locator(".flashes").inner_text()
    assert _staged_count() == 0


def test_save_leaves_without_a_question(page, live_server, staff_user, tmp_path):
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/new")
    page.fill("#title", "Kept")
    _stage_a_file(page, tmp_path)
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept()))
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/documents/*")
    assert asked == [] and "contract.pdf" in page.content()
