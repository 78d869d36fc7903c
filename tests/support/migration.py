"""Migration test helpers: a portal's settings on a test S3 server, and `flask ...` in a child process."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

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
