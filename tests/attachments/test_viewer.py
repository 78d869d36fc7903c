"""The inline viewer and the portal's own type decision: what is shown, what only downloads, and how."""

from __future__ import annotations

import base64
import os

import pytest
import requests

from portal.extensions import db, storage
from portal.storage.disposition import FILE_POLICY, VIEW_POLICY
from portal.storage.keys import write_keypair
from tests.support.apps import fresh
from tests.support.files import PDF, PNG, legacy_row, rows, upload

HTML = b"<!doctype html><script>window.pwned = 1</script><p>hi</p>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
# A valid PNG signature followed by markup: a browser sniffing it could take it for HTML.
POLYGLOT = PNG + b"<html><script>alert(document.domain)</script></html>"
TEXT = "Minutes — Straße\n".encode() * 20


def only(name: str):
    (row,) = [row for row in rows()[0] if row.filename == name]
    return row


def assert_inline(response, served: str) -> None:
    assert response.status_code == 200
    assert response.headers["Content-Type"] == served
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert response.headers["Content-Security-Policy"] == VIEW_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def fetched(client, path: str, **kwargs):
    """GET ``path`` with the whole body read and the response closed (file answers hold the file open)."""
    response = client.get(path, **kwargs)
    response.get_data()
    response.close()
    return response


def follow(client, response):
    """GET the signed /files/<token> link a view or download redirected to."""
    assert response.status_code == 302
    return fetched(client, response.headers["Location"])


@pytest.mark.parametrize(
    "name, content, served",
    [
        ("report.pdf", PDF, "application/pdf"),
        ("scan.png", PNG, "image/png"),
        ("photo.JPG", b"\xff\xd8\xff\xe0" + bytes(300), "image/jpeg"),
        ("anim.gif", b"GIF89a" + bytes(100), "image/gif"),
        ("pic.webp", b"RIFF\x00\x01\x00\x00WEBPVP8 " + bytes(100), "image/webp"),
        ("minutes.txt", TEXT, "text/plain; charset=utf-8"),
    ],
)
def test_viewable_files_open_inline_with_the_view_policy(staff_client, document, name, content, served):
    assert upload(staff_client, document.id, (name, content)).status_code == 302
    row = only(name)
    assert row.content_type == served.split(";")[0]
    answer = follow(staff_client, staff_client.get(f"/attachments/{row.id}/view"))
    assert_inline(answer, served)
    assert answer.get_data() == content


@pytest.mark.parametrize(
    "name, content",
    [
        ("page.html", HTML),
        ("drawing.svg", SVG),
        ("feed.xml", b"<?xml version='1.0'?><a/>"),
        ("app.js", b"window.pwned = 1;"),
        ("sheet.docx", b"PK\x03\x04" + bytes(100)),
    ],
)
def test_other_files_only_download_as_passive_types(staff_client, document, name, content):
    upload(staff_client, document.id, (name, content))
    row = only(name)
    view = staff_client.get(f"/attachments/{row.id}/view")
    assert view.status_code == 302 and view.headers["Location"].endswith(f"/attachments/{row.id}/download")
    answer = follow(staff_client, staff_client.get(f"/attachments/{row.id}/download"))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] in (
        "application/octet-stream",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["Content-Security-Policy"] == FILE_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_file_whose_bytes_do_not_match_its_name_is_not_viewed(staff_client, document):
    upload(staff_client, document.id, ("fake.png", HTML), ("fake.pdf", b"not a pdf at all"))
    for name in ("fake.png", "fake.pdf"):
        row = only(name)
        assert row.content_type == "application/octet-stream"
        view = staff_client.get(f"/attachments/{row.id}/view")
        assert view.status_code == 302 and "/download" in view.headers["Location"]
        download = follow(staff_client, staff_client.get(f"/attachments/{row.id}/download"))
        assert download.headers["Content-Type"] == "application/octet-stream"


def test_a_row_recorded_with_the_uploaders_type_is_checked_again_when_viewed(app, staff_client, document, tmp_path):
    """Rows from before the portal decided types: the recorded type is not trusted, the bytes are read."""
    app.config["LEGACY_FILES_ROOT"] = str(tmp_path / "legacy")
    lying = legacy_row(document, tmp_path / "legacy", "old/notes.png", HTML)
    lying.content_type = "text/html"
    honest = legacy_row(document, tmp_path / "legacy", "old/scan.pdf", PDF)
    db.session.commit()
    view = staff_client.get(f"/attachments/{lying.id}/view")
    assert view.status_code == 302 and "/download" in view.headers["Location"]
    download = fetched(staff_client, f"/attachments/{lying.id}/download")
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Security-Policy"] == FILE_POLICY
    assert_inline(fetched(staff_client, f"/attachments/{honest.id}/view"), "application/pdf")


def test_a_polyglot_uploaded_under_an_allow_list_is_never_html(app, staff_client, document):
    app.config["ALLOWED_EXTENSIONS"] = frozenset({"pdf", "png"})
    refused = upload(staff_client, document.id, ("poly.html", POLYGLOT), json=True)
    assert refused.status_code == 400
    assert upload(staff_client, document.id, ("poly.png", POLYGLOT)).status_code == 302
    row = only("poly.png")
    assert row.content_type == "image/png"
    for path in (f"/attachments/{row.id}/view", f"/attachments/{row.id}/download"):
        answer = follow(staff_client, staff_client.get(path))
        assert answer.headers["Content-Type"] == "image/png"
        assert "sandbox" in answer.headers["Content-Security-Policy"]
        assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("filename", ["poly.png", "poly.html", "poly"])
def test_base64_staging_declared_as_html_is_never_served_as_html(staff_client, filename):
    response = staff_client.post(
        "/staging/base64",
        query_string={"filename": filename, "content_type": "text/html"},
        data=base64.b64encode(POLYGLOT),
        content_type="text/plain",
    )
    assert response.status_code == 201
    recorded = response.get_json()["files"][0]["content_type"]
    assert recorded == ("application/octet-stream" if filename == "poly.html" else "image/png")
    staged_id = response.get_json()["files"][0]["id"]
    staff_client.post("/documents/new", data={"title": "Pasted", "staged_ids": [str(staged_id)]})
    (row,), _ = rows()
    for path in (f"/attachments/{row.id}/view", f"/attachments/{row.id}/download"):
        answer = fetched(staff_client, path, follow_redirects=True)
        assert answer.status_code == 200 and answer.get_data() == POLYGLOT
        assert "html" not in answer.headers["Content-Type"]


def test_a_data_url_declaring_html_is_recorded_by_its_bytes(staff_client):
    body = "data:text/html;base64," + base64.b64encode(POLYGLOT).decode()
    response = staff_client.post("/staging/base64?filename=clip", data=body, content_type="text/plain")
    assert response.get_json()["files"][0]["content_type"] == "image/png"


def test_signed_file_links_carry_the_sandbox_and_cannot_be_made_inline_for_html(app, staff_client, document):
    upload(staff_client, document.id, ("page.html", HTML))
    row = only("page.html")
    with app.test_request_context():
        forged = storage.default.url(
            row.storage_path, filename="page.html", content_type="text/html", disposition="inline"
        )
    answer = fetched(staff_client, forged)
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["Content-Security-Policy"] == FILE_POLICY
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_view_needs_a_login(app, staff_client, document):
    upload(staff_client, document.id, ("scan.png", PNG))
    row = only("scan.png")
    response = fresh(app.test_client(), f"/attachments/{row.id}/view")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_view_of_a_missing_attachment_is_404(staff_client):
    assert staff_client.get("/attachments/999/view").status_code == 404


def test_view_of_an_empty_or_vanished_object(staff_client, document):
    upload(staff_client, document.id, ("scan.png", PNG))
    row = only("scan.png")
    storage.default.delete(row.storage_path)
    gone = staff_client.get(f"/attachments/{row.id}/view")
    assert gone.status_code == 404


def test_the_document_page_offers_view_only_for_viewable_files(staff_client, document):
    upload(staff_client, document.id, ("scan.png", PNG), ("page.html", HTML))
    page = staff_client.get(f"/documents/{document.id}").get_data(as_text=True)
    assert f'href="/attachments/{only("scan.png").id}/view"' in page
    assert f"/attachments/{only('page.html').id}/view" not in page


class TestEncrypted:
    @pytest.fixture
    def app_config(self, tmp_path):
        key_id = write_keypair(tmp_path / "keys")
        return {
            "STORAGE_ENCRYPTION": "hybrid",
            "STORAGE_ENCRYPTION_PUBLIC_KEY": str(tmp_path / "keys" / f"{key_id}.pub.pem"),
            "STORAGE_ENCRYPTION_PRIVATE_KEYS": [str(tmp_path / "keys" / f"{key_id}.key.pem")],
        }

    def test_encrypted_pdf_views_through_the_portal_with_range(self, staff_client, document):
        big = PDF + os.urandom(150_000)
        upload(staff_client, document.id, ("big.pdf", big), ("page.html", HTML))
        row = only("big.pdf")
        assert row.encryption
        whole = fetched(staff_client, f"/attachments/{row.id}/view")
        assert_inline(whole, "application/pdf")
        assert whole.get_data() == big
        part = fetched(staff_client, f"/attachments/{row.id}/view", headers={"Range": "bytes=70000-90000"})
        assert part.status_code == 206 and part.get_data() == big[70000:90001]
        assert part.headers["Content-Security-Policy"] == VIEW_POLICY
        html = only("page.html")
        assert "/download" in staff_client.get(f"/attachments/{html.id}/view").headers["Location"]
        download = fetched(staff_client, f"/attachments/{html.id}/download")
        assert download.headers["Content-Type"] == "application/octet-stream"
        assert download.headers["Content-Security-Policy"] == FILE_POLICY


class TestS3:
    @pytest.fixture
    def app_config(self, s3_app_config):
        return s3_app_config

    @pytest.fixture(autouse=True)
    def bucket(self, app):
        storage.default.ensure_ready()

    def test_presigned_view_and_download_name_the_portals_type(self, staff_client, document):
        upload(staff_client, document.id, ("scan.png", PNG), ("page.html", HTML), ("poly.png", POLYGLOT))
        view = staff_client.get(f"/attachments/{only('scan.png').id}/view")
        assert view.status_code == 302 and "response-content-type=image%2Fpng" in view.headers["Location"]
        fetched = requests.get(view.headers["Location"], timeout=30)
        assert fetched.status_code == 200 and fetched.content == PNG
        assert fetched.headers["Content-Type"] == "image/png"
        assert fetched.headers["Content-Disposition"].startswith("inline;")
        html = only("page.html")
        assert "/download" in staff_client.get(f"/attachments/{html.id}/view").headers["Location"]
        for row in (html, only("poly.png")):
            link = staff_client.get(f"/attachments/{row.id}/download").headers["Location"]
            fetched = requests.get(link, timeout=30)
            assert "html" not in fetched.headers["Content-Type"]
            assert fetched.headers["Content-Disposition"].startswith("attachment;")
        assert requests.get(link, timeout=30).headers["Content-Type"] == "image/png"
