"""Every page fits a phone (360 and 390 px wide) and a desktop without sideways scrolling; the menu works
without script. With PORTAL_SCREENSHOTS=<folder> each page is also saved there, at each width, to look at."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.browser.office import furnish_office
from tests.support.accounts import PASSWORD
from tests.support.browser import MEASURE, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS")


@pytest.fixture
def app_config():
    # An object store is configured (never contacted) so the dashboard shows its run form.
    return {
        "WTF_CSRF_ENABLED": True,
        "S3_BUCKET": "office",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "S3_ACCESS_KEY": "AKIALAYOUTTEST",
        "S3_SECRET_KEY": "layout-test-secret",
    }


@pytest.fixture
def office(app):
    return furnish_office()


def dry_run(page) -> None:
    """The dry-run report: the run form posted with "Dry run" ticked (its button is disabled while a run is active)."""
    page.check("input[name=dry_run]")
    with page.expect_navigation():
        page.evaluate("document.querySelector('form.run-form').requestSubmit()")


def pages_of(office) -> dict[str, list[tuple]]:
    """The pages to look at, by who looks: (name, path) or (name, path, what to do there)."""
    document = f"/documents/{office.busy_document_id}"
    return {
        "": [("login", "/auth/login")],
        office.admin_email: [
            ("documents", "/"),
            ("documents-page-2", "/?page=2"),
            ("new-document", "/documents/new"),
            ("document", document),
            ("edit", f"{document}/edit"),
            ("users", "/admin/users"),
            ("storage", "/admin/storage"),
            ("run", f"/admin/storage/runs/{office.run_id}"),
            ("running-run", f"/admin/storage/runs/{office.run_id + 2}"),
            ("missing-files", "/admin/storage/missing"),
            ("dry-run", "/admin/storage", dry_run),
            ("not-found", "/no/such/page"),
            ("trash", "/trash"),
            ("confirm-delete", f"{document}/delete"),
        ],
        office.staff_email: [("document-staff", document), ("forbidden", "/admin/users")],
    }


def visit_every_page(browser, live_server, office, width: int, **context_options) -> list[str]:
    """Open each page at ``width``; returns what does not fit (empty when all is well)."""
    problems = []
    for email, pages in pages_of(office).items():
        context = browser.new_context(viewport={"width": width, "height": 900}, **context_options)
        page = context.new_page()
        page.set_default_timeout(15000)
        if email:
            sign_in(page, live_server, email, PASSWORD)
            page.wait_for_url(live_server + "/")
        for name, path, *action in pages:
            page.goto(live_server + path)
            if action and context_options.get("java_script_enabled", True):
                action[0](page)
            measured = page.evaluate(MEASURE)
            if measured["scrollWidth"] > measured["innerWidth"]:
                problems.append(f"{name} at {width}px is {measured['scrollWidth']}px wide")
            problems.extend(f"{name} at {width}px: {what} sticks out" for what in measured["wide"])
            problems.extend(f"{name} at {width}px: the date {text!r} wraps" for text in measured["wrapped"])
            if SCREENSHOTS:
                folder = Path(SCREENSHOTS)
                folder.mkdir(parents=True, exist_ok=True)
                height = page.evaluate("document.documentElement.scrollHeight")
                for part, top in enumerate(range(0, height, 1400)):
                    page.screenshot(
                        path=str(folder / f"{name}-{width}-{part}.png"),
                        full_page=True,
                        clip={"x": 0, "y": top, "width": width, "height": min(1400, height - top)},
                    )
        context.close()
    return problems


@pytest.mark.parametrize("width", [360, 390])
def test_every_page_fits_a_phone(browser, live_server, office, width):
    assert visit_every_page(browser, live_server, office, width) == []


@pytest.mark.parametrize("width", [768, 1024, 1280])
def test_every_page_fits_a_tablet_and_a_desktop_and_no_date_wraps(browser, live_server, office, width):
    assert visit_every_page(browser, live_server, office, width) == []


def test_every_page_fits_a_phone_without_script(browser, live_server, office):
    assert visit_every_page(browser, live_server, office, 360, java_script_enabled=False) == []


def test_the_phone_menu_opens_and_signs_out_without_script(browser, live_server, office):
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server, office.admin_email, PASSWORD)
    page.wait_for_url(live_server + "/")
    sign_out = page.get_by_role("button", name="Sign out")
    assert not sign_out.is_visible() and not page.get_by_role("link", name="Storage").is_visible()
    page.click("label.menu-button")
    assert page.get_by_role("link", name="Storage").is_visible()
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "menu-open-390.png"))
    box = sign_out.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    with page.expect_navigation():
        sign_out.click()
    assert page.url.startswith(live_server + "/auth/login")
    assert "You are signed out." in page.locator(".flashes").inner_text()
    context.close()


def test_the_desktop_shows_the_menu_without_a_button(browser, live_server, office):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, live_server, office.admin_email, PASSWORD)
    page.wait_for_url(live_server + "/")
    assert not page.locator("label.menu-button").is_visible()
    assert (
        page.get_by_role("link", name="Storage").is_visible()
        and page.get_by_role("button", name="Sign out").is_visible()
    )
    for _ in range(3):  # the skip link, the brand, then straight to the first link: no hidden toggle in between
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Documents"
    context.close()


def test_the_skip_link_comes_first_and_the_favicon_is_served(page, live_server, office):
    sign_in(page, live_server, office.staff_email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    icon = page.request.get(live_server + page.locator("link[rel=icon]").get_attribute("href"))
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_the_keyboard_reaches_and_opens_the_phone_menu(browser, live_server, office):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, live_server, office.staff_email, PASSWORD)
    page.wait_for_url(live_server + "/")
    focused = []
    for _ in range(3):  # the skip link, the brand, then the menu
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
    assert focused == ["skip-link", "brand", "menu-toggle"]
    assert not page.get_by_role("button", name="Sign out").is_visible()
    page.keyboard.press("Space")
    assert page.get_by_role("button", name="Sign out").is_visible()
    context.close()
