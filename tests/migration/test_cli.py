"""`flask storage migrate|verify|cancel|purge-quarantine|orphans`: output, exit status, refusals."""

from __future__ import annotations

import gc
import io
import os
import time

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.migration import lifecycle, processes, run_state
from portal.migration.cli import ProgressPrinter
from portal.migration.models import MigrationRun, utcnow
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment, AuditEvent
from tests.migration.factory import payload
from tests.support.buckets import object_keys
from tests.support.migration import migrate_everything
from tests.support.store_faults import refusing


def test_migrate_shows_progress_and_a_summary(runner, files, store):
    for _ in range(3):
        files.legacy(payload(2048))
    result = runner.invoke(args=["storage", "migrate", "s3", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Run #1: migration to s3, 3 file(s), 6.0 KiB." in result.output
    assert "100% [########################] 3/3 files, 6.0 KiB/6.0 KiB" in result.output
    assert "Run #1 completed: 3 moved (6.0 KiB), 0 failed, 0 skipped" in result.output


def test_the_cli_settles_its_heap_and_a_run_in_a_shared_process_does_not(runner, files, store):
    files.legacy(payload(10))
    migrate_everything()
    assert gc.get_freeze_count() == 0  # a web worker or a test: its heap stays collectable
    files.legacy(payload(10))
    result = runner.invoke(args=["storage", "migrate", "s3"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() > 0


def test_migrate_exits_1_and_lists_failures(runner, files, store):
    gone = files.legacy(payload(10), path="old/gone.pdf")
    files.path_of(gone).unlink()
    files.legacy(payload(10))
    result = runner.invoke(args=["storage", "migrate", "s3"])
    assert result.exit_code == 1
    assert "1 moved" in result.output and "1 failed" in result.output
    assert "failed: attachment #1 (old/gone.pdf): source missing" in result.output


def test_dry_run_reports_bytes_and_missing_files_and_changes_nothing(runner, files, store):
    files.legacy(payload(1500))
    gone = files.legacy(payload(10), path="old/lost.pdf")
    files.path_of(gone).unlink()
    files.legacy(payload(100), table="attachment_staging")
    result = runner.invoke(args=["storage", "migrate", "s3", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "attachment: 1 file(s), 1.5 KiB would move" in result.output
    assert "attachment_staging: 1 file(s), 100 B would move" in result.output
    assert "total: 2 file(s), 1.6 KiB (1600 bytes)" in result.output
    assert "attachment #2: old/lost.pdf" in result.output
    assert db.session.scalar(select(MigrationRun.id)) is None
    assert object_keys(store) == []
    no_staging = runner.invoke(args=["storage", "migrate", "s3", "--dry-run", "--no-staging", "--limit", "1"])
    assert "total: 1 file(s)" in no_staging.output and "staging" not in no_staging.output


def test_a_running_run_refuses_a_second_start_and_a_stalled_one_is_resumed(runner, files, store):
    files.legacy(payload(10))
    service = DocumentMigrationService()
    run = service.start_run(MigrationOptions())
    worker = lifecycle.attach_worker(db.engine, run.id, exclusive=False)  # a live process (this one)
    refused = runner.invoke(args=["storage", "migrate", "s3"])
    assert refused.exit_code == 1
    assert f"run #{run.id} (migration to s3, 0% done, running) is already active" in refused.output
    assert f"/admin/storage/runs/{run.id}" in refused.output and "--join" in refused.output
    joined = runner.invoke(args=["storage", "migrate", "s3", "--join"])
    if db.engine.dialect.name == "sqlite":
        assert joined.exit_code == 1 and "SQLite allows one migration process at a time" in joined.output
    else:
        assert joined.exit_code == 0 and f"Joining run #{run.id}" in joined.output
    lifecycle.stop_worker(db.engine, worker)
    if db.engine.dialect.name == "sqlite":
        resumed = runner.invoke(args=["storage", "migrate", "s3"])
        assert resumed.exit_code == 0, resumed.output
        assert f"Resuming run #{run.id}" in resumed.output and f"Run #{run.id} completed" in resumed.output
    assert db.session.scalar(select(Attachment.storage_type)) == "s3"


def test_run_id_must_name_an_active_migration_run(runner, files, store):
    assert "there is no migration run #99" in runner.invoke(args=["storage", "migrate", "s3", "--run-id", "99"]).output
    finished = migrate_everything()
    result = runner.invoke(args=["storage", "migrate", "s3", "--run-id", str(finished.id)])
    assert result.exit_code == 1 and "has ended (completed)" in result.output
    retry = runner.invoke(args=["storage", "migrate", "s3", "--retry-failed", "99"])
    assert retry.exit_code == 1 and "run #99 is not a finished migration run" in retry.output


def test_verify_passes_then_catches_a_deleted_and_a_corrupted_object(runner, files, store):
    keep, lose, corrupt = (files.legacy(payload(4096)) for _ in range(3))
    migrate_everything()
    db.session.expire_all()
    assert runner.invoke(args=["storage", "verify"]).exit_code == 0
    ok = runner.invoke(args=["storage", "verify", "--deep"])
    assert ok.exit_code == 0 and "Verified (deep) 3 object(s)" in ok.output and "3 ok, 0 mismatched" in ok.output
    store.delete(db.session.get(Attachment, lose.id).storage_path)
    target = db.session.get(Attachment, corrupt.id).storage_path
    # Same size, other bytes, written straight into the bucket behind the portal's back.
    store.client.put_object(Bucket=store.bucket, Key=target, Body=payload(4096))
    plain = runner.invoke(args=["storage", "verify"])
    assert plain.exit_code == 1
    assert f"MISMATCH attachment #{lose.id}" in plain.output and "object missing from the store" in plain.output
    deep = runner.invoke(args=["storage", "verify", "--deep"])
    assert deep.exit_code == 1, deep.output
    assert f"MISMATCH attachment #{corrupt.id} s3:{target}: SHA-256 mismatch" in deep.output
    assert "1 ok, 2 mismatched" in deep.output
    del keep


@pytest.mark.moto  # needs a store that keeps the SHA-256 sent (moto's fidelity patch)
def test_verify_uses_the_stores_checksum_and_size_without_reading(runner, files, store):
    import base64
    import hashlib

    row = files.legacy(payload(4096))
    shorter = files.legacy(payload(4096))
    migrate_everything()
    db.session.expire_all()
    key = db.session.get(Attachment, row.id).storage_path
    other = payload(4096)
    store.client.put_object(
        Bucket=store.bucket,
        Key=key,
        Body=other,
        ChecksumSHA256=base64.b64encode(hashlib.sha256(other).digest()).decode(),
    )
    store.client.put_object(Bucket=store.bucket, Key=db.session.get(Attachment, shorter.id).storage_path, Body=b"x")
    result = runner.invoke(args=["storage", "verify"])
    assert result.exit_code == 1
    assert "the store's checksum differs from the row's" in result.output
    assert "size mismatch: the store holds 1 bytes, the row expects 4096" in result.output


def test_cancel_command(runner, files, store):
    run = DocumentMigrationService().start_run(MigrationOptions())
    db.session.execute(update(MigrationRun).values(heartbeat_at=utcnow() - processes.STALE_AFTER))
    db.session.commit()
    assert f"Run #{run.id} is cancelled." in runner.invoke(args=["storage", "cancel", str(run.id)]).output
    again = runner.invoke(args=["storage", "cancel", str(run.id)])
    assert again.exit_code == 1 and "nothing to cancel" in again.output


def test_purge_quarantine_deletes_only_what_is_old_enough(runner, files, store, tmp_path):
    old = files.legacy(payload(100), path="a/old.pdf")
    new = files.legacy(payload(200), path="b/new.pdf")
    assert runner.invoke(args=["storage", "migrate", "s3", "--delete-source"]).exit_code == 0
    quarantine = tmp_path / "quarantine" / "legacy"
    week_ago = time.time() - 8 * 86400
    os.utime(quarantine / "a/old.pdf", (week_ago, week_ago))
    dry = runner.invoke(args=["storage", "purge-quarantine", "--older-than", "7d", "--dry-run"])
    assert "Would delete 1 quarantined file(s), 100 B" in dry.output and (quarantine / "a/old.pdf").exists()
    result = runner.invoke(args=["storage", "purge-quarantine", "--older-than", "7d"])
    assert result.exit_code == 0 and "Deleted 1 quarantined file(s), 100 B, older than 7d." in result.output
    assert not (quarantine / "a").exists() and (quarantine / "b/new.pdf").exists()
    bad = runner.invoke(args=["storage", "purge-quarantine", "--older-than", "soon"])
    assert bad.exit_code == 2 and "'soon' is not a duration" in bad.output
    del old, new


def test_purge_quarantine_with_a_store_down_purges_the_rest_and_says_which(runner, files, store, tmp_path):
    files.legacy(payload(100), path="a/old.pdf")
    assert runner.invoke(args=["storage", "migrate", "s3", "--delete-source"]).exit_code == 0
    quarantine = tmp_path / "quarantine" / "legacy"
    week_ago = time.time() - 8 * 86400
    os.utime(quarantine / "a/old.pdf", (week_ago, week_ago))
    outage = refusing(store)  # the bucket's own quarantine/ prefix cannot be listed
    result = runner.invoke(args=["storage", "purge-quarantine", "--older-than", "7d"])
    outage.down = False
    assert result.exit_code == 1
    assert "Deleted 1 quarantined file(s), 100 B, older than 7d." in result.output
    assert "Not purged: s3: " in result.output and not (quarantine / "a").exists()
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "quarantine.purge")).all()
    assert event.outcome == "failure" and '"files": 1' in event.detail and '"from": "cli"' in event.detail


def test_orphans_both_ways_and_delete(runner, files, store):
    files.legacy(payload(100))
    lost = files.legacy(payload(100))
    migrate_everything()
    db.session.expire_all()
    store.delete(db.session.get(Attachment, lost.id).storage_path)
    store.client.put_object(Bucket=store.bucket, Key="attachments/2026/11/stray", Body=b"left over")
    report = runner.invoke(args=["storage", "orphans"])
    assert report.exit_code == 1
    assert "object without row: s3:attachments/2026/11/stray (9 B) [kept]" in report.output
    assert f"row without object: attachment #{lost.id} -> s3:" in report.output
    young = runner.invoke(args=["storage", "orphans", "--delete"])
    assert "[too new]" in young.output and "attachments/2026/11/stray" in object_keys(store)
    deleted = runner.invoke(args=["storage", "orphans", "--delete", "--min-age", "0s"])
    assert "[deleted]" in deleted.output and "attachments/2026/11/stray" not in object_keys(store)
    assert "1 orphan(s) remain." in deleted.output  # the row is never deleted


def test_orphans_delete_waits_for_the_active_run(runner, files, store):
    DocumentMigrationService().start_run(MigrationOptions())
    result = runner.invoke(args=["storage", "orphans", "--delete"])
    assert result.exit_code == 1 and "is active and writes objects before their rows" in result.output


def test_progress_line_redraws_in_place_on_a_terminal(files, store):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    run = DocumentMigrationService().start_run(MigrationOptions())
    screen = Terminal()
    printer = ProgressPrinter(screen)
    printer.update(run)
    printer.finish(run_state.fetch_run(db.engine, run.id))
    assert screen.getvalue().count("\r") == 1 and screen.getvalue().endswith("\n")
    assert "  0% [........................] 0/0 files" in screen.getvalue()
    printer.update(run_state.fetch_run(db.engine, run.id))  # nothing new: nothing redrawn
    assert screen.getvalue().count("\r") == 1


@pytest.mark.parametrize("text, seconds", [("7d", 604800), ("12h", 43200), ("1w2d", 777600), ("0s", 0), ("30m", 1800)])
def test_durations(text, seconds):
    from portal.formatting import parse_duration

    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-1d", "7d!"])
def test_bad_durations(text):
    from portal.formatting import parse_duration

    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "revision, command",
    [
        ("0003_checksums_encryption", ["storage", "migrate", "s3"]),  # no run tables yet
        ("0002_add_object_storage_columns", ["storage", "verify"]),  # no sha256 column to read
    ],
)
def test_a_database_not_at_head_gives_one_clear_line(tmp_path, moto_endpoint, bucket_name, revision, command):
    from flask_migrate import upgrade

    from tests.databases import scratch_database
    from tests.support.apps import make_app
    from tests.support.migration import s3_config
    from tests.support.stores import S3Server

    with scratch_database(tmp_path / "old") as url:  # its own database: the shared one stays at head
        app = make_app(tmp_path, url, **s3_config(tmp_path, S3Server("moto", moto_endpoint), bucket_name))
        with app.app_context():
            upgrade(revision=revision)
            result = app.test_cli_runner().invoke(args=command)
            db.session.remove()
            db.engine.dispose()
    assert result.exit_code == 1
    assert "Error: the database refused (" in result.output and "`flask db upgrade`" in result.output
    assert "Traceback" not in result.output


@pytest.mark.moto
def test_s3_and_minio_without_minio_settings_are_one_store(runner, store):
    result = runner.invoke(args=["storage", "migrate", "minio", "--from", "s3"])
    assert result.exit_code == 1
    assert "'s3' and 'minio' are the same store here; set MINIO_* for a separate minio store" in result.output
    assert db.session.scalar(select(MigrationRun)) is None
