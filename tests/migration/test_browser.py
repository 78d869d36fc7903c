"""In Chromium: an admin starts a migration on the dashboard and watches the bar reach 100% without reloading."""

from __future__ import annotations

import pytest

from tests.migration.factory import many_legacy
from tests.support.accounts import PASSWORD
from tests.support.browser import in_chromium, sign_in
from tests.support.migration import s3_config

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(tmp_path, s3_server, bucket_name):
    return {**s3_config(tmp_path, s3_server, bucket_name), "WTF_CSRF_ENABLED": True}


def test_admin_starts_a_run_and_watches_it_reach_100_percent(live_server, admin_user, files, store):  # noqa: F811
    many_legacy(files, 80, 8192)
    email = admin_user.email  # read here: the browser's thread has no app context

    def scenario(page) -> None:
        from playwright.sync_api import Error as PlaywrightError

        sign_in(page, live_server, email, PASSWORD)
        page.goto(f"{live_server}/admin/storage")
        assert "LOCAL DISK (OLDER FILES)\t80" in page.locator("#storage-stats").inner_text()
        page.fill("input[name=batch_size]", "5")
        page.fill("input[name=workers]", "2")
        page.click("form[action$='/admin/storage/runs'] button[type=submit]")
        page.wait_for_url("**/admin/storage/runs/*")
        assert "started: 80 file(s) to move" in page.locator(".flashes").inner_text()
        page.evaluate("window.__sameDocument = true")  # gone if the page reloads
        seen = set()
        for _ in range(600):
            seen.add(page.locator("[data-field=percent]").inner_text())
            if "100%" in seen:
                break
            page.wait_for_timeout(100)
        assert "100%" in seen and len(seen) >= 2, seen  # it started lower and moved up on the page
        assert page.evaluate("window.__sameDocument === true")  # the bar moved without a reload
        assert page.locator("[data-field=handled]").inner_text() == "80"
        # The last item's count can reach the page a poll before the run's own end does.
        state = None
        for _ in range(100):
            try:
                state = page.locator("[data-field=state]").text_content()
            except PlaywrightError:  # read while the finished run's page was being reloaded
                pass
            if state == "Completed":
                break
            page.wait_for_timeout(100)
        assert state == "Completed"
        assert page.locator(".progress").get_attribute("aria-valuenow") == "100"
        reloaded = False
        for _ in range(100):  # the one reload that shows the summary (the page's CSP forbids wait_for_function)
            try:
                reloaded = page.evaluate("window.__sameDocument") is None
            except PlaywrightError:  # evaluated while the page was being replaced
                pass
            if reloaded:
                break
            page.wait_for_timeout(100)
        assert reloaded
        page.wait_for_load_state()
        assert (
            page.locator("#run-failures").is_hidden() and page.locator("[data-failures-empty]").inner_text() == "None."
        )
        page.goto(f"{live_server}/admin/storage")
        assert "S3 OBJECT STORE\t80" in page.locator("#storage-stats").inner_text()
        assert "COMPLETED\t80 / 80\t0" in page.locator("#run-history").inner_text()

    in_chromium(scenario)
