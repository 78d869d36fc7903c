"""The cleanup outbox against real S3 servers (moto and the RGW): deletions an outage refused are owed, retried by
`flask storage maintain` once the store is back, and never run against an object a row points at."""

from __future__ import annotations

import os

import pytest
import requests

from portal.cleanup.outbox import record
from portal.extensions import db, storage
from tests.support.files import PDF, purge_trash, rows, stored_keys, upload
from tests.support.outbox import make_due, outbox
from tests.support.store_faults import refusing


@pytest.fixture
def app_config(s3_app_config):
    return s3_app_config


@pytest.fixture(autouse=True)
def bucket(app):
    storage.default.ensure_ready()


def downloaded(client, attachment_id: int) -> bytes:
    """What a browser gets: the portal's redirect, then the presigned URL fetched from the S3 server."""
    response = client.get(f"/attachments/{attachment_id}/download")
    assert response.status_code == 302
    fetched = requests.get(response.headers["Location"], timeout=30)
    assert fetched.status_code == 200
    return fetched.content


def incomplete_uploads() -> list:
    return list(storage.default.incomplete_uploads(""))


def test_an_upload_whose_cleanup_is_refused_is_owed_until_maintain_deletes_it(
    app, staff_client, document, runner, store_fails_mid_stream
):
    deletes = refusing(storage.default, "DeleteObject")
    response = upload(staff_client, document.id, ("one.pdf", PDF), ("two.pdf", PDF * 20), ("three.pdf", PDF), json=True)
    assert response.status_code == 503
    assert rows() == ([], []) and deletes.refused >= 1
    [left] = stored_keys()  # the first file reached the bucket; its cleanup was refused
    [entry] = outbox()
    assert (entry.storage_type, entry.key, entry.reason) == ("s3", left, "discard")
    assert "StorageUnavailable" in entry.last_error
    make_due()
    still_down = runner.invoke(args=["storage", "maintain"])
    assert still_down.exit_code == 1 and "1 still refused" in still_down.output
    assert stored_keys() == [left]
    deletes.down = False  # the store is back
    make_due()
    done = runner.invoke(args=["storage", "maintain"])
    assert done.exit_code == 0, done.output
    assert "1 deleted" in done.output
    assert outbox() == [] and stored_keys() == [] and incomplete_uploads() == []


def test_a_purge_during_an_outage_owes_its_objects_and_maintain_deletes_them(app, staff_client, document, runner):
    big = os.urandom(6 * 1024 * 1024)  # above the 5 MiB multipart threshold of s3_app_config
    assert upload(staff_client, document.id, ("a.pdf", PDF), ("b.bin", big), json=True).status_code == 201
    keys = stored_keys()
    staff_client.post(f"/documents/{document.id}/delete")
    deletes = refusing(storage.default, "DeleteObject")
    report = purge_trash()
    assert report.attachments == 2 and len(report.failed) == 2 and deletes.refused >= 2
    assert rows() == ([], []) and stored_keys() == keys and sorted(entry.key for entry in outbox()) == keys
    deletes.down = False
    make_due()
    assert runner.invoke(args=["storage", "maintain"]).exit_code == 0
    assert outbox() == [] and stored_keys() == [] and incomplete_uploads() == []


def test_a_row_restored_from_the_trash_whose_key_is_owed_keeps_its_object(app, staff_client, document, runner):
    assert upload(staff_client, document.id, ("kept.pdf", PDF), json=True).status_code == 201
    [row], _ = rows()
    staff_client.post(f"/attachments/{row.id}/delete")
    with db.engine.begin() as conn:
        record(conn, "s3", row.storage_path, "unrecorded")
    assert staff_client.post(f"/trash/attachments/{row.id}/restore").status_code == 302
    assert outbox() == []
    result = runner.invoke(args=["storage", "maintain"])
    assert result.exit_code == 0, result.output
    assert stored_keys() == [row.storage_path] and downloaded(staff_client, row.id) == PDF


def test_an_owed_key_a_trashed_row_points_at_is_dropped_not_deleted(app, staff_client, document, runner):
    assert upload(staff_client, document.id, ("kept.pdf", PDF), json=True).status_code == 201
    [row], _ = rows()
    staff_client.post(f"/attachments/{row.id}/delete")
    with db.engine.begin() as conn:
        record(conn, "s3", row.storage_path, "unrecorded")
    result = runner.invoke(args=["storage", "maintain"])
    assert "0 deleted, 1 dropped" in result.output and stored_keys() == [row.storage_path]
    staff_client.post(f"/trash/attachments/{row.id}/restore")
    assert downloaded(staff_client, row.id) == PDF
