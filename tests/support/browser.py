"""Browser tests: the portal on a real HTTP port, Debian's Chromium driven by Playwright, signing in through the
real form. Loaded as a plugin by tests/conftest.py, so any suite's browser test has these fixtures."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def sign_in(page, base_url: str, email: str, password: str) -> None:
    """Sign in through the real login form."""
    page.goto(f"{base_url}/auth/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def pytest_collection_modifyitems(config, items):
    """Skip browser tests with a visible reason where Chromium is absent, unless REQUIRE_BROWSER=1."""
    if CHROMIUM:
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise pytest.UsageError("REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)")
    skip = pytest.mark.skip(reason="Chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def live_server(app):
    """The test app served over real HTTP on 127.0.0.1 in a background thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, tmp_path):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def in_chromium(scenario) -> None:
    """Run ``scenario(page)`` in a Chromium of its own, on a thread of its own: Playwright's sync API
    refuses to start where tests/browser's session-wide Playwright already runs its loop."""
    if CHROMIUM is None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail("REQUIRE_BROWSER=1 but no chromium is installed (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    outcome: dict = {}

    def run() -> None:
        from playwright.sync_api import sync_playwright

        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
                try:
                    page = browser.new_context().new_page()
                    page.set_default_timeout(15000)
                    scenario(page)
                finally:
                    browser.close()
        except BaseException as exc:  # handed to the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="chromium")
    thread.start()
    thread.join(timeout=240)
    assert not thread.is_alive(), "the browser scenario did not finish"
    if "error" in outcome:
        raise outcome["error"]


# Each element that may stick out of the page or its card, the dates that wrap: what the page measures.
MEASURE = """() => {
  const root = document.documentElement;
  const wide = [...document.querySelectorAll('.card, .table, main')]
    .filter((el) => el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.tagName.toLowerCase() + '.' + el.className + ' ' + el.scrollWidth + '>' + el.clientWidth);
  const wrapped = [...document.querySelectorAll('time')].filter((el) => el.getClientRects().length > 1)
    .map((el) => el.textContent);
  return {scrollWidth: root.scrollWidth, innerWidth: window.innerWidth, wide: wide, wrapped: wrapped};
}"""
