"""The account pages in Chromium at a phone's width and a desktop's: nothing scrolls sideways."""

from __future__ import annotations

import os

import pytest

from portal import audit
from portal.auth.resets import issue_reset_link
from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

WIDTHS = (390, 1280)
# Set SCREENSHOTS=DIR to keep a picture of every page at every width.
SCREENSHOTS = os.environ.get("SCREENSHOTS", "")


@pytest.fixture
def busy_trail(admin_user, staff_user):
    """Events with long values, as a real trail has."""
    audit.record("auth.login", outcome="failure", email="someone.with.a.rather.long.address@subdomain.example.com")
    audit.record(
        "user.update",
        user=admin_user,
        object_type="user",
        object_id=staff_user.id,
        detail={"email": ["staff@example.com", "sam.staff.renamed.for.a.long.time@example.com"]},
    )


# The whole page has nothing to scroll sideways, and no box of the page body reaches past the window's edge.
FITS = """() => {
  const main = document.querySelector('main');
  const width = window.innerWidth;
  const wide = [...main.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > width + 0.5);
  return document.documentElement.scrollWidth <= width && main.scrollWidth <= main.clientWidth && wide.length === 0;
}"""


def no_sideways_scroll(page) -> bool:
    return page.evaluate(FITS)


@pytest.mark.parametrize("width", WIDTHS)
def test_account_pages_fit_the_screen(live_server, browser, admin_user, staff_user, busy_trail, width):
    token = issue_reset_link(staff_user, issued_by=admin_user.id, via="admin")
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        sign_in(page, live_server, admin_user.email, PASSWORD)
        page.wait_for_url(live_server + "/")
        pages = {
            "account": "/account",
            "user-edit": f"/admin/users/{staff_user.id}/edit",
            "audit": "/admin/audit",
        }
        for name, path in pages.items():
            page.goto(live_server + path)
            _check(page, name, width)
        page.goto(live_server + f"/admin/users/{staff_user.id}/edit")
        page.click("text=Issue a reset link")
        page.wait_for_selector("#reset-url")
        assert "/reset/" in page.input_value("#reset-url")
        _check(page, "reset-link-issued", width)
        anonymous = browser.new_context(viewport={"width": width, "height": 900}).new_page()
        anonymous.goto(live_server + f"/reset/{token}")
        assert anonymous.locator("h1").inner_text() == "Choose a new password"
        _check(anonymous, "reset", width)
        anonymous.context.close()
    finally:
        context.close()


def _check(page, name: str, width: int) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}-{width}.png"), full_page=True)
    assert no_sideways_scroll(page), f"{name} scrolls sideways at {width} px"
