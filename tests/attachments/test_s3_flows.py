"""The same flows with S3 over real HTTP (moto's server): presigned downloads fetched by a plain client."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from portal.extensions import storage
from tests.support.files import PDF, PNG, purge_trash, rows, stage, stored_keys, upload
from tests.support.s3_requests import operations, record_requests


@pytest.fixture
def app_config(s3_app_config):
    return s3_app_config


@pytest.fixture(autouse=True)
def bucket(app):
    storage.default.ensure_ready()


def fetch_presigned(client, attachment_id: int) -> requests.Response:
    response = client.get(f"/attachments/{attachment_id}/download")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
    return requests.get(location, timeout=30)


def test_upload_lists_as_s3_and_presigned_download_matches(staff_client, admin_view, document):
    payload = os.urandom(6 * 1024 * 1024 + 3)
    response = upload(staff_client, document.id, ("Übersicht.pdf", PDF), ("data.bin", payload), json=True)
    assert response.status_code == 201
    assert {item["storage"] for item in response.get_json()["files"]} == {"s3"}
    assert "store-s3" in admin_view(f"/documents/{document.id}")
    by_name = {a.filename: a for a in rows()[0]}
    fetched = fetch_presigned(staff_client, by_name["Übersicht.pdf"].id)
    assert fetched.status_code == 200 and fetched.content == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert fetched.headers["Content-Disposition"] == (
        "attachment; filename=\"Ubersicht.pdf\"; filename*=UTF-8''%C3%9Cbersicht.pdf"
    )
    big = fetch_presigned(staff_client, by_name["data.bin"].id)
    assert hashlib.sha256(big.content).hexdigest() == by_name["data.bin"].sha256


def test_staging_promotes_by_server_side_copy(staff_client):
    ids = [
        stage(staff_client, (name, content)).get_json()["files"][0]["id"]
        for name, content in (("a.pdf", PDF), ("b.png", PNG))
    ]
    staged_keys = stored_keys()
    assert len(staged_keys) == 2 and all(key.startswith("staging/") for key in staged_keys)
    sent = record_requests(storage.default)
    response = staff_client.post("/documents/new", data={"title": "S3 doc", "staged_ids": [str(i) for i in ids]})
    assert response.status_code == 302
    copies = [request for request in sent if request.operation in ("CopyObject", "UploadPartCopy")]
    assert sorted(request.copy_source.split("/", 1)[1].split("?")[0] for request in copies) == staged_keys
    for key in staged_keys:  # the bytes never came down to the portal, nor went back up
        assert "GetObject" not in operations(sent, key)
    assert not {"PutObject", "UploadPart"} & set(operations(sent))
    attachments, staged = rows()
    assert staged == [] and len(attachments) == 2
    assert all(key.startswith("attachments/") for key in stored_keys()) and len(stored_keys()) == 2
    assert {fetch_presigned(staff_client, a.id).content for a in attachments} == {PDF, PNG}


def test_delete_removes_the_object_from_the_bucket(staff_client, document):
    upload(staff_client, document.id, ("a.pdf", PDF))
    (attachment,), _ = rows()
    assert staff_client.post(f"/attachments/{attachment.id}/delete").status_code == 302
    purge_trash()
    assert rows() == ([], []) and stored_keys() == []


def test_proxy_mode_streams_from_the_bucket(app, staff_client, document):
    upload(staff_client, document.id, ("a.pdf", PDF))
    (attachment,), _ = rows()
    app.config["DOWNLOAD_MODE"] = "proxy"
    with staff_client.get(f"/attachments/{attachment.id}/download", headers={"Range": "bytes=0-3"}) as part:
        assert part.status_code == 206 and part.get_data() == b"%PDF"


def test_a_large_staged_file_survives_promotion_and_proxying(app, staff_client):
    """A multipart object copied server-side must still pass botocore's checksum check when read back."""
    payload = os.urandom(11 * 1024 * 1024 + 1)
    staged = stage(staff_client, ("big.bin", payload)).get_json()["files"][0]
    staff_client.post("/documents/new", data={"title": "Big", "staged_ids": [str(staged["id"])]})
    (attachment,), _ = rows()
    app.config["DOWNLOAD_MODE"] = "proxy"
    with staff_client.get(f"/attachments/{attachment.id}/download") as response:
        assert hashlib.sha256(response.get_data()).hexdigest() == hashlib.sha256(payload).hexdigest()
