"""A gunicorn worker killed mid-upload (plain form, so multipart) leaves an incomplete upload; orphans finds and aborts it."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
import requests

from portal.extensions import db
from portal.models import Document
from tests.support.accounts import PASSWORD
from tests.support.gunicorn import served_by_gunicorn
from tests.support.migration import s3_config

MiB = 1024 * 1024
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def app_config(tmp_path, s3_server, bucket_name):
    # 5 MiB parts (S3's smallest): the first part is stored after 5 MiB of body, not 16
    return {**s3_config(tmp_path, s3_server, bucket_name), "S3_MULTIPART_THRESHOLD_MB": 5, "S3_MULTIPART_CHUNK_MB": 5}


class StalledForm:
    """A plain-form upload body (no declared size) that sends ``sent`` bytes of its file, then stalls until released."""

    def __init__(self, token: str, total: int, sent: int) -> None:
        boundary = "killed" + os.urandom(8).hex()
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        self.length = len(head) + total + len(f"\r\n--{boundary}--\r\n")
        self.head, self.left, self.release = head, sent, threading.Event()

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        if self.head:
            chunk, self.head = self.head, b""
            return chunk
        if self.left <= 0:
            self.release.wait(60)
            raise ConnectionAbortedError("the test stops sending")
        chunk = b"%PDF" + b"x" * (min(size if size > 0 else MiB, self.left) - 4)
        self.left -= len(chunk)
        return chunk


@pytest.fixture
def gunicorn(app):
    """The test's portal behind a real gunicorn master with one worker; yields (base URL, master process)."""
    with served_by_gunicorn(app) as served:
        yield served


def worker_of(master: int) -> int:
    return int(Path(f"/proc/{master}/task/{master}/children").read_text().split()[0])


def open_uploads(store) -> list[dict]:
    return store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])


def test_a_worker_killed_mid_upload_leaves_an_upload_that_orphans_aborts(app, runner, store, staff_user, gunicorn):
    base, master = gunicorn
    document = Document(title="Killed upload", description="", created_by=staff_user.id)
    db.session.add(document)
    db.session.commit()
    session = requests.Session()
    token = CSRF.search(session.get(f"{base}/auth/login", timeout=30).text).group(1)
    session.post(
        f"{base}/auth/login", data={"email": staff_user.email, "password": PASSWORD, "csrf_token": token}, timeout=30
    )
    token = CSRF.search(session.get(f"{base}/documents/{document.id}", timeout=30).text).group(1)
    body = StalledForm(token, total=40 * MiB, sent=12 * MiB)
    sender = threading.Thread(
        target=lambda: _post_quietly(session, f"{base}/documents/{document.id}/attachments", body)
    )
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while not any(_parts(store, upload) for upload in open_uploads(store)):
            assert time.monotonic() < deadline, "no part of the upload reached the store"
            time.sleep(0.1)
        worker = worker_of(master.pid)
        os.kill(worker, signal.SIGKILL)
    finally:
        body.release.set()
        sender.join(60)
    [upload] = open_uploads(store)
    report = runner.invoke(args=["storage", "orphans"])
    assert report.exit_code == 1
    assert f"incomplete upload: s3:{upload['Key']} started " in report.output and "[kept]" in report.output
    aborted = runner.invoke(args=["storage", "orphans", "--delete", "--min-age", "0s"])
    assert "[aborted]" in aborted.output, aborted.output
    assert open_uploads(store) == []


def _parts(store, upload: dict) -> int:
    return len(
        store.client.list_parts(Bucket=store.bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
    )


def _post_quietly(session: requests.Session, url: str, body: StalledForm) -> None:
    try:
        session.post(
            url, data=body, headers={"Content-Type": body.content_type, "Accept": "application/json"}, timeout=60
        )
    except (requests.ConnectionError, ConnectionAbortedError):
        pass  # the worker died under it, as intended
