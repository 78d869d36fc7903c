"""One row's move: deterministic key, verification, the guarded switch, and every per-item failure."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket

import pytest

from portal.extensions import db
from portal.migration.items import _small_file
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment
from portal.object_keys import migrated_key
from portal.storage import ObjectStorageFactory
from portal.storage.base import SMALL_OBJECT_MAX, ObjectNotFound, StorageMisconfigured, StorageUnavailable
from tests.migration.factory import payload
from tests.support.buckets import object_keys
from tests.support.s3_requests import operations, record_requests


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_bytes(provider, key: str) -> bytes:
    return b"".join(provider.open(key))


@pytest.mark.moto  # needs a store that answers the SHA-256 sent (moto's fidelity patch)
def test_legacy_row_is_copied_verified_switched_and_gets_its_checksum(files, store):
    data = payload(20_000)
    row = files.legacy(data, size=1)  # a legacy size that was wrong all along
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "done", result.error
    assert result.key == migrated_key("attachment", row.id, sha(data))
    assert result.checked_by == "checksum"  # the store kept the SHA-256 sent with the PUT
    row = db.session.get(Attachment, row.id)
    assert (row.storage_type, row.storage_path, row.size, row.sha256) == ("s3", result.key, len(data), sha(data))
    assert row.filepath  # the legacy path stays recorded
    assert stored_bytes(store, result.key) == data
    assert files.path_of(row).exists()  # no --delete-source: the file stays


def requests_made(provider, operation: str) -> list:
    """Record every ``operation`` request the provider's client sends from now on."""
    seen: list = []
    provider.client.meta.events.register(f"before-call.s3.{operation}", lambda **kw: seen.append(kw))
    return seen


@pytest.mark.moto  # needs a store that answers the SHA-256 sent (moto's fidelity patch)
def test_small_files_go_in_one_direct_put_and_larger_ones_through_the_sdk(files, store):
    puts = requests_made(store, "PutObject")
    small, large = payload(SMALL_OBJECT_MAX), payload(SMALL_OBJECT_MAX + 1)
    rows = [files.legacy(small), files.legacy(large)]
    results = [DocumentMigrationService().migrate_attachment(row) for row in rows]
    assert [(result.status, result.checked_by) for result in results] == [("done", "checksum")] * 2
    # the small one never reached botocore
    assert [call["params"]["url_path"].endswith(results[1].key) for call in puts] == [True]
    assert [stored_bytes(store, result.key) for result in results] == [small, large]


def test_only_a_small_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "source"
    path.write_bytes(b"x" * (SMALL_OBJECT_MAX + 1))
    with open(path, "rb") as stream:
        assert _small_file(stream) is None and stream.tell() == 0
        stream.seek(1)
        assert _small_file(stream) == b"x" * SMALL_OBJECT_MAX  # what is left of it is small
    assert _small_file(io.BytesIO(b"not a file")) is None


def test_a_file_that_grew_after_its_size_was_read_is_streamed_after_all(tmp_path, monkeypatch):
    from portal.migration import items

    path = tmp_path / "source"
    path.write_bytes(b"x" * (SMALL_OBJECT_MAX + 1))
    real = items.open_regular_file

    def as_it_was(stream):  # the size seen just before the last byte was written
        fd, position, info = real(stream)
        fields = list(info)
        fields[6] = SMALL_OBJECT_MAX  # st_size
        return fd, position, os.stat_result(fields)

    monkeypatch.setattr(items, "open_regular_file", as_it_was)
    with open(path, "rb") as stream:
        assert _small_file(stream) is None and stream.tell() == 0


def test_a_small_legacy_file_is_read_once_and_a_large_one_hashed_before_it_goes_up(files, store, monkeypatch):
    from portal.migration import items

    hashed = []
    real = items._hash
    monkeypatch.setattr(items, "_hash", lambda *source: hashed.append(1) or real(*source))
    small, large = payload(1000), payload(SMALL_OBJECT_MAX + 1)
    rows = [files.legacy(small), files.legacy(large)]  # no sha256 recorded: the key needs one first
    results = [DocumentMigrationService().migrate_attachment(row) for row in rows]
    assert [result.key for result in results] == [
        migrated_key("attachment", row.id, sha(data)) for row, data in zip(rows, (small, large), strict=True)
    ]
    assert len(hashed) == 1  # only the large file was read twice (hash, then upload)
    assert [stored_bytes(store, result.key) for result in results] == [small, large]


@pytest.mark.moto  # needs a store that answers the SHA-256 sent (moto's fidelity patch)
def test_write_time_check_takes_the_stores_answer_to_the_put_without_a_head(files, store):
    heads = requests_made(store, "HeadObject")
    row = files.legacy(payload(4000))
    result = DocumentMigrationService().migrate_attachment(row)
    assert (result.status, result.checked_by) == ("done", "checksum")
    assert heads == []  # the PUT's answer already carried the SHA-256 the store verified


@pytest.mark.moto  # patches moto's answer
def test_store_that_answers_its_put_with_another_checksum_fails_the_item(files, store, monkeypatch):
    from moto.s3.responses import S3Response

    keep = S3Response._get_checksum

    def answer_wrong(self, response_headers):
        algorithm, value = keep(self, response_headers)
        if value:
            value = response_headers["x-amz-checksum-sha256"] = base64.b64encode(b"\x01" * 32).decode()
        return algorithm, value

    monkeypatch.setattr(S3Response, "_get_checksum", answer_wrong)
    row = files.legacy(payload(4000))
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "failed"
    assert result.error == "checksum mismatch: the store's SHA-256 differs from the bytes sent"
    assert db.session.get(Attachment, row.id).storage_path is None
    assert object_keys(store) == []


def test_store_that_keeps_no_checksum_is_read_back(files, store, monkeypatch):
    from tests.support import moto_fidelity

    moto_fidelity.uninstall()  # plain moto: it neither answers nor keeps the SHA-256 sent
    try:
        heads = requests_made(store, "HeadObject")
        row = files.legacy(payload(4000))
        result = DocumentMigrationService().migrate_attachment(row)
    finally:
        moto_fidelity.install()
    assert (result.status, result.checked_by) == ("done", "readback")
    assert len(heads) == 1  # asked, found no checksum, then read the object back


def test_local_store_row_keeps_its_metadata_and_staging_rows_move_too(files, store):
    data = payload(3000)
    row = files.local(data, table="attachment_staging", metadata={"origin": "scanner"})
    result = DocumentMigrationService().migrate_attachment_staging(row)
    assert result.status == "done", result.error
    assert result.key.startswith("staging/migrated/")
    assert store.stat(result.key).metadata == {"origin": "scanner"}
    assert stored_bytes(store, result.key) == data


def test_readback_verification_reads_the_object_again(files, store):
    row = files.legacy(payload(5000))
    sent = record_requests(store)
    result = DocumentMigrationService().migrate_attachment(row, MigrationOptions(verify="readback"))
    assert (result.status, result.checked_by) == ("done", "readback")
    assert operations(sent, result.key).count("PutObject") == 1
    assert operations(sent, result.key).count("GetObject") == 1  # the whole object, once, after the PUT
    assert operations(sent, result.key).index("GetObject") > operations(sent, result.key).index("PutObject")


def test_encrypted_row_is_copied_as_ciphertext_unchanged(files, store):
    ciphertext = payload(7000)
    row = files.legacy(ciphertext, size=5000, encryption="dpe1.envelope-as-text")
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "done", result.error
    row = db.session.get(Attachment, row.id)
    assert (row.encryption, row.size, row.sha256) == ("dpe1.envelope-as-text", 5000, None)
    assert stored_bytes(store, row.storage_path) == ciphertext


def test_the_same_row_copied_twice_overwrites_its_own_object(files, store, app):
    data = payload(1000)
    row = files.legacy(data)
    service = DocumentMigrationService()
    migrator = service.migrator(MigrationOptions())
    first = migrator.migrate(snapshot_of(row))
    assert first.status == "done"
    # A crash after the upload but before the switch looks like this: the row still legacy, the object there.
    db.session.execute(
        Attachment.__table__.update()
        .where(Attachment.id == row.id)
        .values(storage_path=None, storage_type="local", sha256=None)
    )
    db.session.commit()
    second = migrator.migrate(snapshot_of(db.session.get(Attachment, row.id)))
    assert second.status == "done" and second.key == first.key
    assert object_keys(store) == [first.key]


def snapshot_of(row, table: str = "attachment"):
    from portal.migration.claims import snapshot

    db.session.refresh(row)
    return snapshot(table, row)


def test_missing_legacy_file_fails_the_item_and_leaves_the_row_alone(files, store):
    row = files.legacy(payload(100))
    files.path_of(row).unlink()
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "failed"
    assert result.error.startswith("source missing")
    row = db.session.get(Attachment, row.id)
    assert (row.storage_path, row.storage_type) == (None, "local")
    assert object_keys(store) == []


def test_file_that_no_longer_matches_its_recorded_checksum_fails(files, store):
    row = files.legacy(payload(100), with_sha256=True)
    files.path_of(row).write_bytes(payload(100))  # bit rot on the old disk
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "failed"
    assert result.error.startswith("checksum mismatch")
    assert db.session.get(Attachment, row.id).storage_path is None
    assert object_keys(store) == []


@pytest.mark.moto  # makes moto's backend refuse
def test_store_that_refuses_fails_the_item(files, store, monkeypatch):
    from moto.s3.exceptions import AccessForbidden
    from moto.s3.models import S3Backend

    original = S3Backend.put_object

    def refuse(self, bucket_name, key_name, *args, **kwargs):
        if "/migrated/" in key_name:
            raise AccessForbidden("Access Denied")
        return original(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", refuse)
    row = files.legacy(payload(100))
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "failed"
    assert result.error.startswith("store refused")
    assert db.session.get(Attachment, row.id).storage_path is None


@pytest.mark.moto  # makes moto's backend corrupt the bytes
def test_object_altered_on_the_way_fails_verification_and_is_removed(files, store, monkeypatch):
    from moto.s3.models import S3Backend

    original = S3Backend.put_object

    def corrupt(self, bucket_name, key_name, value, *args, **kwargs):
        return original(self, bucket_name, key_name, b"X" + bytes(value)[1:], *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", corrupt)
    row = files.legacy(payload(300))
    result = DocumentMigrationService().migrate_attachment(row, MigrationOptions(verify="readback"))
    assert result.status == "failed"
    assert result.error.startswith("checksum mismatch")
    assert db.session.get(Attachment, row.id).storage_path is None
    assert object_keys(store) == []


def test_row_changed_during_the_copy_is_skipped_and_its_object_removed(files, store, app):
    row = files.legacy(payload(100))
    service = DocumentMigrationService()
    snapshot = snapshot_of(row)
    db.session.execute(
        Attachment.__table__.update()
        .where(Attachment.id == row.id)
        .values(filename="renamed.pdf", filepath="legacy/other")
    )
    db.session.commit()
    result = service.migrator(MigrationOptions()).migrate(snapshot)
    assert result.status == "skipped"
    assert "changed" in result.error
    assert object_keys(store) == []


def test_deleted_row_is_skipped(files, store):
    row = files.legacy(payload(100))
    snapshot = snapshot_of(row)
    db.session.delete(row)
    db.session.commit()
    result = DocumentMigrationService().migrator(MigrationOptions()).migrate(snapshot)
    assert (result.status, result.error) == ("skipped", "the row was deleted during the copy")
    assert object_keys(store) == []


def test_with_encryption_on_plaintext_is_encrypted_as_it_copies(app, files, store, hybrid_encryption):
    from portal.documents.service import DocumentStorageService
    from portal.storage.crypto import ciphertext_size
    from portal.storage.encryption import ENVELOPE_METADATA
    from portal.storage.keys import Envelope

    key_id = hybrid_encryption
    data = payload(150_000)
    row = files.legacy(data)
    result = DocumentMigrationService().migrate_attachment(row)
    assert result.status == "done", result.error
    row = db.session.get(Attachment, row.id)
    assert Envelope.from_text(row.encryption).key_id == key_id
    assert (row.size, row.sha256) == (len(data), sha(data))
    stored = stored_bytes(store, row.storage_path)
    assert len(stored) == ciphertext_size(len(data)) and data[:1000] not in stored
    assert store.stat(row.storage_path).metadata[ENVELOPE_METADATA] == row.encryption
    assert b"".join(DocumentStorageService().open(row)) == data


# -- reading back: a presigned GET on the store's own endpoint ----------------------------------------


def test_reading_back_hashes_what_a_download_gets(store):
    data = payload(3 * 1024 * 1024 + 5)  # more than one chunk
    store.save("attachments/read-back", io.BytesIO(data))
    assert store.read_back("attachments/read-back") == (len(data), sha(data))


def test_reading_back_a_missing_object_says_so(store):
    with pytest.raises(ObjectNotFound):
        store.read_back("attachments/never-written")


@pytest.mark.moto  # makes moto's backend refuse
def test_reading_back_from_a_store_that_refuses_says_what_to_check(store, monkeypatch):
    from moto.s3.exceptions import AccessForbidden
    from moto.s3.models import S3Backend

    def refuse(self, *args, **kwargs):
        raise AccessForbidden("Access Denied")

    monkeypatch.setattr(S3Backend, "get_object", refuse)
    with pytest.raises(StorageMisconfigured, match="refused \\(403\\); check the credentials"):
        store.read_back("attachments/anything")


def test_reading_back_from_a_store_that_is_down_says_so(app, store):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = ObjectStorageFactory(
        {**app.config, "S3_ENDPOINT_URL": f"http://127.0.0.1:{port}", "S3_CONNECT_TIMEOUT": 1}
    ).object_store()
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        down.read_back("attachments/anything")


def test_a_source_in_a_store_without_local_files_is_kept_not_quarantined(files, store):
    data = payload(100)
    row = files.legacy(data)
    service = DocumentMigrationService()
    assert service.migrate_attachment(row).status == "done"
    moved = snapshot_of(db.session.get(Attachment, row.id))  # now an s3 row: nothing on this disk to move
    assert (
        service.migrator(MigrationOptions())._quarantine(moved)
        == "kept: the s3 store keeps no file on this host to quarantine"
    )
    assert stored_bytes(store, moved.storage_path) == data
