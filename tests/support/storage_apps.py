"""A bare Flask app with a fresh Storage, S3 settings with secret-looking test keys, and the provider kinds under test."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from flask import Flask

from portal.config import load_settings
from portal.storage import Storage

MiB = 1024 * 1024


# The smallest threshold S3 allows keeps the sizes around it (t-1, t, 2t+1) fast.
THRESHOLD = 5 * MiB


KINDS = ("local", "s3-mock", "minio-http", pytest.param("rgw", marks=pytest.mark.rgw))


S3_KINDS = KINDS[1:]  # for ``@pytest.mark.parametrize("harness", S3_KINDS, indirect=True)``

#: the local store's link-signing key in the direct tests (tests/storage/test_local_direct.py)
SIGNING_KEY = "local-direct-secret"


def make_storage_app(tmp_path: Path, **overrides) -> Flask:
    """A bare Flask app with the portal's settings (``overrides`` typed) and a fresh Storage bound to it."""
    app = Flask(__name__)
    settings = {
        "SECRET_KEY": "storage-suite-secret",
        "S3_MULTIPART_THRESHOLD_MB": THRESHOLD // MiB,
        "S3_MULTIPART_CHUNK_MB": THRESHOLD // MiB,
        # A request left waiting on the store fails the test in seconds rather than passing in a minute.
        "S3_READ_TIMEOUT": 10,
        **overrides,
    }
    app.config.update(load_settings({}, str(tmp_path / "instance"), settings))
    app.config["TESTING"] = True
    Storage().init_app(app)
    return app


def s3_settings(bucket: str, **overrides) -> dict:
    """Settings of an S3 store with test credentials that must never show up in a message or a log."""
    return {
        "STORAGE_TYPE": "s3",
        "S3_BUCKET": bucket,
        "S3_ACCESS_KEY": "AKIATESTSECRETACCESS",
        "S3_SECRET_KEY": "wJalrXUtnFEMI-test-secret-key",
        **overrides,
    }


def closed_port() -> int:
    """A port nothing listens on (bound, then released), so connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SECRETS = ("AKIATESTSECRETACCESS", "wJalrXUtnFEMI-test-secret-key")
