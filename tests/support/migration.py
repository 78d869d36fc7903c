"""Migration test helpers: a portal's settings on a test S3 server, and `flask ...` in a child process."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from portal.extensions import db
from portal.migration import run_state
from portal.migration.models import MigrationRun
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from tests.support.stores import S3Server

ACCESS_KEY, SECRET_KEY = "AKIAMIGRATIONTESTKEY", "migration-test-secret-key"


def s3_config(tmp_path: Path, server: S3Server, bucket: str) -> dict:
    return {
        "STORAGE_TYPE": "s3",
        "S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": server.endpoint,
        **server.keys(ACCESS_KEY, SECRET_KEY),
        "S3_ADDRESSING_STYLE": "path",
        "LEGACY_FILES_ROOT": str(tmp_path / "legacy"),
        "QUARANTINE_PATH": str(tmp_path / "quarantine"),
    }


class Child:
    """A `flask ...` child process whose output goes to a file (a pipe nobody reads would block it)."""

    def __init__(self, app, args: tuple[str, ...], pause_after: int | None = None):
        from portal.migration.launch import PROJECT_ROOT, worker_command, worker_environment

        self.log = Path(app.instance_path) / f"child-{uuid.uuid4().hex[:8]}.log"
        env = worker_environment(app.config, app.instance_path)
        command = worker_command(*args)
        if pause_after is not None:  # tests/migration/paused_child.py: copies hold after that many, until SIGTERM
            command = [sys.executable, "-m", "tests.migration.paused_child", str(pause_after), *args]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def poll(self):
        return self.process.poll()

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """Wait for the end; (exit status, output)."""
        return self.process.wait(timeout=timeout), self.output


def flask_subprocess(app, *args: str, pause_after: int | None = None) -> Child:
    """`flask ...` in a child process that sees exactly this app's settings; with ``pause_after``, its
    migration copies hold after that many have started, until it gets SIGTERM (or is killed)."""
    return Child(app, args, pause_after)


def minio_settings(s3_server, endpoint: str) -> dict:
    keys = s3_server.keys(ACCESS_KEY, SECRET_KEY)
    return {
        "MINIO_BUCKET": f"minio-{uuid.uuid4().hex[:12]}",
        "MINIO_ENDPOINT_URL": endpoint,
        "MINIO_ACCESS_KEY": keys["S3_ACCESS_KEY"],
        "MINIO_SECRET_KEY": keys["S3_SECRET_KEY"],
    }


START = {"target": "s3", "batch_size": "10", "workers": "2", "verify": "auto", "include_staging": "y"}


def wait_for_end(run_id: int, timeout: float = 60.0) -> MigrationRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = run_state.fetch_run(db.engine, run_id)
        if not run.is_active:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run #{run_id} did not end within {timeout} s: {run_state.fetch_run(db.engine, run_id)}")


def latest_run() -> MigrationRun:
    db.session.expire_all()
    return db.session.scalars(select(MigrationRun).order_by(MigrationRun.id.desc())).first()


def migrate_everything() -> MigrationRun:
    service = DocumentMigrationService()
    return service.migrate_all_attachments(service.start_run(MigrationOptions()))


def current_run() -> MigrationRun | None:
    with db.engine.connect() as conn:
        run_id = conn.execute(select(func.max(MigrationRun.id))).scalar()
    return run_state.fetch_run(db.engine, run_id) if run_id else None


def wait_for_items_done(child, count: int, after: MigrationRun | None = None) -> None:
    """Wait until the child's run (the newest, created after run ``after``) has committed ``count`` rows (a
    paused child stops there)."""
    deadline = time.monotonic() + 60
    newer_than = after.id if after is not None else 0
    while (run := current_run()) is None or run.id <= newer_than or run.items_done < count:
        assert child.poll() is None, child.output
        assert time.monotonic() < deadline, f"the run never reached {count} rows: {run and run.items_done}"
        time.sleep(0.02)
