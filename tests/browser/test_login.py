"""A real browser signs in through the login form."""

from __future__ import annotations

import pytest

from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_staff_signs_in_and_out_in_chromium(live_server, page, staff_user, admin_user):
    page.goto(live_server + "/")
    assert page.url.startswith(live_server + "/auth/login")
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    assert page.locator(".flash-success").inner_text() == "Welcome, Sam Staff."
    assert page.locator(".who .badge").inner_text().lower() == "staff"
    page.click("text=Sign out")
    page.wait_for_url(live_server + "/auth/login")
    assert "You are signed out." in page.locator(".flashes").inner_text()


def test_wrong_password_shows_the_message_in_chromium(live_server, page, staff_user):
    sign_in(page, live_server, staff_user.email, "not the password")
    assert "do not match an active account" in page.locator(".flash-error").inner_text()


def test_first_run_setup_in_chromium(live_server, page):
    page.goto(live_server + "/")
    page.wait_for_url(live_server + "/setup")
    page.fill("input[name=name]", "Ada Admin")
    page.fill("input[name=email]", "ada@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=confirm]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server + "/")
    assert page.locator(".who .badge").inner_text().lower() == "admin"
