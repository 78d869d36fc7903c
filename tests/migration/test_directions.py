"""Moving files between any two stores: local -> s3 -> minio -> local, on two S3 servers over HTTP.

On moto the `minio` store is a second moto server (its own endpoint: every byte passes the portal); on
the RGW it is a second bucket of the same gateway with the same keys, so objects are copied inside the
store (CopyObject) and proven by the store's own checksum of the copy.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from portal.auth.service import create_user
from portal.documents.service import DocumentStorageService
from portal.documents.trash import TrashService
from portal.extensions import db, storage
from portal.migration import items
from portal.migration.models import MigrationItem, MigrationRun
from portal.migration.options import MigrationOptions
from portal.migration.quarantine import ObjectQuarantine
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment, AttachmentStaging
from portal.object_keys import QUARANTINE_PREFIX
from portal.storage.base import StorageIntegrityError
from portal.storage.s3 import S3StorageProvider
from tests.migration.factory import Files, many_legacy, payload
from tests.support.accounts import PASSWORD, AuthActions
from tests.support.buckets import object_keys
from tests.support.files import owed_keys
from tests.support.migration import (
    flask_subprocess,
    latest_run,
    minio_settings,
    s3_config,
    wait_for_end,
    wait_for_items_done,
)
from tests.support.store_faults import refusing

MODELS = {"attachment": Attachment, "attachment_staging": AttachmentStaging}


@pytest.fixture
def one_endpoint(s3_server) -> bool:
    """Whether `minio` is a second bucket on the `s3` store's own endpoint (a test may parametrize it)."""
    return s3_server.name == "rgw"


@pytest.fixture
def one_bucket() -> bool:
    """Whether MINIO_* name the S3_* bucket itself (a test may parametrize it)."""
    return False


@pytest.fixture
def app_config(tmp_path, s3_server, bucket_name, one_endpoint, one_bucket, request):
    endpoint = s3_server.endpoint if one_endpoint else request.getfixturevalue("second_moto_endpoint")
    minio = minio_settings(s3_server, endpoint)
    if one_bucket:  # True, or how else the same endpoint may be written ("/": with a trailing slash)
        suffix = one_bucket if isinstance(one_bucket, str) else ""
        minio.update(MINIO_BUCKET=bucket_name, MINIO_ENDPOINT_URL=s3_server.endpoint + suffix)
    return {**s3_config(tmp_path, s3_server, bucket_name), **minio}


@pytest.fixture
def files(app, stores) -> Files:
    return Files(app)


@pytest.fixture
def reader(app):
    """A signed-in staff member's client: what downloads see."""
    create_user("reader@example.com", "Rita Reader", PASSWORD)
    client = app.test_client()
    AuthActions(client).login("reader@example.com")
    return client


def some_rows(files: Files) -> dict[tuple[str, int], bytes]:
    """Legacy, local-store and staged rows, small and large (a 300 KiB file streams instead of one PUT)."""
    contents = {}
    for data in (payload(100), payload(20_000), payload(300_000)):
        contents["attachment", files.legacy(data).id] = data
    local = payload(5_000)
    contents["attachment", files.local(local).id] = local
    staged = payload(3_000)
    contents["attachment_staging", files.legacy(staged, table="attachment_staging").id] = staged
    return contents


def rows() -> list:
    db.session.expire_all()
    return [(table, row) for table, model in MODELS.items() for row in db.session.scalars(select(model))]


def download(client, row_id: int) -> bytes:
    """What a browser gets for an attachment: the portal's answer, then the store's for a redirect."""
    response = client.get(f"/attachments/{row_id}/download")
    if response.status_code == 200:  # encrypted: decrypted and streamed by the portal
        return response.get_data()
    assert response.status_code == 302, response.status_code
    if response.location.startswith("http://127.0.0.1"):
        fetched = requests.get(response.location, timeout=10)
        assert fetched.status_code == 200
        return fetched.content
    return client.get(response.location).get_data()


def assert_all_in(store_name: str, contents: dict, client) -> None:
    """Every row is in ``store_name`` with exactly its bytes, read through the portal and downloaded."""
    service = DocumentStorageService()
    found = rows()
    assert len(found) == len(contents)
    for table, row in found:
        assert row.storage_type == store_name, (table, row.id, row.storage_type)
        assert b"".join(service.open(row)) == contents[table, row.id], (table, row.id)
        if table == "attachment":
            assert download(client, row.id) == contents[table, row.id]


def migrate(runner, *args: str):
    result = runner.invoke(args=["storage", "migrate", *args])
    assert result.exit_code == 0, result.output
    return result


def verify_deep(runner, count: int) -> None:
    result = runner.invoke(args=["storage", "verify", "--deep"])
    assert result.exit_code == 0 and f"{count} ok, 0 mismatched" in result.output, result.output


def test_local_to_s3_to_minio_to_local_round_trip(app, files, stores, reader):
    s3, minio = stores
    contents = some_rows(files)
    runner = app.test_cli_runner()

    moved = migrate(runner, "s3")
    assert f"{len(contents)} moved" in moved.output
    assert_all_in("s3", contents, reader)
    verify_deep(runner, len(contents))

    moved = migrate(runner, "minio", "--from", "s3", "--batch-size", "2")
    assert f"migration from s3 to minio, {len(contents)} file(s)" in moved.output
    assert f"{len(contents)} moved" in moved.output and "0 failed" in moved.output
    assert_all_in("minio", contents, reader)
    assert len(object_keys(minio)) == len(contents)
    verify_deep(runner, len(contents))

    moved = migrate(runner, "local", "--from", "minio")
    assert f"{len(contents)} moved" in moved.output
    assert_all_in("local", contents, reader)
    local = storage.get("local")
    for _, row in rows():
        assert local.local_path(row.storage_path).read_bytes() == contents[row.__tablename__, row.id]
    verify_deep(runner, len(contents))

    history = db.session.scalars(select(MigrationRun).order_by(MigrationRun.id)).all()
    assert [(run.source, run.target, run.status) for run in history] == [
        ("local", "s3", "completed"),
        ("s3", "minio", "completed"),
        ("minio", "local", "completed"),
    ]


def test_verify_checks_rows_back_on_the_local_disk_and_catches_a_changed_file(app, files, stores):
    some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    migrate(runner, "local", "--from", "s3")
    (_, changed), (_, gone) = rows()[0], rows()[1]
    local = storage.get("local")
    path = local.local_path(changed.storage_path)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one bit pattern flipped, same size: only deep sees it
    local.local_path(gone.storage_path).unlink()

    shallow = runner.invoke(args=["storage", "verify"])
    assert shallow.exit_code == 1
    assert f"MISMATCH attachment #{gone.id} local:{gone.storage_path}: object missing" in shallow.output
    assert f"#{changed.id} " not in shallow.output

    deep = runner.invoke(args=["storage", "verify", "--deep"])
    assert deep.exit_code == 1
    assert f"MISMATCH attachment #{changed.id} local:{changed.storage_path}: SHA-256 mismatch" in deep.output
    assert f"MISMATCH attachment #{gone.id} local:" in deep.output


def test_a_dry_run_between_object_stores_changes_nothing(app, files, stores):
    s3, _ = stores
    contents = some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    before = [(table, row.id, row.storage_type, row.storage_path) for table, row in rows()]
    gone = rows()[0][1]
    s3.delete(gone.storage_path)

    dry = runner.invoke(args=["storage", "migrate", "minio", "--from", "s3", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"total: {len(contents) - 1} file(s)" in dry.output
    assert "1 row(s) would fail because their object in s3 is missing:" in dry.output
    assert [(table, row.id, row.storage_type, row.storage_path) for table, row in rows()] == before
    assert object_keys(storage.get("minio")) == []
    assert db.session.scalar(select(MigrationRun).where(MigrationRun.source == "s3")) is None


def test_a_tampered_source_fails_its_row_and_a_tampered_target_is_caught(app, files, stores):
    s3, minio = stores
    some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    (_, bad), (_, good) = rows()[0], rows()[1]
    s3.save(bad.storage_path, _bytes(b"not the file at all"))

    moved = runner.invoke(args=["storage", "migrate", "minio", "--from", "s3"])
    assert moved.exit_code == 1
    assert f"failed: attachment #{bad.id}" in moved.output and "checksum mismatch" in moved.output
    db.session.expire_all()
    assert db.session.get(Attachment, bad.id).storage_type == "s3"  # still reads the copy it had

    minio.save(db.session.get(Attachment, good.id).storage_path, _bytes(payload(20_000, seed="other")))
    verified = runner.invoke(args=["storage", "verify", "--deep"])
    assert verified.exit_code == 1
    assert f"MISMATCH attachment #{good.id} minio:" in verified.output, verified.output


@pytest.mark.parametrize("one_endpoint", [False, True], ids=["through-the-portal", "inside-the-store"])
def test_a_source_object_gone_fails_its_row_and_the_rest_move(app, files, stores, one_endpoint):
    s3, minio = stores
    contents = some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    small, large = rows()[0][1], rows()[2][1]  # 100 bytes (read whole) and 300 KiB (streamed)
    for row in (small, large):
        s3.delete(row.storage_path)
    moved = runner.invoke(args=["storage", "migrate", "minio", "--from", "s3"])
    assert moved.exit_code == 1
    assert f"{len(contents) - 2} moved" in moved.output and "2 failed" in moved.output
    for row in (small, large):
        assert f"failed: attachment #{row.id} ({row.storage_path}): source missing: no object" in moved.output
    db.session.expire_all()
    assert {db.session.get(Attachment, row.id).storage_type for row in (small, large)} == {"s3"}
    assert len(object_keys(minio)) == len(contents) - 2


def _bytes(data: bytes):
    import io

    return io.BytesIO(data)


def test_encrypted_rows_move_as_ciphertext_and_stay_readable(app, files, stores, reader, hybrid_encryption):
    from portal.storage.encryption import ENVELOPE_METADATA

    contents = {("attachment", files.legacy(data).id): data for data in (payload(1000), payload(400_000))}
    runner = app.test_cli_runner()
    migrate(runner, "s3")  # encrypted on the way
    envelopes = {row.id: row.encryption for _, row in rows()}
    assert all(envelopes.values())

    migrate(runner, "minio", "--from", "s3")
    assert_all_in("minio", contents, reader)
    verify_deep(runner, len(contents))
    migrate(runner, "local", "--from", "minio")
    assert_all_in("local", contents, reader)
    local = storage.get("local")
    for _, row in rows():
        assert row.encryption == envelopes[row.id]  # the same envelope: nothing was decrypted or re-encrypted
        on_disk = local.local_path(row.storage_path).read_bytes()
        assert contents["attachment", row.id][:500] not in on_disk  # ciphertext on the portal's disk
        assert local.stat(row.storage_path).metadata[ENVELOPE_METADATA] == row.encryption


def test_delete_source_quarantines_objects_in_their_own_bucket(app, files, stores):
    s3, minio = stores
    contents = some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    s3_keys = sorted(row.storage_path for _, row in rows())
    migrate(runner, "minio", "--from", "s3", "--delete-source")
    assert object_keys(s3, "attachments/") == object_keys(s3, "staging/") == []
    quarantined = object_keys(s3, QUARANTINE_PREFIX)
    assert sorted(key.split("/", 2)[2] for key in quarantined) == s3_keys
    for key in quarantined:  # restorable: the very bytes
        original = key.split("/", 2)[2]
        assert hashlib.sha256(b"".join(s3.open(key))).hexdigest() in original or original.startswith("staging/")

    not_yet = runner.invoke(args=["storage", "purge-quarantine", "--older-than", "1d"])
    assert not_yet.exit_code == 0 and "Deleted 0 quarantined file(s)" in not_yet.output
    assert len(object_keys(s3, QUARANTINE_PREFIX)) == len(contents)
    report = ObjectQuarantine(s3).purge(timedelta(hours=1), now=datetime.now(UTC) + timedelta(hours=2))
    assert report.files == len(contents)
    assert object_keys(s3, QUARANTINE_PREFIX) == []
    assert len(object_keys(minio)) == len(contents)  # the moved copies are untouched


def test_a_row_whose_object_the_source_bucket_quarantined_is_never_marked_lost(app, files, stores, admin_client):
    """s3 → minio with "delete source" keeps the s3 object under quarantine/; minio then loses its copy: the
    missing list points at the quarantined object and "mark as lost" refuses to remove the row."""
    _, minio = stores
    row = files.legacy(payload(100), name="moved.pdf")
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    migrate(runner, "minio", "--from", "s3", "--delete-source")
    db.session.expire_all()
    minio.delete(db.session.get(Attachment, row.id).storage_path)
    service = DocumentMigrationService()
    service.verify_run(service.start_verify_run(False))
    page = admin_client.get("/admin/storage/missing").get_data(as_text=True)
    assert "In the quarantine" in page and f"s3:{QUARANTINE_PREFIX}" in page and "Mark moved.pdf as lost" not in page
    [found] = db.session.scalars(select(MigrationItem.id).where(MigrationItem.status != "done")).all()
    refused = admin_client.post(
        f"/admin/storage/missing/{found}/lost", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert "moved.pdf is not lost: a copy waits in the quarantine" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Attachment, row.id) is not None


def test_the_dashboard_never_offers_first_a_move_away_from_where_the_portal_stores(app, files, stores, admin_client):
    """Every file already in s3 (STORAGE_TYPE): the form offers s3 as the target, not s3 → the local disk."""
    some_rows(files)
    migrate(app.test_cli_runner(), "s3")
    page = admin_client.get("/admin/storage").get_data(as_text=True)

    def chosen(name: str) -> str:
        picker = page.split(f'name="{name}"')[1].split("</select>")[0]
        return re.search(r'<option selected value="(\w+)"', picker).group(1)

    assert app.config["STORAGE_TYPE"] == "s3"
    assert chosen("target") == "s3" and chosen("source") != "s3"


@pytest.mark.moto
@pytest.mark.parametrize("one_endpoint", [True])
def test_buckets_on_one_endpoint_copy_inside_the_store(app, files, stores, monkeypatch, one_endpoint):
    """Same endpoint, same keys: CopyObject, never a byte through the portal, proven by the copy's checksum."""
    _, minio = stores
    contents = {("attachment", files.legacy(data).id): data for data in (payload(100), payload(300_000))}
    runner = app.test_cli_runner()
    migrate(runner, "s3")

    def no_upload(*args, **kwargs):
        raise AssertionError("a server-side move must not upload through the portal")

    monkeypatch.setattr(S3StorageProvider, "save", no_upload)
    moved = migrate(runner, "minio", "--from", "s3")
    assert f"{len(contents)} moved" in moved.output
    assert f"{len(contents)} by the store's SHA-256 checksum" in moved.output
    for _, row in rows():
        assert row.storage_type == "minio"
        assert b"".join(minio.open(row.storage_path)) == contents["attachment", row.id]


@pytest.mark.parametrize("one_endpoint", [True])
def test_a_retried_copy_inside_the_store_withdraws_the_deletion_its_failed_attempt_left(
    app, files, stores, monkeypatch, one_endpoint
):
    """Keys are deterministic: the first attempt's refused cleanup owes a deletion of the very key the retry
    copies to; the retry withdraws it first, so no `maintain` can delete the copy its row then points at."""
    _, minio = stores
    data = payload(20_000)
    row = files.legacy(data)
    runner = app.test_cli_runner()
    migrate(runner, "s3")

    def mismatch(*args, **kwargs):
        raise StorageIntegrityError("checksum mismatch: the store holds other bytes")

    monkeypatch.setattr(items, "verify_copy", mismatch)
    to_minio = MigrationOptions(target="minio", source="s3")
    deletes = refusing(minio, "DeleteObject")
    first = DocumentMigrationService().migrate_attachment(db.session.get(Attachment, row.id), to_minio)
    assert first.status == "failed" and deletes.refused >= 1
    assert owed_keys() == [first.key] and first.key in object_keys(minio)
    monkeypatch.undo()
    deletes.down = False
    second = DocumentMigrationService().migrate_attachment(db.session.get(Attachment, row.id), to_minio)
    assert second.status == "done" and second.key == first.key, second.error
    assert owed_keys() == []
    assert "0 deleted, 0 dropped" in runner.invoke(args=["storage", "maintain"]).output
    assert b"".join(minio.open(second.key)) == data


@pytest.mark.moto
def test_sigkill_during_s3_to_minio_then_a_restart_leaves_one_object_per_row(app, files, stores):
    s3, minio = stores
    contents = {("attachment", key): data for key, data in many_legacy(files, 200, 16384).items()}
    code, output = flask_subprocess(app, "storage", "migrate", "s3").finish()
    assert code == 0, output
    first = latest_run()

    # Copies after the 30th hold until the kill: killed with exactly 30 rows switched to minio and more
    # claimed, however fast or slow the machine.
    args = ("storage", "migrate", "minio", "--from", "s3", "--batch-size", "10", "--workers", "3")
    child = flask_subprocess(app, *args, pause_after=30)
    wait_for_items_done(child, 30, after=first)
    os.kill(child.pid, signal.SIGKILL)
    child.finish()
    killed = latest_run()
    assert (killed.source, killed.is_active, killed.items_done) == ("s3", True, 30)

    code, output = flask_subprocess(app, "storage", "migrate", "minio", "--from", "s3").finish()
    assert code == 0, output
    assert f"Resuming run #{killed.id}" in output and f"Run #{killed.id} completed" in output
    keys = []
    for _, row in rows():
        assert row.storage_type == "minio"
        assert b"".join(minio.open(row.storage_path)) == contents["attachment", row.id]
        keys.append(row.storage_path)
    assert sorted(object_keys(minio)) == sorted(keys) and len(set(keys)) == len(contents)
    code, output = flask_subprocess(app, "storage", "verify", "--deep").finish()
    assert code == 0 and f"{len(contents)} ok, 0 mismatched" in output, output


@pytest.mark.moto
@pytest.mark.parametrize(
    "args, message",
    [
        (["local"], "source and target are both 'local'"),
        (["s3", "--from", "s3"], "source and target are both 's3'"),
    ],
)
def test_a_run_needs_two_different_stores(app, stores, args, message):
    result = app.test_cli_runner().invoke(args=["storage", "migrate", *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert db.session.scalar(select(MigrationRun)) is None


def test_the_local_disk_named_as_source_is_the_default_source():
    named = MigrationOptions(target="minio", source="local")
    assert named == MigrationOptions(target="minio") and named.source is None
    assert MigrationOptions.from_json(named.to_json()) == named


def test_the_dashboard_picks_source_and_target_and_shows_the_direction(app, files, stores, admin_client):

    contents = some_rows(files)
    migrate(app.test_cli_runner(), "s3")
    page = admin_client.get("/admin/storage").get_data(as_text=True)
    form = page.split('action="/admin/storage/runs"')[1].split("</form>")[0]
    assert f"S3: {len(contents)} files" in form and "MinIO: 0 files, 0 B" in form and "Local disk: 0 files" in form

    start = {"source": "s3", "target": "minio", "batch_size": "10", "workers": "2", "verify": "readback"}
    dry = admin_client.post("/admin/storage/runs", data={**start, "dry_run": "y", "include_staging": "y"})
    assert "Dry run: migration from s3 to minio" in dry.get_data(as_text=True)
    assert db.session.scalar(select(MigrationRun)).source == "local"  # the dry run started nothing

    started = admin_client.post("/admin/storage/runs", data={**start, "include_staging": "y"})
    assert started.status_code == 302
    run = wait_for_end(int(started.location.rsplit("/", 1)[1]))
    assert (run.source, run.target, run.status, run.items_done) == ("s3", "minio", "completed", len(contents))
    assert all(row.storage_type == "minio" for _, row in rows())
    detail = admin_client.get(f"/admin/storage/runs/{run.id}").get_data(as_text=True)
    assert "migration from s3 to minio" in detail and "s3 → minio" in detail
    history = admin_client.get("/admin/storage").get_data(as_text=True).split('id="run-history"')[1]
    assert "s3 → minio" in history and "local → s3" in history

    same = admin_client.post("/admin/storage/runs", data={**start, "source": "minio"}, follow_redirects=True)
    assert "Not started: source and target are both &#39;minio&#39;" in same.get_data(as_text=True)


def test_orphans_after_leaving_a_store_are_the_objects_left_behind(app, files, stores):
    contents = some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    left = sorted(row.storage_path for _, row in rows())
    migrate(runner, "minio", "--from", "s3")
    found = runner.invoke(args=["storage", "orphans"])
    assert found.exit_code == 1
    listed = sorted(line.split("s3:", 1)[1].split(" (")[0] for line in found.output.splitlines() if "s3:" in line)
    assert listed == left
    assert "minio:" not in found.output  # every minio object has its row
    assert f"{len(contents)} orphan(s) remain." in found.output


def test_rotate_key_rewraps_rows_in_both_object_stores(app, files, stores, tmp_path):
    from portal.storage.encryption import ENVELOPE_METADATA
    from portal.storage.keys import Envelope, write_keypair
    from tests.support.settings import restart_with

    old, new = write_keypair(tmp_path / "old"), write_keypair(tmp_path / "new")
    keys = [str(tmp_path / "old" / f"{old}.key.pem"), str(tmp_path / "new" / f"{new}.key.pem")]
    restart_with(
        app,
        STORAGE_ENCRYPTION="hybrid",
        STORAGE_ENCRYPTION_PUBLIC_KEY=str(tmp_path / "old" / f"{old}.pub.pem"),
        STORAGE_ENCRYPTION_PRIVATE_KEYS=keys[:1],
    )
    contents = {("attachment", files.legacy(data).id): data for data in (payload(1000), payload(2000))}
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    migrate(runner, "minio", "--from", "s3", "--limit", "1")
    assert sorted(row.storage_type for _, row in rows()) == ["minio", "s3"]

    restart_with(
        app,
        STORAGE_ENCRYPTION="hybrid",
        STORAGE_ENCRYPTION_PUBLIC_KEY=str(tmp_path / "new" / f"{new}.pub.pem"),
        STORAGE_ENCRYPTION_PRIVATE_KEYS=keys,
    )
    rotated = app.test_cli_runner().invoke(args=["storage", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    service = DocumentStorageService()
    for _, row in rows():
        assert Envelope.from_text(row.encryption).key_id == new
        assert storage.get(row.storage_type).stat(row.storage_path).metadata[ENVELOPE_METADATA] == row.encryption
        assert b"".join(service.open(row)) == contents["attachment", row.id]


@pytest.mark.moto
@pytest.mark.parametrize("one_bucket", [True, "/"], ids=["same-endpoint", "endpoint-with-slash"])
def test_minio_settings_naming_the_s3_bucket_are_one_store(app, files, stores, one_bucket):
    """Rows written as `minio` before MINIO_* existed, with MINIO_* then set to that same bucket: neither
    name's objects are orphans of the other, and no run moves between them."""
    some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    first = rows()[0][1]
    db.session.execute(Attachment.__table__.update().where(Attachment.id == first.id).values(storage_type="minio"))
    db.session.commit()
    found = runner.invoke(args=["storage", "orphans"])
    assert found.exit_code == 0 and "No orphans." in found.output, found.output
    refused = runner.invoke(args=["storage", "migrate", "minio", "--from", "s3"])
    assert refused.exit_code == 1 and "are the same store here" in refused.output
    verify_deep(runner, len(rows()))


def test_deleting_rows_deletes_from_the_store_each_names(app, files, stores):
    s3, minio = stores
    some_rows(files)
    runner = app.test_cli_runner()
    migrate(runner, "s3")
    migrate(runner, "minio", "--from", "s3", "--limit", "2")
    in_s3 = [row for table, row in rows() if table == "attachment" and row.storage_type == "s3"]
    in_minio = [row for table, row in rows() if table == "attachment" and row.storage_type == "minio"]
    assert in_s3 and in_minio
    admin = create_user("purger@example.com", "Pat Purger", PASSWORD, is_admin=True)
    trash = TrashService()
    for row, store in ((in_s3[0], s3), (in_minio[0], minio)):
        key = row.storage_path
        assert store.exists(key)
        trash.trash_attachment(row, admin)
        assert trash.purge(timedelta(0)).attachments == 1
        assert not store.exists(key)
    assert all(s3.exists(row.storage_path) for row in in_s3[1:])
    assert all(minio.exists(row.storage_path) for row in in_minio[1:])
