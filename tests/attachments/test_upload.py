"""Direct upload on a document's page, and the attachments table."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.support.files import PDF, PNG, downloaded, rows, stored_keys, upload


def test_several_files_at_once_are_listed_and_download_intact(staff_client, admin_view, document):
    response = upload(staff_client, document.id, ("scan.png", PNG), ("report.pdf", PDF), follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "2 files saved: scan.png, report.pdf." in page
    for text in ("scan.png", "report.pdf", "1.0 KiB", "image/png", "application/pdf", "Sam Staff"):
        assert text in page
    assert "store-local" in admin_view(f"/documents/{document.id}")
    attachments, staged = rows()
    assert staged == [] and len(attachments) == 2
    by_name = {a.filename: a for a in attachments}
    assert by_name["report.pdf"].sha256 == hashlib.sha256(PDF).hexdigest()
    assert by_name["report.pdf"].size == len(PDF)
    assert downloaded(staff_client, by_name["scan.png"].id) == PNG
    assert downloaded(staff_client, by_name["report.pdf"].id) == PDF
    assert len(stored_keys()) == 2
    assert all(key.startswith("attachments/") and "scan" not in key for key in stored_keys())


def test_scripts_get_json(staff_client, document):
    response = upload(staff_client, document.id, ("a.pdf", PDF), json=True)
    assert response.status_code == 201
    (item,) = response.get_json()["files"]
    assert item["filename"] == "a.pdf" and item["size"] == len(PDF) and item["storage"] == "local"


def test_a_large_file_streams_through(staff_client, document):
    payload = os.urandom(3 * 1024 * 1024 + 17)
    response = upload(staff_client, document.id, ("big.bin", payload), json=True)
    assert response.status_code == 201
    (attachment,), _ = rows()
    assert attachment.sha256 == hashlib.sha256(payload).hexdigest()
    assert downloaded(staff_client, attachment.id) == payload


@pytest.fixture
def app_config():
    return {"ATTACHMENTS_PER_PAGE": 2}


def test_attachments_table_paginates(staff_client, document):
    upload(staff_client, document.id, ("1.pdf", PDF), ("2.pdf", PDF), ("3.pdf", PDF), json=True)
    first = staff_client.get(f"/documents/{document.id}").get_data(as_text=True)
    # Newest first: the last file uploaded is on page 1.
    assert "3.pdf" in first and "1.pdf" not in first and 'rel="next"' in first and "3 attachments" in first
    second = staff_client.get(f"/documents/{document.id}?page=2").get_data(as_text=True)
    assert "1.pdf" in second and "3.pdf" not in second
