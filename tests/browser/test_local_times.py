"""Times in the viewer's own zone: the same document page in Berlin and in Auckland, and without script."""

from __future__ import annotations

import pytest

from tests.browser.office import furnish_office
from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

SERVER_TEXT = "29 Nov 2026, 20:23 CET"  # office.CREATED in PORTAL_TIMEZONE, as the server writes it


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True, "PORTAL_TIMEZONE": "Europe/Berlin"}


@pytest.fixture
def office(app):
    return furnish_office(attachments=3, documents=2)


def created_time(browser, live_server, office, **context_options) -> dict:
    """The busy document's creation time as one browser shows it: its text, datetime and title."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **context_options)
    page = context.new_page()
    sign_in(page, live_server, office.staff_email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/{office.busy_document_id}")
    shown = page.locator("p.meta time").evaluate(
        "(el) => ({text: el.textContent, datetime: el.getAttribute('datetime'), title: el.title})"
    )
    context.close()
    return shown


def test_berlin_and_auckland_see_their_own_clock(browser, live_server, office):
    berlin = created_time(browser, live_server, office, timezone_id="Europe/Berlin", locale="de-DE")
    auckland = created_time(browser, live_server, office, timezone_id="Pacific/Auckland", locale="en-NZ")
    assert berlin["datetime"] == auckland["datetime"] == "2026-11-29T19:23:00Z"
    assert "20:23" in berlin["text"] and "29" in berlin["text"] and berlin["text"] != SERVER_TEXT
    assert "8:23" in auckland["text"] and "30" in auckland["text"]  # the next morning there
    assert "19:23 UTC" in berlin["title"] and "19:23 UTC" in auckland["title"]


def test_without_script_the_time_is_portal_timezone_and_says_so(browser, live_server, office):
    # The browser is in Auckland; the page still shows PORTAL_TIMEZONE's clock, labelled.
    shown = created_time(browser, live_server, office, timezone_id="Pacific/Auckland", java_script_enabled=False)
    assert shown == {"text": SERVER_TEXT, "datetime": "2026-11-29T19:23:00Z", "title": ""}
