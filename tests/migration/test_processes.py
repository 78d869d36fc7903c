"""Real processes: SIGKILL in the middle of a run and a restart; two processes sharing one run."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select, text

from portal.extensions import db
from portal.migration import processes, run_state
from portal.migration.models import MigrationItem, MigrationWorker
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment, AttachmentStaging
from tests.migration.factory import many_legacy
from tests.support.buckets import object_keys
from tests.support.migration import current_run, flask_subprocess, wait_for_items_done


def assert_everything_moved_once(store, contents: dict[tuple[str, int], bytes]) -> None:
    """Every row points at an object with exactly its bytes; the bucket holds nothing else (no duplicates)."""
    db.session.expire_all()
    keys = []
    for model, table in ((Attachment, "attachment"), (AttachmentStaging, "attachment_staging")):
        for row in db.session.scalars(select(model)):
            assert (row.storage_type, row.location) == ("s3", "s3"), (table, row.id)
            assert b"".join(store.open(row.storage_path)) == contents[(table, row.id)], (table, row.id)
            keys.append(row.storage_path)
    assert sorted(object_keys(store)) == sorted(keys)
    assert len(set(keys)) == len(contents)


@contextmanager
def both_claim_their_first_batch_together() -> Iterator[None]:
    """PostgreSQL: hold migration_item so that each process, having locked its first rows, waits to record
    its claim; release only when two are waiting. Both then own a batch however fast either one is."""
    with db.engine.connect() as holder:
        holder.execute(text(f"LOCK TABLE {MigrationItem.__table__.name} IN EXCLUSIVE MODE"))
        yield
        waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = CAST(:table AS regclass)")
        with db.engine.connect() as watcher:
            deadline = time.monotonic() + 60
            while watcher.execute(waiting, {"table": MigrationItem.__table__.name}).scalar() < 2:
                assert time.monotonic() < deadline, "the two processes never both reached their first claim"
                time.sleep(0.05)
        holder.commit()


def test_sigkill_in_the_middle_then_a_restart_finishes_the_job(app, files, store):
    contents = {("attachment", key): data for key, data in many_legacy(files, 240, 16384).items()}
    contents.update(
        {
            ("attachment_staging", key): data
            for key, data in many_legacy(files, 20, 4096, table="attachment_staging").items()
        }
    )
    # Copies after the 30th hold until the kill: the child is killed with exactly 30 rows committed
    # and more claimed and in flight, however fast or slow the machine.
    child = flask_subprocess(app, "storage", "migrate", "s3", "--batch-size", "10", "--workers", "3", pause_after=30)
    wait_for_items_done(child, 30)
    os.kill(child.pid, signal.SIGKILL)
    child.finish()
    killed = current_run()
    assert killed.is_active and killed.items_done == 30, killed.items_done
    assert db.session.scalar(
        select(func.count()).select_from(MigrationItem).where(MigrationItem.status == "claimed")
    ), "the kill left no claimed row to release"
    assert processes.live_workers(db.engine, killed.id) == []

    code, output = flask_subprocess(app, "storage", "migrate", "s3").finish()
    assert code == 0, output
    assert f"Resuming run #{killed.id}" in output and f"Run #{killed.id} completed" in output
    finished = current_run()
    assert (finished.id, finished.items_done, finished.items_failed) == (killed.id, len(contents), 0)
    assert_everything_moved_once(store, contents)
    code, output = flask_subprocess(app, "storage", "verify", "--deep").finish()
    assert code == 0 and f"{len(contents)} ok, 0 mismatched" in output, output


def test_two_processes_share_one_run_and_move_each_row_exactly_once(app, files, store):
    contents = {("attachment", key): data for key, data in many_legacy(files, 300, 2048).items()}
    run = DocumentMigrationService().start_run(MigrationOptions(batch_size=5, workers=2))
    args = ("storage", "migrate", "s3", "--run-id", str(run.id))
    if db.engine.dialect.name == "postgresql":
        with both_claim_their_first_batch_together():
            first, second = flask_subprocess(app, *args), flask_subprocess(app, *args)
    else:
        first, second = flask_subprocess(app, *args), flask_subprocess(app, *args)
    results = [process.finish() for process in (first, second)]
    codes, outputs = sorted(code for code, _ in results), [output for _, output in results]
    done = db.session.execute(
        select(MigrationItem.worker_id, func.count())
        .where(MigrationItem.run_id == run.id, MigrationItem.status == "done")
        .group_by(MigrationItem.worker_id)
    ).all()
    if db.engine.dialect.name == "postgresql":
        # Rows claimed with FOR UPDATE SKIP LOCKED: both processes worked, neither on the other's rows.
        assert codes == [0, 0], outputs
        assert len(done) == 2 and all(count > 0 for _, count in done), done
        assert db.session.scalar(select(func.count()).select_from(MigrationWorker)) == 2
    else:
        # SQLite: one process at a time; the other is refused (or finds the run already ended).
        assert codes == [0, 1], outputs
        refused = next(output for output in outputs if "Error:" in output)
        assert "one migration process at a time" in refused or "has ended (completed)" in refused
        assert len(done) == 1
    assert sum(count for _, count in done) == 300
    assert (
        db.session.scalar(select(func.count()).select_from(MigrationItem).where(MigrationItem.run_id == run.id)) == 300
    )
    assert run_state.fetch_run(db.engine, run.id).status == "completed"
    assert_everything_moved_once(store, contents)


def test_sigterm_stops_after_the_files_in_flight_and_the_run_resumes(app, files, store):
    contents = {("attachment", key): data for key, data in many_legacy(files, 200, 4096).items()}
    # Copies after the 20th hold until SIGTERM has set the worker's stop: no row is claimed after the
    # signal, and the ones already claimed (at most batch size + workers) finish and are recorded.
    child = flask_subprocess(app, "storage", "migrate", "s3", "--batch-size", "10", "--workers", "2", pause_after=20)
    wait_for_items_done(child, 20)
    os.kill(child.pid, signal.SIGTERM)
    code, output = child.finish()
    assert code == 1 and "interrupted after" in output and "resumes it" in output, output
    stopped = current_run()
    assert stopped.is_active and 20 <= stopped.items_done <= 20 + 10 + 2, stopped.items_done
    assert processes.live_workers(db.engine, stopped.id) == []
    # Every row it claimed was either committed or is released on resume: nothing moved twice.
    code, output = flask_subprocess(app, "storage", "migrate", "s3").finish()
    assert code == 0 and f"Resuming run #{stopped.id}" in output, output
    assert current_run().items_done == len(contents)
    assert_everything_moved_once(store, contents)
