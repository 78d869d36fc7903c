"""In Chromium: an admin picks a source and a target store on the dashboard and moves every file from S3 to MinIO."""

from __future__ import annotations

import os

import pytest

from tests.migration.factory import many_legacy
from tests.support.accounts import PASSWORD
from tests.support.browser import in_chromium, sign_in
from tests.support.migration import minio_settings, s3_config

pytestmark = [pytest.mark.browser, pytest.mark.moto]


@pytest.fixture
def app_config(tmp_path, s3_server, bucket_name, second_moto_endpoint):  # noqa: F811
    return {
        **s3_config(tmp_path, s3_server, bucket_name),
        **minio_settings(s3_server, second_moto_endpoint),
        "WTF_CSRF_ENABLED": True,
    }


def test_admin_moves_files_from_s3_to_minio(live_server, admin_user, app, stores, tmp_path):  # noqa: F811
    from tests.migration.factory import Files

    many_legacy(Files(app), 30, 4096)
    moved = app.test_cli_runner().invoke(args=["storage", "migrate", "s3"])
    assert moved.exit_code == 0, moved.output
    email = admin_user.email
    shots = os.environ.get("SCREENSHOTS_DIR") or str(tmp_path)

    def scenario(page) -> None:
        sign_in(page, live_server, email, PASSWORD)
        page.goto(f"{live_server}/admin/storage")
        source = page.locator("select[name=source]")
        assert "S3: 30 files, 120 KiB" in source.inner_text() and "MinIO: 0 files" in source.inner_text()
        for width in (390, 1280):
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=f"{shots}/storage-pickers-{width}.png", full_page=True)
        page.select_option("select[name=source]", "s3")
        page.select_option("select[name=target]", "minio")
        page.click("form[action$='/admin/storage/runs'] button[type=submit]")
        page.wait_for_url("**/admin/storage/runs/*")
        assert "started: 30 file(s) to move" in page.locator(".flashes").inner_text()
        assert "s3 → minio" in page.locator(".direction").inner_text()
        for _ in range(300):
            page.goto(page.url)
            if page.locator("[data-field=state]").text_content() == "Completed":
                break
            page.wait_for_timeout(200)
        assert page.locator("[data-field=state]").text_content() == "Completed"
        page.goto(f"{live_server}/admin/storage")
        assert "MINIO OBJECT STORE\t30\t120 KiB" in page.locator("#storage-stats").inner_text()
        history = page.locator("#run-history").inner_text()
        assert "Migration s3 → minio" in history and "Migration local → s3" in history
        page.set_viewport_size({"width": 390, "height": 900})
        page.screenshot(path=f"{shots}/storage-history-390.png", full_page=True)

    in_chromium(scenario)
