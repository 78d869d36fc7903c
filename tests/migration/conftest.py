"""Migration suite fixtures: an app on the test's S3 server (moto or the RGW), and legacy files on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from portal.extensions import storage
from tests.migration.factory import Files
from tests.support.moto_fidelity import s3_like_checksums
from tests.support.moto_server import moto_endpoint  # noqa: F401  (a fixture used below)
from tests.support.stores import S3Server

ACCESS_KEY, SECRET_KEY = "AKIAMIGRATIONTESTKEY", "migration-test-secret-key"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch):
    # boto3 must neither route 127.0.0.1 through a developer's proxy nor read their ~/.aws.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture(autouse=True)
def _checksums_like_s3():
    with s3_like_checksums():
        yield


@pytest.fixture
def bucket_name() -> str:
    return f"migration-{uuid.uuid4().hex[:12]}"


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


@pytest.fixture
def app_config(tmp_path, s3_server, bucket_name):
    return s3_config(tmp_path, s3_server, bucket_name)


def empty_bucket(provider) -> None:
    client, bucket = provider.client, provider.bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def store(app):
    """The S3 provider (moto or the RGW over HTTP) with its bucket created; emptied and removed afterwards."""
    provider = storage.get("s3")
    provider.ensure_ready()
    yield provider
    empty_bucket(provider)


@pytest.fixture
def files(app, store) -> Files:
    return Files(app)


def object_keys(provider, prefix: str = "") -> list[str]:
    return [item.key for item in provider.list(prefix)]


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
