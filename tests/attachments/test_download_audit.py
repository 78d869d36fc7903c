"""Downloads and inline views in the audit trail (AUDIT_DOWNLOADS): as an administrator sees them in the CSV export."""

from __future__ import annotations

import json

import pytest

from tests.support.accounts import PASSWORD
from tests.support.apps import fresh
from tests.support.audit import admin_trail
from tests.support.files import PDF, downloaded, legacy_row, rows, upload


@pytest.fixture
def trail(app, admin_user):
    """``trail(event)``: that event's rows in /admin/audit.csv, oldest first, as the administrator downloads them."""
    return admin_trail(app, admin_user.email, PASSWORD)


@pytest.fixture
def attachment(staff_client, document):
    upload(staff_client, document.id, ("report.pdf", PDF))
    return rows()[0][0]


def seen(row: dict) -> tuple:
    return row["user"], row["object_type"], row["object_id"], json.loads(row["detail"])


def test_a_redirected_download_is_recorded_each_time(staff_client, attachment, trail):
    assert downloaded(staff_client, attachment.id) == PDF
    assert downloaded(staff_client, attachment.id) == PDF  # the second answer comes from the link cache
    recorded = trail("attachment.download")
    assert [seen(row) for row in recorded] == [
        ("staff@example.com", "attachment", str(attachment.id), {"filename": "report.pdf", "via": "redirect"})
    ] * 2
    assert {row["outcome"] for row in recorded} == {"success"}


def test_a_legacy_file_is_recorded(app, staff_client, document, trail, tmp_path):
    row = legacy_row(document, tmp_path / "storage", "legacy/old.pdf")
    assert downloaded(staff_client, row.id) == PDF
    assert [seen(r) for r in trail("attachment.download")] == [
        ("staff@example.com", "attachment", str(row.id), {"filename": "old.pdf", "via": "legacy"})
    ]


def test_a_streamed_download_and_its_ranges_are_recorded_but_not_head_or_304(app, staff_client, attachment, trail):
    app.config["DOWNLOAD_MODE"] = "proxy"
    assert downloaded(staff_client, attachment.id) == PDF
    with fresh(staff_client, f"/attachments/{attachment.id}/download", headers={"Range": "bytes=0-3"}) as part:
        assert part.status_code == 206
    assert fresh(staff_client, f"/attachments/{attachment.id}/download", "head").status_code == 200
    etag = attachment.sha256
    unchanged = fresh(staff_client, f"/attachments/{attachment.id}/download", headers={"If-None-Match": f'"{etag}"'})
    assert unchanged.status_code == 304
    assert [seen(row)[3] for row in trail("attachment.download")] == [
        {"filename": "report.pdf", "via": "stream"},
        {"filename": "report.pdf", "via": "stream", "range": "bytes=0-3"},
    ]


def test_an_inline_view_is_recorded_as_a_view(app, staff_client, attachment, trail):
    with fresh(staff_client, f"/attachments/{attachment.id}/view") as response:
        assert response.status_code == 302
    assert [seen(row) for row in trail("attachment.view")] == [
        ("staff@example.com", "attachment", str(attachment.id), {"filename": "report.pdf", "via": "redirect"})
    ]
    assert trail("attachment.download") == []


def test_audit_downloads_off_records_none(app, staff_client, document, attachment, trail, tmp_path):
    app.config["AUDIT_DOWNLOADS"] = "off"
    legacy = legacy_row(document, tmp_path / "storage", "legacy/old.pdf")
    assert downloaded(staff_client, attachment.id) == PDF
    assert downloaded(staff_client, legacy.id) == PDF
    assert fresh(staff_client, f"/attachments/{attachment.id}/view").status_code == 302
    app.config["DOWNLOAD_MODE"] = "proxy"
    assert downloaded(staff_client, attachment.id) == PDF
    assert trail("attachment.download") == [] and trail("attachment.view") == []
