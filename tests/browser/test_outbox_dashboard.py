"""The storage dashboard's owed deletions fit a phone and a desktop. With PORTAL_SCREENSHOTS=<folder> the page
is also saved there, at each width, to look at."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from portal.cleanup.outbox import record
from portal.extensions import db
from tests.support.accounts import PASSWORD
from tests.support.browser import MEASURE, sign_in

pytestmark = pytest.mark.browser

SCREENSHOTS = os.environ.get("PORTAL_SCREENSHOTS")


@pytest.mark.parametrize("width", [390, 1280])
def test_owed_deletions_fit_the_page(app, admin_user, live_server, page, width):
    with db.engine.begin() as conn:
        for n in range(7):
            record(
                conn,
                "s3",
                f"attachments/2026/11/{n:02d}3f2a9c1e7b5d4f6a8c0e2b4d6f8a1c3e",
                "purged",
                "StorageUnavailable: the store is unavailable (503 Service Unavailable); try again later",
                attempts=n,
                now=datetime.now(UTC) - timedelta(hours=30 - n),
            )
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, admin_user.email, PASSWORD)
    page.goto(f"{live_server}/admin/storage")
    section = page.locator("#owed-deletions")
    assert "7 object deletions" in section.inner_text()
    assert section.locator("#owed-oldest tbody tr").count() == 5
    measured = page.evaluate(MEASURE)
    assert measured["scrollWidth"] <= measured["innerWidth"] and measured["wide"] == [], measured
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        section.screenshot(path=str(Path(SCREENSHOTS) / f"owed-deletions-{width}.png"))
