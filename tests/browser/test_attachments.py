"""A real browser: create a document with staged files, upload another, download each, delete one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.accounts import PASSWORD
from tests.support.browser import sign_in
from tests.support.files import PDF, PNG

pytestmark = pytest.mark.browser

TEXT = b"Minutes of the meeting\n" * 50


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_staged_files_upload_download_and_delete_in_chromium(live_server, page, staff_user, admin_user, tmp_path):
    originals = {"scan.png": PNG, "report.pdf": PDF, "minutes.txt": TEXT}
    for name, content in originals.items():
        (tmp_path / name).write_bytes(content)

    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.click("text=New document")
    page.fill("input[name=title]", "Board meeting")
    page.set_input_files("#files", [str(tmp_path / "scan.png"), str(tmp_path / "report.pdf")])
    page.wait_for_selector("#staged-list li.done >> nth=1")
    assert page.locator("#staged-list input[name=staged_ids]").count() == 2
    page.click("button:has-text('Save')")
    page.wait_for_url(f"{live_server}/documents/*")
    assert "“Board meeting” was created with 2 attachments." in page.locator(".flashes").inner_text()
    assert page.locator("table.attachments a.download").count() == 2

    page.set_input_files("#files", str(tmp_path / "minutes.txt"))
    with page.expect_navigation():
        page.click("#upload-button")
    links = page.locator("table.attachments a.download")
    assert sorted(links.all_inner_texts()) == ["minutes.txt", "report.pdf", "scan.png"]

    for index in range(links.count()):
        name = links.nth(index).inner_text()
        with page.expect_download() as info:
            links.nth(index).click()
        download = info.value
        assert download.suggested_filename == name
        assert Path(download.path()).read_bytes() == originals[name]

    page.get_by_role("link", name="Delete scan.png").click()
    with page.expect_navigation():
        page.locator("#confirm-dialog").get_by_role("button", name="Delete scan.png").click()
    assert "Deleted scan.png." in page.locator(".flashes").inner_text()
    assert sorted(page.locator("table.attachments a.download").all_inner_texts()) == ["minutes.txt", "report.pdf"]


def test_too_large_file_is_refused_in_the_browser(live_server, page, app, staff_user, admin_user, tmp_path):
    from portal.extensions import db
    from portal.models import Document

    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    document = Document(title="Small files only", created_by=staff_user.id)
    db.session.add(document)
    db.session.commit()
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * 200_000)
    sign_in(page, live_server, staff_user.email, PASSWORD)
    page.wait_for_url(live_server + "/")
    page.goto(f"{live_server}/documents/{document.id}")
    page.set_input_files("#files", str(big))
    page.click("#upload-button")
    message = page.locator("#upload-list .message")
    message.wait_for()
    assert "larger than the limit" in message.inner_text()
    assert page.locator("table.attachments").count() == 0


class TestOnS3:
    @pytest.fixture
    def app_config(self, s3_app_config):
        return {**s3_app_config, "WTF_CSRF_ENABLED": True}

    def test_the_pages_script_streams_a_large_file_in_one_put(
        self, live_server, page, app, staff_user, admin_user, tmp_path
    ):
        import os

        from portal.extensions import db, storage
        from portal.models import Document

        storage.default.ensure_ready()
        sent: list[str] = []
        for purpose in ("main", "stream"):
            storage.default._client(purpose).meta.events.register(
                "before-call.s3", lambda model, **kwargs: sent.append(model.name)
            )
        document = Document(title="Scans", created_by=staff_user.id)
        db.session.add(document)
        db.session.commit()
        content = b"%PDF-1.7\n" + os.urandom(6 * 1024 * 1024)  # above the 5 MiB multipart threshold
        (tmp_path / "scan.pdf").write_bytes(content)

        sign_in(page, live_server, staff_user.email, PASSWORD)
        page.wait_for_url(live_server + "/")
        page.goto(f"{live_server}/documents/{document.id}")
        page.set_input_files("#files", str(tmp_path / "scan.pdf"))
        with page.expect_navigation():
            page.click("#upload-button")
        assert "PutObject" in sent and "CreateMultipartUpload" not in sent
        with page.expect_download() as info:
            page.locator("table.attachments a.download").first.click()
        assert Path(info.value.path()).read_bytes() == content
