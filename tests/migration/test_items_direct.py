"""One row's move (portal/migration/items.py) on the local disk and SQLite alone: the object stores are folders
(FolderBucket), so each rule of the copy, the proof, the switch and the quarantine is checked in milliseconds.
What only a real S3 server shows (its checksum answers, one PUT for a small file) stays in test_items.py."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from portal.cleanup.outbox import OUTBOX, record
from portal.documents.service import DocumentStorageService
from portal.extensions import db, storage
from portal.migration.claims import TABLES, claim_batch, snapshot
from portal.migration.items import ChunkStream, ItemMigrator, describe
from portal.migration.lifecycle import attach_worker, create_run
from portal.migration.models import ITEM, MigrationRun
from portal.migration.options import MigrationOptions
from portal.migration.quarantine import Quarantine
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment, AttachmentStaging
from portal.object_keys import QUARANTINE_PREFIX, migrated_key
from portal.storage.base import SMALL_OBJECT_MAX, ObjectNotFound, StorageIntegrityError, StorageUnavailable
from portal.storage.crypto import ciphertext_size
from portal.storage.encryption import CIPHERTEXT_TYPE, ENVELOPE_METADATA
from portal.storage.keys import Envelope
from tests.migration.factory import payload
from tests.support.buckets import object_keys

MODELS = {"attachment": Attachment, "attachment_staging": AttachmentStaging}
ENVELOPE = "dpe1.envelope-as-text"
CHANGED = "the row changed during the copy; the next run moves it as it is now"


@pytest.fixture
def app_config(tmp_path):
    # No S3 server: the stores these tests move rows between are folders (the `buckets` fixture).
    return {"LEGACY_FILES_ROOT": str(tmp_path / "legacy"), "QUARANTINE_PATH": str(tmp_path / "quarantine")}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def migrator(**options) -> ItemMigrator:
    return DocumentMigrationService().migrator(MigrationOptions(**options))


def snap(row, table: str = "attachment", item_id: int | None = None):
    db.session.commit()
    db.session.refresh(row)
    return snapshot(table, row, item_id)


def reloaded(row, table: str = "attachment"):
    db.session.expire_all()
    return db.session.get(MODELS[table], row.id)


def held(provider, key: str) -> bytes:
    return b"".join(provider.open(key))


def change(row, table: str = "attachment", **values) -> None:
    with db.engine.begin() as conn:
        conn.execute(update(TABLES[table]).where(TABLES[table].c.id == row.id).values(**values))


def committed_after_change(row, **values):
    """Copy ``row``, change it as another process would meanwhile, then commit the copy; returns the commit's
    result for the row and the copy."""
    snapshot_ = snap(row)
    m = migrator()
    copied = m.copy(snapshot_)
    change(row, **values)
    return m.commit([(snapshot_, copied)], run_id=None, worker_id=None)[0], copied


def owed() -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        return [tuple(found) for found in conn.execute(select(OUTBOX.c.storage_type, OUTBOX.c.key))]


# -- ChunkStream: a provider's chunks read as a stream -------------------------------------------------


def test_a_chunk_stream_gives_exactly_the_bytes_asked_for_across_chunks():
    stream = ChunkStream(iter([b"ab", b"cde", b"f"]))
    assert [stream.read(0), stream.read(4), stream.read(1), stream.read(5), stream.read(3)] == [
        b"",
        b"abcd",
        b"e",
        b"f",
        b"",
    ]


@pytest.mark.parametrize("rest", [None, -1])
def test_reading_a_chunk_stream_to_the_end_includes_what_a_short_read_held_back(rest):
    stream = ChunkStream(iter([b"ab", b"cd"]))
    assert stream.read(1) == b"a"
    assert stream.read(rest) == b"bcd"
    assert stream.read(rest) == b""
    assert stream.read(1) == b""


def test_reading_a_chunk_stream_to_the_end_joins_every_chunk_left():
    stream = ChunkStream(iter([b"ab", b"cd", b"ef", b"gh"]))
    assert stream.read(3) == b"abc"
    assert stream.read() == b"defgh"


def test_a_file_that_grew_past_the_limit_is_never_read_more_than_a_byte_past_it(tmp_path, monkeypatch):
    from portal.migration import items

    asked = []

    class Recording(io.BufferedReader):
        def read(self, size=-1):
            asked.append(size)
            return super().read(size)

    path = tmp_path / "source"
    path.write_bytes(b"x" * (4 * SMALL_OBJECT_MAX))
    real = items.open_regular_file

    def as_it_was(stream):  # the size seen before the file grew by three times the limit
        fd, position, info = real(stream)
        fields = list(info)
        fields[6] = SMALL_OBJECT_MAX  # st_size
        return fd, position, os.stat_result(fields)

    monkeypatch.setattr(items, "open_regular_file", as_it_was)
    with Recording(io.FileIO(path)) as stream:
        assert items._small_file(stream) is None and stream.tell() == 0
    assert asked == [SMALL_OBJECT_MAX + 1]


def test_a_chunk_stream_fills_a_buffer_and_says_how_much():
    stream = ChunkStream(iter([b"abc", b"de"]))
    buffer = bytearray(4)
    assert stream.readinto(buffer) == 4 and buffer == bytearray(b"abcd")
    assert stream.readinto(buffer) == 1 and buffer[:1] == b"e"
    assert stream.readinto(buffer) == 0


def test_a_buffered_reader_reads_a_chunk_stream_whole():
    data = payload(10_000)
    reader = io.BufferedReader(ChunkStream(data[start : start + 999] for start in range(0, len(data), 999)), 64)
    assert reader.read() == data


def test_closing_a_chunk_stream_closes_the_providers_reader():
    closed = []

    def chunks():
        try:
            yield b"abc"
            yield b"def"
        finally:
            closed.append(True)

    stream = ChunkStream(chunks())
    assert stream.read(2) == b"ab"
    stream.close()
    assert closed == [True] and stream.closed
    plain = ChunkStream(iter([b"abc"]))  # a reader with nothing to close
    plain.close()
    assert plain.closed


# -- describe: the failure text an admin reads --------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "phase", "text"),
    [
        (
            StorageIntegrityError("checksum mismatch: read back 3 bytes"),
            "target",
            "checksum mismatch: read back 3 bytes",
        ),
        (StorageIntegrityError("the SHA-256 differs"), "target", "checksum mismatch: the SHA-256 differs"),
        (PermissionError(13, "Permission denied"), "source", "cannot read source: Permission denied"),
        (OSError("disk gone"), "target", "cannot read source: disk gone"),
        (ObjectNotFound("no file at 'a'"), "source", "source missing: no file at 'a'"),
        (ObjectNotFound("no object at 'a'"), "copy", "source missing: no object at 'a'"),
        (
            ObjectNotFound("no object at 'b'"),
            "target",
            "store lost the object right after writing it: no object at 'b'",
        ),
        (StorageUnavailable("s3 cannot be reached"), "source", "source unreadable: s3 cannot be reached"),
        (StorageUnavailable("s3 cannot be reached"), "copy", "store refused: s3 cannot be reached"),
        (StorageUnavailable("s3 cannot be reached"), "target", "store refused: s3 cannot be reached"),
        (ValueError("boom"), "target", "unexpected error: ValueError: boom"),
    ],
)
def test_each_failure_is_described_by_what_failed_and_where(exc, phase, text):
    assert describe(exc, phase) == text


# -- the copy from the local disk ----------------------------------------------------------------------


def test_a_legacy_row_moves_with_its_bytes_type_and_checksum(disk_files, buckets):
    bucket = buckets["s3"]
    small, large = payload(1000), payload(SMALL_OBJECT_MAX + 1)
    rows = [disk_files.legacy(small, size=1), disk_files.legacy(large)]  # the first one's size was wrong
    for row, data in zip(rows, (small, large), strict=True):
        result = migrator().migrate(snap(row))
        key = migrated_key("attachment", row.id, sha(data))
        assert (result.table, result.row_id, result.status) == ("attachment", row.id, "done"), result.error
        assert (result.key, result.size, result.sha256, result.checked_by) == (key, len(data), sha(data), "checksum")
        assert (result.error, result.source_kept) == (None, None)
        switched = reloaded(row)
        assert (switched.storage_type, switched.storage_path, switched.size, switched.sha256) == (
            "s3",
            key,
            len(data),
            sha(data),
        )
        assert switched.filepath == row.filepath  # the legacy path stays recorded
        assert held(bucket, key) == data
        assert bucket.stat(key).content_type == "application/pdf"
        assert bucket.stat(key).metadata == {}
        assert disk_files.path_of(row).read_bytes() == data  # no --delete-source: the file stays


def test_by_default_the_stores_checksum_proves_a_copy(disk_files, buckets, app):
    row = disk_files.legacy(payload(500))
    m = ItemMigrator(db.engine, DocumentStorageService(app.config), buckets["s3"])
    assert m.migrate(snap(row)).checked_by == "checksum"


def test_readback_mode_reads_the_copy_back_even_where_the_store_keeps_a_checksum(disk_files, buckets):
    row = disk_files.legacy(payload(500))
    assert migrator(verify="readback").migrate(snap(row)).checked_by == "readback"


@pytest.mark.parametrize("size", [100, SMALL_OBJECT_MAX + 1])
def test_a_file_that_no_longer_matches_its_recorded_checksum_fails_and_leaves_nothing(disk_files, buckets, size):
    row = disk_files.legacy(payload(size), with_sha256=True)
    disk_files.path_of(row).write_bytes(payload(size))  # bit rot on the old disk
    result = migrator().migrate(snap(row))
    assert (result.status, result.error) == (
        "failed",
        f"checksum mismatch: SHA-256 of the {size} bytes received does not match the expected one",
    )
    assert reloaded(row).storage_path is None
    assert object_keys(buckets["s3"]) == []


def test_a_recorded_checksum_names_the_key_without_reading_the_file_first(disk_files, buckets, monkeypatch):
    from portal.migration import items

    data = payload(SMALL_OBJECT_MAX + 10)
    row = disk_files.legacy(data, with_sha256=True)
    monkeypatch.setattr(items, "_hash", lambda *source: pytest.fail("the file was read to hash it"))
    result = migrator().migrate(snap(row))
    assert (result.status, result.key) == ("done", migrated_key("attachment", row.id, sha(data)))


def test_a_local_store_row_keeps_its_type_and_metadata(disk_files, buckets):
    data = payload(3000)
    row = disk_files.local(data, table="attachment_staging", metadata={"origin": "scanner"})
    result = migrator().migrate(snap(row, "attachment_staging"))
    assert result.status == "done", result.error
    assert result.key == migrated_key("attachment_staging", row.id, sha(data))
    found = buckets["s3"].stat(result.key)
    assert (found.content_type, found.metadata) == ("image/png", {"origin": "scanner"})
    assert reloaded(row, "attachment_staging").storage_path == result.key


@pytest.mark.parametrize("size", [7000, SMALL_OBJECT_MAX + 1])
def test_an_encrypted_legacy_row_moves_as_its_ciphertext(disk_files, buckets, size):
    ciphertext = payload(size)
    row = disk_files.legacy(ciphertext, size=5000, encryption=ENVELOPE)
    result = migrator().migrate(snap(row))
    assert result.status == "done", result.error
    assert result.key == migrated_key("attachment", row.id, sha(ciphertext))
    switched = reloaded(row)
    assert (switched.storage_path, switched.encryption, switched.size, switched.sha256) == (
        result.key,
        ENVELOPE,
        5000,
        None,
    )
    assert held(buckets["s3"], result.key) == ciphertext
    assert buckets["s3"].stat(result.key).content_type == CIPHERTEXT_TYPE


@pytest.mark.parametrize("where", ["a folder", "below a file"])
def test_a_legacy_path_that_is_no_file_is_a_missing_source(disk_files, buckets, where):
    row = disk_files.legacy(payload(100))
    path = disk_files.path_of(row)
    if where == "a folder":
        path.unlink()
        path.mkdir()
        relative = row.filepath
    else:
        relative = f"{row.filepath}/inner"
        change(row, filepath=relative)
    result = migrator().migrate(snap(row))
    assert (result.table, result.row_id, result.status, result.key) == ("attachment", row.id, "failed", None)
    assert result.error == f"source missing: no file at {relative!r}"
    assert object_keys(buckets["s3"]) == []


# -- the copy from an object store -------------------------------------------------------------------


@pytest.mark.parametrize("size", [1000, SMALL_OBJECT_MAX + 1])
def test_a_plaintext_row_moves_out_of_an_object_store(disk_files, buckets, size):
    data = payload(size)
    row = disk_files.in_store(data, buckets["s3"])
    result = migrator(source="s3", target="local").migrate(snap(row))
    assert result.status == "done", result.error
    assert result.key == migrated_key("attachment", row.id, sha(data))
    local = storage.get("local")
    assert held(local, result.key) == data
    assert (local.stat(result.key).content_type, local.stat(result.key).metadata) == ("application/pdf", {})
    switched = reloaded(row)
    assert (switched.storage_type, switched.storage_path) == ("local", result.key)


@pytest.mark.parametrize("plain_size", [5000, SMALL_OBJECT_MAX])
def test_an_encrypted_row_moves_out_of_an_object_store_with_its_envelope(disk_files, buckets, plain_size):
    ciphertext = payload(ciphertext_size(plain_size))
    row = disk_files.in_store(ciphertext, buckets["s3"], size=plain_size, encryption=ENVELOPE)
    result = migrator(source="s3", target="local").migrate(snap(row))
    assert result.status == "done", result.error
    assert result.key == migrated_key("attachment", row.id, sha(ciphertext))
    found = storage.get("local").stat(result.key)
    assert (found.content_type, found.metadata) == (CIPHERTEXT_TYPE, {ENVELOPE_METADATA: ENVELOPE})
    assert held(storage.get("local"), result.key) == ciphertext
    assert (reloaded(row).encryption, reloaded(row).size) == (ENVELOPE, plain_size)


@pytest.mark.parametrize(("size", "encryption"), [(1000, None), (SMALL_OBJECT_MAX + 1, None), (1000, ENVELOPE)])
def test_an_object_gone_from_its_store_is_a_missing_source(disk_files, buckets, size, encryption):
    row = disk_files.in_store(payload(size), buckets["s3"], encryption=encryption)
    buckets["s3"].delete(row.storage_path)
    result = migrator(source="s3", target="local").migrate(snap(row))
    assert (result.status, result.key) == ("failed", None)
    assert result.error == f"source missing: no object at {row.storage_path!r}"
    assert reloaded(row).storage_type == "s3"


def test_an_object_store_that_cannot_be_read_is_an_unreadable_source(disk_files, buckets, monkeypatch):
    row = disk_files.in_store(payload(1000), buckets["s3"])

    def down(key):
        raise StorageUnavailable("s3 cannot be reached")

    monkeypatch.setattr(buckets["s3"], "open", down)
    result = migrator(source="s3", target="local").migrate(snap(row))
    assert (result.status, result.error) == ("failed", "source unreadable: s3 cannot be reached")


# -- inside one store: two buckets of one account ----------------------------------------------------


def copies_inside(bucket, monkeypatch) -> list[str]:
    """The keys ``bucket`` is asked to copy inside the store, from now on."""
    seen: list[str] = []
    real = bucket.copy_from
    monkeypatch.setattr(
        bucket, "copy_from", lambda source, src, dst, size: seen.append(dst) or real(source, src, dst, size)
    )
    return seen


def test_a_row_with_a_known_checksum_is_copied_inside_the_store(disk_files, buckets, monkeypatch):
    inside = copies_inside(buckets["minio"], monkeypatch)
    monkeypatch.setattr(buckets["minio"], "stat", lambda key: pytest.fail("the copy's checksum was asked for again"))
    data = payload(2000)
    row = disk_files.in_store(data, buckets["s3"])
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert (result.status, result.checked_by) == ("done", "checksum")
    assert inside == [result.key] == [migrated_key("attachment", row.id, sha(data))]
    assert held(buckets["minio"], result.key) == data
    assert (reloaded(row).storage_type, reloaded(row).storage_path, reloaded(row).sha256) == (
        "minio",
        result.key,
        sha(data),
    )


def test_an_encrypted_row_is_copied_inside_under_the_stores_checksum_of_its_ciphertext(
    disk_files, buckets, monkeypatch
):
    inside = copies_inside(buckets["minio"], monkeypatch)
    ciphertext = payload(ciphertext_size(3000))
    row = disk_files.in_store(ciphertext, buckets["s3"], size=3000, encryption=ENVELOPE)
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert result.status == "done", result.error
    assert inside == [result.key] == [migrated_key("attachment", row.id, sha(ciphertext))]
    assert (reloaded(row).size, reloaded(row).encryption) == (3000, ENVELOPE)


def test_a_copy_inside_the_store_can_be_read_back_instead(disk_files, buckets, monkeypatch):
    inside = copies_inside(buckets["minio"], monkeypatch)
    data = payload(2000)
    row = disk_files.in_store(data, buckets["s3"])
    result = migrator(source="s3", target="minio", verify="readback").migrate(snap(row))
    assert (result.status, result.checked_by, result.size) == ("done", "readback", len(data))
    assert inside == [result.key]


def test_a_row_without_a_checksum_goes_through_the_portal(disk_files, buckets, monkeypatch):
    inside = copies_inside(buckets["minio"], monkeypatch)
    data = payload(2000)
    row = disk_files.in_store(data, buckets["s3"])
    change(row, sha256=None)
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert (result.status, inside) == ("done", [])
    assert result.key == migrated_key("attachment", row.id, sha(data))


def test_from_the_local_disk_nothing_is_copied_inside(disk_files, buckets, monkeypatch):
    inside = copies_inside(buckets["s3"], monkeypatch)
    row = disk_files.legacy(payload(100), with_sha256=True)
    assert migrator().migrate(snap(row)).status == "done"
    assert inside == []


def test_an_inside_copy_of_a_missing_object_is_a_missing_source(disk_files, buckets):
    row = disk_files.in_store(payload(2000), buckets["s3"])
    buckets["s3"].delete(row.storage_path)
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert result.status == "failed"
    assert result.error == f"source missing: no object at {row.storage_path!r}"
    assert object_keys(buckets["minio"]) == []


def test_an_inside_copy_the_store_got_wrong_is_removed(disk_files, buckets, monkeypatch):
    row = disk_files.in_store(payload(2000), buckets["s3"])
    minio = buckets["minio"]
    real = minio.copy_from

    def wrong(source, src, dst, size):
        found = real(source, src, dst, size)
        minio.save(dst, io.BytesIO(b"X" * size))
        return found.__class__(dst, size, None, store_sha256=sha(b"X" * size))

    monkeypatch.setattr(minio, "copy_from", wrong)
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert (result.status, result.error) == (
        "failed",
        "checksum mismatch: the store's SHA-256 differs from the bytes sent",
    )
    assert result.key == migrated_key("attachment", row.id, row.sha256)
    assert object_keys(minio) == [] and owed() == []
    assert reloaded(row).storage_type == "s3"


# -- failures after the key is known: the object written is removed ---------------------------------


def test_a_copy_the_store_answers_with_another_checksum_fails_and_is_removed(disk_files, buckets, monkeypatch, caplog):
    bucket = buckets["s3"]
    save = bucket.save
    monkeypatch.setattr(bucket, "save", lambda *args, **kwargs: replace(save(*args, **kwargs), store_sha256=sha(b"")))
    data = payload(5)
    row = disk_files.legacy(data)
    with caplog.at_level(logging.WARNING, logger="portal.migration"):
        result = migrator().migrate(snap(row))
    error = "checksum mismatch: the store's SHA-256 differs from the bytes sent"
    assert (result.status, result.error, result.key) == ("failed", error, migrated_key("attachment", row.id, sha(data)))
    assert object_keys(bucket) == [] and owed() == []
    assert reloaded(row).storage_path is None
    assert f"attachment #{row.id} not migrated: {error}" in caplog.messages


def test_the_stores_answer_to_the_write_is_proof_without_asking_again(disk_files, buckets, monkeypatch):
    monkeypatch.setattr(buckets["s3"], "stat", lambda key: pytest.fail("asked the store again"))
    row = disk_files.legacy(payload(100))
    assert migrator().migrate(snap(row)).checked_by == "checksum"


def answers_another_checksum(bucket, monkeypatch) -> None:
    save = bucket.save
    monkeypatch.setattr(bucket, "save", lambda *args, **kwargs: replace(save(*args, **kwargs), store_sha256=sha(b"")))


def test_a_failed_copy_the_store_will_not_delete_is_owed_once(disk_files, buckets, monkeypatch):
    bucket = buckets["s3"]
    answers_another_checksum(bucket, monkeypatch)

    def refuse(key):
        raise StorageUnavailable("s3 answered 503")

    monkeypatch.setattr(bucket, "delete", refuse)
    data = payload(100)
    row = disk_files.legacy(data)
    result = migrator().migrate(snap(row))
    assert result.status == "failed"
    key = migrated_key("attachment", row.id, sha(data))
    with db.engine.connect() as conn:
        entries = conn.execute(select(OUTBOX.c.storage_type, OUTBOX.c.key, OUTBOX.c.reason)).all()
    assert [tuple(entry) for entry in entries] == [("s3", key, "migration")]  # `flask storage maintain` retries it
    assert object_keys(bucket) == [key]


def test_a_failed_copy_whose_deletion_cannot_be_recorded_is_left_in_place(disk_files, buckets, monkeypatch, caplog):
    from sqlalchemy.exc import OperationalError

    from portal.cleanup import drain

    answers_another_checksum(buckets["s3"], monkeypatch)

    def database_gone(*args, **kwargs):
        raise OperationalError("INSERT INTO cleanup_outbox", {}, Exception("database is locked"))

    monkeypatch.setattr(drain, "record", database_gone)
    data = payload(100)
    row = disk_files.legacy(data)
    result = migrator().migrate(snap(row))
    # Deleting it unrecorded would skip the check that no row points at it (a retry elsewhere may have switched
    # the row to this very key): left alone, `flask storage orphans` finds it.
    assert result.status == "failed"
    assert object_keys(buckets["s3"]) == [migrated_key("attachment", row.id, sha(data))]


def test_a_store_that_takes_bytes_without_checking_their_sha256_still_fails_the_row(disk_files, buckets, monkeypatch):
    bucket = buckets["s3"]
    save = bucket.save

    def unchecked(key, stream, **kwargs):  # a store that ignores the SHA-256 it is sent
        kwargs["expected_sha256"] = None
        return save(key, stream, **kwargs)

    monkeypatch.setattr(bucket, "save", unchecked)
    row = disk_files.legacy(payload(100), with_sha256=True)
    disk_files.path_of(row).write_bytes(payload(100))
    result = migrator().migrate(snap(row))
    assert (result.status, result.error) == (
        "failed",
        "checksum mismatch: the bytes sent differ from the source's SHA-256",
    )
    assert object_keys(bucket) == []


def test_a_store_that_refuses_fails_the_row_with_its_reason(disk_files, buckets, monkeypatch):
    def refuse(key, stream, **kwargs):
        raise StorageUnavailable("s3 answered 503")

    monkeypatch.setattr(buckets["s3"], "save", refuse)
    data = payload(100)
    row = disk_files.legacy(data)
    result = migrator().migrate(snap(row))
    assert (result.status, result.error) == ("failed", "store refused: s3 answered 503")
    assert result.key == migrated_key("attachment", row.id, sha(data))


def test_an_unexpected_error_fails_the_row_and_is_logged_with_its_trace(disk_files, buckets, monkeypatch, caplog):
    def broken(key, stream, **kwargs):
        raise ValueError("x" * 3000)

    monkeypatch.setattr(buckets["s3"], "save", broken)
    row = disk_files.legacy(payload(100))
    with caplog.at_level(logging.WARNING, logger="portal.migration"):
        result = migrator().migrate(snap(row))
    assert (result.status, result.error) == ("failed", f"unexpected error: ValueError: {'x' * 3000}")
    traced = [entry for entry in caplog.records if entry.levelno == logging.ERROR]
    assert [entry.getMessage() for entry in traced] == [f"copying attachment #{row.id} failed"]
    assert traced[0].exc_info is not None


def test_a_storage_failure_is_logged_without_a_trace(disk_files, buckets, caplog):
    row = disk_files.legacy(payload(100))
    disk_files.path_of(row).unlink()
    with caplog.at_level(logging.WARNING, logger="portal.migration"):
        migrator().migrate(snap(row))
    assert [entry.levelno for entry in caplog.records if entry.name == "portal.migration"] == [logging.WARNING]


@pytest.mark.parametrize("elsewhere", [False, True])
def test_a_deletion_an_earlier_attempt_still_owes_is_withdrawn_before_the_key_is_written_again(
    disk_files, buckets, elsewhere
):
    data = payload(100)
    row = disk_files.legacy(data)
    key = migrated_key("attachment", row.id, sha(data))
    with db.engine.begin() as conn:
        record(conn, "s3", key, "migration")  # the earlier attempt's cleanup, which the store refused
        if elsewhere:
            record(conn, "local", key, "removed")  # the same key in another store is not this one's
    assert migrator().migrate(snap(row)).status == "done"
    assert owed() == ([("local", key)] if elsewhere else [])
    assert held(buckets["s3"], key) == data


def test_a_deletion_owed_for_the_key_of_a_copy_inside_the_store_is_withdrawn_too(disk_files, buckets):
    data = payload(2000)
    row = disk_files.in_store(data, buckets["s3"])
    key = migrated_key("attachment", row.id, sha(data))
    with db.engine.begin() as conn:
        record(conn, "minio", key, "migration")
    assert migrator(source="s3", target="minio").migrate(snap(row)).status == "done"
    assert owed() == []
    assert held(buckets["minio"], key) == data


# -- encrypted as it is copied (STORAGE_ENCRYPTION=hybrid) ------------------------------------------


@pytest.mark.parametrize("recorded", [False, True])
def test_with_encryption_on_a_plaintext_row_is_encrypted_as_it_is_copied(
    disk_files, buckets, hybrid_encryption, recorded
):
    data = payload(70_000)
    row = disk_files.legacy(data, with_sha256=recorded)
    result = migrator().migrate(snap(row))
    assert result.status == "done", result.error
    assert (result.key, result.size, result.sha256, result.checked_by) == (
        migrated_key("attachment", row.id, sha(data)),
        len(data),
        sha(data),
        "checksum",
    )
    switched = reloaded(row)
    assert Envelope.from_text(switched.encryption).key_id == hybrid_encryption
    assert (switched.size, switched.sha256, switched.storage_path) == (len(data), sha(data), result.key)
    stored = held(buckets["s3"], result.key)
    assert len(stored) == ciphertext_size(len(data)) and data[:1000] not in stored
    assert buckets["s3"].stat(result.key).metadata[ENVELOPE_METADATA] == switched.encryption
    assert b"".join(DocumentStorageService().open(switched)) == data


def test_with_encryption_on_a_local_rows_metadata_goes_along_with_its_envelope(disk_files, buckets, hybrid_encryption):
    row = disk_files.local(payload(1000), metadata={"origin": "scanner"})
    result = migrator().migrate(snap(row))
    assert result.status == "done", result.error
    assert buckets["s3"].stat(result.key).metadata == {"origin": "scanner", ENVELOPE_METADATA: reloaded(row).encryption}


def test_with_encryption_on_a_file_that_differs_from_its_checksum_is_not_switched(
    disk_files, buckets, hybrid_encryption
):
    row = disk_files.legacy(payload(1000), with_sha256=True)
    disk_files.path_of(row).write_bytes(payload(1000))
    result = migrator().migrate(snap(row))
    assert (result.status, result.error) == (
        "failed",
        "checksum mismatch: the file changed while it was being encrypted",
    )
    assert object_keys(buckets["s3"]) == []
    assert (reloaded(row).storage_path, reloaded(row).encryption) == (None, None)


def test_with_encryption_on_an_encrypted_row_still_moves_as_it_is(disk_files, buckets, hybrid_encryption):
    ciphertext = payload(3000)
    row = disk_files.legacy(ciphertext, size=2000, encryption=ENVELOPE)
    result = migrator().migrate(snap(row))
    assert result.status == "done", result.error
    assert held(buckets["s3"], result.key) == ciphertext
    assert (reloaded(row).encryption, reloaded(row).size) == (ENVELOPE, 2000)


def test_with_encryption_on_a_plaintext_row_is_not_copied_inside_the_store(
    disk_files, buckets, hybrid_encryption, monkeypatch
):
    inside = copies_inside(buckets["minio"], monkeypatch)
    data = payload(2000)
    row = disk_files.in_store(data, buckets["s3"])
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert (result.status, inside) == ("done", [])
    assert reloaded(row).encryption is not None


# -- the switch: only a row that still looks as it did ---------------------------------------------


def test_only_the_moved_row_is_switched(disk_files, buckets):
    rows = [disk_files.legacy(payload(100)), disk_files.legacy(payload(100))]
    assert migrator().migrate(snap(rows[0])).status == "done"
    assert (reloaded(rows[1]).storage_path, reloaded(rows[1]).storage_type) == (None, "local")


@pytest.mark.parametrize(
    "changed",
    [
        {"filepath": "legacy/elsewhere.pdf"},
        {"storage_type": "s3"},
        {"encryption": ENVELOPE},
    ],
)
def test_a_legacy_row_changed_during_the_copy_is_skipped_and_its_object_removed(disk_files, buckets, changed):
    row = disk_files.legacy(payload(100))
    result, copied = committed_after_change(row, **changed)
    assert (result.table, result.row_id) == ("attachment", row.id)
    assert (result.status, result.error, result.key) == ("skipped", CHANGED, copied.key)
    assert reloaded(row).storage_path is None
    assert object_keys(buckets["s3"]) == [] and owed() == []


def test_a_local_row_saved_again_under_another_key_during_the_copy_is_skipped(disk_files, buckets):
    row = disk_files.local(payload(100))
    result, copied = committed_after_change(row, storage_path="attachments/2026/11/re-uploaded")
    assert (result.status, result.error) == ("skipped", CHANGED)
    assert reloaded(row).storage_path == "attachments/2026/11/re-uploaded"


def test_an_encrypted_row_whose_envelope_changed_during_the_copy_is_skipped(disk_files, buckets):
    row = disk_files.legacy(payload(3000), size=2000, encryption=ENVELOPE)
    result, copied = committed_after_change(row, encryption="dpe1.rewrapped")  # a key rotation rewrapped it
    assert (result.status, result.error) == ("skipped", CHANGED)
    assert (reloaded(row).storage_path, reloaded(row).encryption) == (None, "dpe1.rewrapped")


def test_a_row_encrypted_meanwhile_is_not_encrypted_again(disk_files, buckets, hybrid_encryption):
    row = disk_files.legacy(payload(1000))
    result, copied = committed_after_change(row, encryption=ENVELOPE)
    assert (result.status, result.error) == ("skipped", CHANGED)
    assert (reloaded(row).storage_path, reloaded(row).encryption) == (None, ENVELOPE)


def test_a_row_deleted_during_the_copy_is_skipped(disk_files, buckets):
    row = disk_files.legacy(payload(100))
    snapshot_ = snap(row)
    db.session.delete(row)
    db.session.commit()
    result = migrator().migrate(snapshot_)
    assert (result.status, result.error) == ("skipped", "the row was deleted during the copy")
    assert object_keys(buckets["s3"]) == []


# -- a run: its items and counters -----------------------------------------------------------------


def claimed_rows(table: str = "attachment"):
    run = create_run(db.engine, "migrate", MigrationOptions())
    worker = attach_worker(db.engine, run.id, exclusive=True)
    return run.id, worker, claim_batch(db.engine, run.id, worker, table, 0, 100)


def items_of(run_id: int) -> dict[int, tuple]:
    with db.engine.connect() as conn:
        found = conn.execute(
            select(ITEM.c.row_id, ITEM.c.status, ITEM.c.object_key, ITEM.c.size, ITEM.c.sha256, ITEM.c.error).where(
                ITEM.c.run_id == run_id
            )
        )
        return {row_id: tuple(rest) for row_id, *rest in found}


def test_a_run_records_each_row_and_counts_what_it_came_to(disk_files, buckets):
    data = [payload(1000), payload(300), payload(10), payload(20)]
    rows = [disk_files.legacy(content) for content in data]
    disk_files.path_of(rows[2]).unlink()
    run_id, worker, claimed = claimed_rows()
    change(rows[3], filepath="legacy/renamed.pdf")  # after the claim, before the copy
    results = [migrator().migrate(row, run_id=run_id, worker_id=worker) for row in claimed]
    keys = [migrated_key("attachment", row.id, sha(content)) for row, content in zip(rows, data, strict=True)]
    assert [result.status for result in results] == ["done", "done", "failed", "skipped"]
    assert items_of(run_id) == {
        rows[0].id: ("done", keys[0], 1000, sha(data[0]), None),
        rows[1].id: ("done", keys[1], 300, sha(data[1]), None),
        rows[2].id: ("failed", None, None, None, f"source missing: no file at {rows[2].filepath!r}"),
        rows[3].id: ("skipped", keys[3], 20, sha(data[3]), CHANGED),
    }
    db.session.expire_all()
    run = db.session.get(MigrationRun, run_id)
    assert (run.items_done, run.bytes_done, run.items_failed, run.items_skipped) == (2, 1300, 1, 1)
    assert object_keys(buckets["s3"]) == sorted(keys[:2])


def test_a_group_committed_together_counts_every_row(disk_files, buckets):
    for size in (1000, 300, 10):
        disk_files.legacy(payload(size))
    gone = disk_files.legacy(payload(20))  # a fourth row, whose file is gone
    disk_files.path_of(gone).unlink()
    run_id, worker, claimed = claimed_rows()
    m = migrator()
    results = m.commit([(row, m.copy(row)) for row in claimed], run_id=run_id, worker_id=worker)
    assert [result.status for result in results] == ["done", "done", "done", "failed"]
    db.session.expire_all()
    run = db.session.get(MigrationRun, run_id)
    assert (run.items_done, run.bytes_done, run.items_failed) == (3, 1310, 1)


def test_a_long_failure_is_recorded_cut_to_2000_characters(disk_files, buckets, monkeypatch):
    def broken(key, stream, **kwargs):
        raise ValueError("x" * 3000)

    monkeypatch.setattr(buckets["s3"], "save", broken)
    data = payload(100)
    row = disk_files.legacy(data)
    run_id, worker, claimed = claimed_rows()
    migrator().migrate(claimed[0], run_id=run_id, worker_id=worker)
    [(status, key, size, _sha, error)] = items_of(run_id).values()
    assert (status, key, size) == ("failed", migrated_key("attachment", row.id, sha(data)), None)
    assert error == f"unexpected error: ValueError: {'x' * 3000}"[:2000]


def test_a_row_whose_claim_was_released_meanwhile_is_left_to_the_other_worker(disk_files, buckets):
    data = payload(100)
    row = disk_files.legacy(data)
    run_id, worker, claimed = claimed_rows()
    with db.engine.begin() as conn:  # taken for dead: its claim released and the row claimed again
        conn.execute(update(ITEM).where(ITEM.c.run_id == run_id).values(worker_id=None))
    result = migrator().migrate(claimed[0], run_id=run_id, worker_id=worker)
    reason = "the claim was released (this worker was taken for dead); another worker moves the row"
    assert (result.table, result.row_id, result.status, result.error) == ("attachment", row.id, "skipped", reason)
    assert reloaded(row).storage_path is None
    assert object_keys(buckets["s3"]) == []
    assert items_of(run_id)[row.id][:3] == ("claimed", None, None)
    db.session.expire_all()
    assert db.session.get(MigrationRun, run_id).items_skipped == 1


def test_a_row_already_recorded_is_not_recorded_again(disk_files, buckets):
    data = payload(100)
    row = disk_files.legacy(data)
    run_id, worker, claimed = claimed_rows()
    m = migrator()
    copied = m.copy(claimed[0])
    assert m.commit([(claimed[0], copied)], run_id=run_id, worker_id=worker)[0].status == "done"
    again = m.commit([(claimed[0], copied)], run_id=run_id, worker_id=worker)[0]  # a batch committed twice
    assert again.status == "skipped"
    assert items_of(run_id)[row.id] == ("done", copied.key, 100, sha(data), None)
    assert held(buckets["s3"], reloaded(row).storage_path) == data


def test_a_failed_row_whose_claim_was_released_is_skipped_too(disk_files, buckets):
    row = disk_files.legacy(payload(100))
    disk_files.path_of(row).unlink()
    run_id, worker, claimed = claimed_rows()
    result = migrator().migrate(claimed[0], run_id=run_id, worker_id=worker + 1)
    assert (result.status, result.key) == ("skipped", None)
    assert items_of(run_id)[row.id][0] == "claimed"


# -- the source after the switch (--delete-source) -------------------------------------------------


def test_a_moved_legacy_file_goes_to_the_quarantine(disk_files, buckets, app):
    data = payload(100)
    row = disk_files.legacy(data)
    result = migrator().migrate(snap(row), delete_source=True)
    assert (result.status, result.source_kept) == ("done", None)
    assert not disk_files.path_of(row).exists()
    quarantined = Quarantine(app.config["QUARANTINE_PATH"]).root / "legacy" / row.filepath
    assert quarantined.read_bytes() == data


def test_a_moved_local_file_goes_to_the_quarantine(disk_files, buckets, app):
    data = payload(100)
    row = disk_files.local(data)
    result = migrator().migrate(snap(row), delete_source=True)
    assert (result.status, result.source_kept) == ("done", None)
    assert (Quarantine(app.config["QUARANTINE_PATH"]).root / "local" / row.storage_path).read_bytes() == data
    with pytest.raises(ObjectNotFound):
        storage.get("local").stat(row.storage_path)


def test_without_delete_source_the_source_stays(disk_files, buckets, app):
    rows = [disk_files.legacy(payload(100)), disk_files.legacy(payload(100))]
    m = migrator()
    first = m.migrate(snap(rows[0]))
    second = m.commit([(snap(rows[1]), m.copy(snap(rows[1])))], run_id=None, worker_id=None)[0]
    assert [(first.status, first.source_kept), (second.status, second.source_kept)] == [("done", None)] * 2
    assert all(disk_files.path_of(row).exists() for row in rows)


def test_a_file_another_row_still_reads_is_kept(disk_files, buckets):
    row = disk_files.legacy(payload(100))
    other = disk_files.legacy(payload(100), path=row.filepath)
    result = migrator().migrate(snap(row), delete_source=True)
    assert (result.status, result.source_kept) == ("done", f"kept: attachment #{other.id} still reads the same file")
    assert disk_files.path_of(row).exists()


def test_a_local_store_file_another_row_still_reads_is_kept(disk_files, buckets):
    row = disk_files.local(payload(100))
    other = disk_files.local(payload(1), table="attachment_staging")
    change(other, "attachment_staging", storage_path=row.storage_path)
    result = migrator().migrate(snap(row), delete_source=True)
    assert result.source_kept == f"kept: attachment_staging #{other.id} still reads the same file"
    assert storage.get("local").stat(row.storage_path).size == 100


def test_a_moved_object_goes_to_its_stores_quarantine(disk_files, buckets):
    data = payload(100)
    row = disk_files.in_store(data, buckets["s3"])
    result = migrator(source="s3", target="local").migrate(snap(row), delete_source=True)
    assert (result.status, result.source_kept) == ("done", None)
    (kept,) = object_keys(buckets["s3"])
    assert kept.startswith(QUARANTINE_PREFIX) and kept.endswith(f"/{row.storage_path}")
    assert held(buckets["s3"], kept) == data


def test_an_object_another_row_still_reads_is_kept(disk_files, buckets):
    row = disk_files.in_store(payload(100), buckets["s3"])
    other = disk_files.in_store(payload(1), buckets["s3"], table="attachment_staging")
    change(other, "attachment_staging", storage_path=row.storage_path)
    result = migrator(source="s3", target="local").migrate(snap(row), delete_source=True)
    assert result.source_kept == f"kept: attachment_staging #{other.id} still reads the same file"
    assert object_keys(buckets["s3"], row.storage_path) == [row.storage_path]


def test_an_object_the_store_will_not_move_is_kept_saying_why(disk_files, buckets, monkeypatch, caplog):
    def refuse(src, dst):
        raise StorageUnavailable("s3 answered 503")

    monkeypatch.setattr(buckets["s3"], "copy", refuse)
    row = disk_files.in_store(payload(100), buckets["s3"])
    with caplog.at_level(logging.WARNING, logger="portal.migration"):
        result = migrator(source="s3", target="local").migrate(snap(row), delete_source=True)
    assert (result.status, result.source_kept) == ("done", "kept: s3 answered 503")
    assert object_keys(buckets["s3"]) == [row.storage_path]
    assert f"could not quarantine the source of attachment #{row.id}: s3 answered 503" in caplog.messages


def test_a_file_the_quarantine_cannot_take_is_kept_saying_why(disk_files, buckets, app):
    Quarantine(app.config["QUARANTINE_PATH"]).root.write_bytes(b"")  # a file where the folder should be
    row = disk_files.legacy(payload(100))
    result = migrator().migrate(snap(row), delete_source=True)
    assert result.status == "done"
    assert result.source_kept.startswith("kept: [Errno 20] Not a directory")
    assert disk_files.path_of(row).exists()


def test_without_a_quarantine_folder_the_source_is_kept(disk_files, buckets, app):
    row = disk_files.legacy(payload(100))
    config = app.config
    for source in (None, buckets["minio"]):  # a run from the local disk, or one whose rows are on disk anyway
        m = ItemMigrator(db.engine, DocumentStorageService(config), buckets["s3"], source=source)
        assert m._quarantine(snap(row)) == "no quarantine folder configured"
    assert disk_files.path_of(row).exists()


def test_an_object_run_without_a_quarantine_folder_still_quarantines_objects(disk_files, buckets, app):
    row = disk_files.in_store(payload(100), buckets["s3"])
    m = ItemMigrator(db.engine, DocumentStorageService(app.config), storage.get("local"), source=buckets["s3"])
    assert m._quarantine(snap(row)) is None
    assert object_keys(buckets["s3"], row.storage_path) == []


def test_a_run_from_the_local_disk_never_moves_an_object(disk_files, buckets):
    row = disk_files.in_store(payload(100), buckets["s3"])
    assert (
        migrator(target="minio")._quarantine(snap(row)) == "kept: the s3 store keeps no file on this host to quarantine"
    )
    assert object_keys(buckets["s3"]) == [row.storage_path]


# -- the switch of rows encrypted on the way, or already encrypted: the same guard, the same columns ------


@pytest.mark.parametrize("changed", [{"filepath": "legacy/elsewhere.pdf"}, {"storage_type": "s3"}])
def test_a_row_changed_while_it_was_encrypted_on_the_way_is_skipped(disk_files, buckets, hybrid_encryption, changed):
    row = disk_files.legacy(payload(1000))
    result, copied = committed_after_change(row, **changed)
    assert (result.status, result.error) == ("skipped", CHANGED)
    assert (reloaded(row).storage_path, reloaded(row).encryption) == (None, None)


@pytest.mark.parametrize("changed", [{"filepath": "legacy/elsewhere.pdf"}, {"storage_type": "s3"}])
def test_an_encrypted_row_changed_during_the_copy_is_skipped(disk_files, buckets, changed):
    row = disk_files.legacy(payload(3000), size=2000, encryption=ENVELOPE)
    result, copied = committed_after_change(row, **changed)
    assert (result.status, result.error) == ("skipped", CHANGED)
    assert reloaded(row).storage_path is None


def test_an_encrypted_row_switched_to_another_store_names_that_store(disk_files, buckets):
    row = disk_files.in_store(payload(3000), buckets["s3"], size=2000, encryption=ENVELOPE)
    result = migrator(source="s3", target="minio").migrate(snap(row))
    assert result.status == "done", result.error
    switched = reloaded(row)
    assert (switched.storage_type, switched.storage_path, switched.encryption) == ("minio", result.key, ENVELOPE)


def test_encrypted_on_the_way_a_row_takes_the_size_of_the_file_it_was_made_from(disk_files, buckets, hybrid_encryption):
    data = payload(1000)
    row = disk_files.legacy(data, size=999)  # recorded before the file was last written
    result = migrator().migrate(snap(row))
    assert result.status == "done", result.error
    assert (reloaded(row).size, reloaded(row).sha256) == (len(data), sha(data))
