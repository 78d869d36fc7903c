"""Runs: batches, limits, staging, quarantine, the single active run, resuming and cancelling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from portal.extensions import db
from portal.migration import lifecycle, processes, run_state
from portal.migration.errors import MigrationError, RunConflict
from portal.migration.models import MigrationItem, MigrationRun, MigrationWorker, utcnow
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.migration.worker import RunWorker
from portal.models import Attachment, AttachmentStaging
from tests.migration.factory import payload
from tests.support.buckets import object_keys


def run_all(options: MigrationOptions | None = None, **kwargs) -> MigrationRun:
    service = DocumentMigrationService()
    run = service.start_run(options or MigrationOptions(**kwargs))
    return service.migrate_all_attachments(run)


def locations(model) -> list[str]:
    db.session.expire_all()
    return [row.location for row in db.session.scalars(select(model).order_by(model.id))]


def test_a_run_moves_everything_in_batches_and_records_each_item(files, store):
    legacy = [files.legacy(payload(1000 + n)) for n in range(7)]
    files.local(payload(500))
    files.legacy(payload(64), table="attachment_staging")
    run = run_all(batch_size=3, workers=2)
    assert (run.status, run.active, run.items_total, run.items_done, run.items_failed) == ("completed", None, 9, 9, 0)
    assert run.bytes_done == sum(1000 + n for n in range(7)) + 500 + 64
    assert locations(Attachment) == ["s3"] * 8 and locations(AttachmentStaging) == ["s3"]
    statuses = db.session.scalars(select(MigrationItem.status).where(MigrationItem.run_id == run.id)).all()
    assert statuses == ["done"] * 9
    assert len(object_keys(store)) == 9
    assert all(files.path_of(row).exists() for row in legacy)


def test_failures_are_recorded_and_the_run_goes_on(files, store):
    good = files.legacy(payload(100))
    gone = files.legacy(payload(100))
    files.path_of(gone).unlink()
    run = run_all()
    assert (run.status, run.items_done, run.items_failed) == ("completed", 1, 1)
    assert "1 failed" in run.message
    failed = db.session.scalars(select(MigrationItem).where(MigrationItem.status == "failed")).one()
    assert (failed.row_id, failed.table_name) == (gone.id, "attachment")
    assert failed.error.startswith("source missing")
    assert locations(Attachment) == ["s3", "legacy"]
    del good


def test_retry_of_a_run_takes_only_its_failed_rows(files, store):
    first = files.legacy(payload(100))
    files.path_of(first).unlink()
    failed_run = run_all()
    files.path_of(first).write_bytes(payload(100))  # the operator restored the file
    files.legacy(payload(100))  # a row that appeared later is not part of the retry
    retry = run_all(MigrationOptions(retry_of=failed_run.id))
    assert (retry.items_total, retry.items_done, retry.items_failed) == (1, 1, 0)
    assert locations(Attachment) == ["s3", "legacy"]


def test_limit_and_no_staging(files, store):
    for _ in range(5):
        files.legacy(payload(50))
    files.legacy(payload(50), table="attachment_staging")
    run = run_all(limit=3, include_staging=False, batch_size=2)
    assert (run.items_total, run.items_done) == (3, 3)
    assert locations(Attachment).count("s3") == 3
    assert locations(AttachmentStaging) == ["legacy"]


def test_delete_source_quarantines_after_the_switch_but_keeps_shared_files(files, store, app, tmp_path):
    alone = files.legacy(payload(100), path="old/alone.pdf")
    shared = files.legacy(payload(100), path="old/shared.pdf")
    files.legacy(files.path_of(shared).read_bytes(), path="old/shared.pdf", table="attachment_staging")
    local_key = files.local(payload(100)).storage_path
    run_all(include_staging=False, delete_source=True)
    quarantine = tmp_path / "quarantine"
    assert not files.path_of(alone).exists()
    assert (quarantine / "legacy/old/alone.pdf").read_bytes() == b"".join(
        store.open(db.session.get(Attachment, alone.id).storage_path)
    )
    assert files.path_of(shared).exists()  # staging rows still read it
    items = db.session.scalars(select(MigrationItem).where(MigrationItem.row_id == shared.id)).all()
    assert items[0].status == "done"
    local_path = app.extensions["storage"].local.root / local_key
    assert not local_path.exists() and (quarantine / "local" / local_key).exists()
    assert (
        quarantine / "local" / local_path.parent.relative_to(local_path.parents[3]) / f".{local_path.name}.meta.json"
    ).exists()  # the sidecar went along


def test_only_one_run_is_active_and_the_refusal_names_it(files, store):
    service = DocumentMigrationService()
    first = service.start_run(MigrationOptions())
    with pytest.raises(RunConflict) as refused:
        service.start_run(MigrationOptions(target="s3", workers=1))
    assert refused.value.run.id == first.id
    assert f"run #{first.id}" in str(refused.value) and f"/admin/storage/runs/{first.id}" in str(refused.value)
    with pytest.raises(RunConflict):
        service.start_verify_run(deep=False)


def test_processes_per_run_one_on_sqlite_several_on_postgresql_and_a_dead_one_is_taken_over(files, store):
    service = DocumentMigrationService()
    run = service.start_run(MigrationOptions())
    engine = db.engine
    exclusive = service._exclusive()
    assert exclusive == (engine.dialect.name == "sqlite")
    lifecycle.attach_worker(engine, run.id, exclusive=exclusive)  # this process, alive
    if exclusive:
        with pytest.raises(RunConflict) as refused:
            lifecycle.attach_worker(engine, run.id, exclusive=True)
        assert "one migration process at a time" in str(refused.value)
    else:
        assert lifecycle.attach_worker(engine, run.id, exclusive=False)
        assert len(processes.live_workers(engine, run.id)) == 2
    # The worker falls silent: after STALE_AFTER it no longer counts, and its claims are released.
    db.session.execute(
        update(MigrationWorker).values(heartbeat_at=utcnow() - processes.STALE_AFTER - timedelta(seconds=1))
    )
    db.session.execute(update(MigrationRun).values(heartbeat_at=utcnow() - processes.STALE_AFTER))
    db.session.commit()
    assert run_state.run_state(run_state.fetch_run(engine, run.id), engine) == "stalled"
    assert processes.live_workers(engine, run.id) == []
    assert lifecycle.attach_worker(engine, run.id, exclusive=exclusive)


def test_a_crashed_workers_claims_are_released_and_moved_by_the_next(files, store):
    rows = [files.legacy(payload(100)) for _ in range(4)]
    service = DocumentMigrationService()
    run = service.start_run(MigrationOptions(batch_size=2))
    engine = db.engine
    from portal.migration.claims import claim_batch

    dead = lifecycle.attach_worker(engine, run.id, exclusive=False)
    claimed = claim_batch(engine, run.id, dead, "attachment", 0, 2)
    assert [row.id for row in claimed] == [rows[0].id, rows[1].id]
    db.session.execute(update(MigrationWorker).where(MigrationWorker.id == dead).values(pid=2**22 + 7))  # gone
    db.session.commit()
    finished = service.migrate_all_attachments(run_state.fetch_run(engine, run.id))
    assert (finished.status, finished.items_done) == ("completed", 4)
    assert locations(Attachment) == ["s3"] * 4
    assert db.session.scalar(select(func.count()).select_from(MigrationItem)) == 4


def test_cancel_of_a_run_nobody_works_on_ends_it_at_once(files, store):
    run = DocumentMigrationService().start_run(MigrationOptions())
    db.session.execute(update(MigrationRun).values(heartbeat_at=utcnow() - processes.STALE_AFTER))
    db.session.commit()
    cancelled = lifecycle.request_cancel(db.engine, run.id)
    assert (cancelled.status, cancelled.active) == ("cancelled", None)
    with pytest.raises(MigrationError):
        lifecycle.request_cancel(db.engine, run.id)


def test_cancel_stops_a_running_worker_after_its_current_items(files, store, monkeypatch):
    for _ in range(30):
        files.legacy(payload(100))
    service = DocumentMigrationService()
    run = service.start_run(MigrationOptions(batch_size=2, workers=1))
    monkeypatch.setattr("portal.migration.worker.HEARTBEAT_SECONDS", 0.05)
    workers: list[RunWorker] = []
    entering = RunWorker.__enter__

    def enter_and_keep(worker):
        workers.append(worker)
        return entering(worker)

    monkeypatch.setattr(RunWorker, "__enter__", enter_and_keep)
    seen = []

    def cancel_on_first_progress(snapshot):
        seen.append(snapshot.items_done)
        if len(seen) == 1:
            lifecycle.request_cancel(db.engine, run.id)
            # Hold the claiming thread until the heartbeat has seen the cancel: however slow the machine,
            # no further row is claimed after this point, only the window already in flight finishes.
            assert workers[0].stop.wait(timeout=30)

    monkeypatch.setattr("portal.migration.worker.PROGRESS_EVERY", 0.0)
    # Progress is reported as groups commit (GROUP items, or 0.2 s); small groups let the cancel land
    # within a few items, however fast the copies are.
    monkeypatch.setattr("portal.migration.worker.GROUP", 5)
    finished = service.migrate_all_attachments(run, on_progress=cancel_on_first_progress)
    assert finished.status == "cancelled" and finished.active is None
    window = 2 + 1  # batch_size + workers: the most rows claimed and not yet committed at the cancel
    assert 0 < seen[0] <= finished.items_done <= seen[0] + window < 30
    assert locations(Attachment).count("s3") == finished.items_done
    assert (
        db.session.scalar(select(func.count()).select_from(MigrationItem).where(MigrationItem.status == "claimed")) == 0
    )


def test_an_unreachable_store_fails_the_run_before_any_item(files, store, monkeypatch):
    files.legacy(payload(100))
    service = DocumentMigrationService()
    run = service.start_run(MigrationOptions())
    from portal.storage.base import StorageUnavailable

    def down():
        raise StorageUnavailable("the store at http://127.0.0.1:9 cannot be reached (connection)")

    monkeypatch.setattr(store, "check", down)
    finished = service.migrate_all_attachments(run)
    assert (finished.status, finished.items_done, finished.items_failed) == ("failed", 0, 0)
    assert "target store is not ready" in finished.message
    assert run_state.active_run(db.engine) is None


@pytest.mark.moto  # makes moto's backend refuse
def test_a_store_failing_item_after_item_trips_the_breaker(files, store, monkeypatch):
    from moto.s3.exceptions import AccessForbidden
    from moto.s3.models import S3Backend

    from portal.migration import worker

    def refuse(self, *args, **kwargs):
        raise AccessForbidden("Access Denied")

    monkeypatch.setattr(S3Backend, "put_object", refuse)
    monkeypatch.setattr(worker, "BREAKER", 3)
    # Failures are counted as their group commits (GROUP items, or 0.2 s): small groups make the
    # run stop within a few items of the third failure, however fast the store refuses.
    monkeypatch.setattr(worker, "GROUP", 3)
    rows = 30
    for _ in range(rows):
        files.legacy(payload(10))
    finished = run_all(batch_size=1, workers=1)
    assert finished.status == "failed"
    assert finished.message.startswith("stopped after 3 store failures in a row")
    assert 3 <= finished.items_failed < rows
