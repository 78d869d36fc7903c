"""Storage suite fixtures: a bare Flask app per provider kind (local, S3 under mock_aws, MinIO profile over
HTTP to moto, and the same profile against a Ceph RADOS Gateway)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from flask import Flask
from moto import mock_aws

from portal.storage.base import StorageProvider
from portal.storage.local import LocalStorageProvider
from tests.support.buckets import empty_bucket, unique_bucket
from tests.support.scripted_http import ScriptedServer
from tests.support.storage_apps import KINDS, SIGNING_KEY, make_storage_app, s3_settings
from tests.support.stores import S3Server


@dataclass
class Harness:
    """One provider under test plus the two things that differ by kind: fetching a URL, finding leftovers."""

    kind: str
    app: Flask
    provider: StorageProvider
    fetch: Callable[[str, Mapping[str, str]], tuple[int, Mapping[str, str], bytes]]
    leftovers: Callable[[], list[str]]


def _fetch_with_test_client(app: Flask):
    def fetch(url, headers=None):
        response = app.test_client().get(url, headers=dict(headers or {}))
        with response:  # closes the file send_file opened
            return response.status_code, response.headers, response.get_data()

    return fetch


def _fetch_with_requests(url, headers=None):
    response = requests.get(url, headers=dict(headers or {}), timeout=10)
    return response.status_code, response.headers, response.content


def _temp_files(root: Path) -> Callable[[], list[str]]:
    def leftovers():
        return [str(path) for path in root.rglob(".tmp-*")]

    return leftovers


def _pending_uploads(provider) -> Callable[[], list[str]]:
    def leftovers():
        answer = provider.client.list_multipart_uploads(Bucket=provider.bucket)
        return [upload["Key"] for upload in answer.get("Uploads", [])]

    return leftovers


def _http_server(request, kind: str) -> S3Server:
    """moto's server for minio-http, the RADOS Gateway for rgw."""
    if kind == "rgw":
        return S3Server.of_rgw(request.getfixturevalue("rgw_server"))
    return S3Server("moto", request.getfixturevalue("moto_endpoint"))


@pytest.fixture(params=KINDS)
def harness(request, tmp_path) -> Iterator[Harness]:
    """The same conformance tests run once per provider kind."""
    kind = request.param
    if kind == "local":
        app = make_storage_app(tmp_path)
        with app.app_context():
            provider = app.extensions["storage"].providers["local"]
            provider.ensure_ready()
            yield Harness(kind, app, provider, _fetch_with_test_client(app), _temp_files(provider.root))
    elif kind == "s3-mock":
        with mock_aws():
            app = make_storage_app(tmp_path, **s3_settings(unique_bucket()))
            with app.app_context():
                provider = app.extensions["storage"].providers["s3"]
                provider.ensure_ready()
                yield Harness(kind, app, provider, _fetch_with_requests, _pending_uploads(provider))
    else:
        server = _http_server(request, kind)
        settings = s3_settings(unique_bucket(), STORAGE_TYPE="minio", S3_ENDPOINT_URL=server.endpoint)
        keys = server.keys(settings["S3_ACCESS_KEY"], settings["S3_SECRET_KEY"])
        app = make_storage_app(tmp_path, **{**settings, **keys})
        with app.app_context():
            provider = app.extensions["storage"].providers["minio"]
            provider.ensure_ready()
            yield Harness(kind, app, provider, _fetch_with_requests, _pending_uploads(provider))
            empty_bucket(provider)  # the server lives all session; give its memory back


@pytest.fixture
def provider(harness) -> StorageProvider:
    return harness.provider


@pytest.fixture
def store(tmp_path) -> LocalStorageProvider:
    """A bare local store under tmp_path/store with a signing key: no app, no settings, for the direct tests."""
    provider = LocalStorageProvider(tmp_path / "store", secret_key=SIGNING_KEY)
    provider.ensure_ready()
    return provider


@pytest.fixture
def files_client(store):
    """A test client of an app whose only route is GET /files/<token>, answered by ``store``."""
    app = Flask(__name__)
    app.add_url_rule("/files/<token>", "files", store.send)
    return app.test_client()


class Clock:
    """Stands in for the ``time`` module the local store reads link expiry from."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr("portal.storage.local.time", clock)
    return clock


@pytest.fixture(scope="session", autouse=True)
def _one_botocore_loader():
    """Every test builds fresh providers, and each would parse botocore's S3 model again (~0.3 s).

    Sharing one data loader across the run's sessions keeps that cost to once; the loader only
    caches read-only model files, so no state leaks between tests.
    """
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", lambda *args, **kwargs: shared)
        yield


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    # A developer's HTTP(S)_PROXY must not route 127.0.0.1 traffic (moto, the closed port) elsewhere.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # Keep boto3 from reading a developer's ~/.aws config or profile into the tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def log_lines(caplog):
    """``log_lines()``: the storage log lines written so far in the test, as (op, key, size, outcome)."""
    caplog.set_level(logging.INFO, logger="portal.storage")

    def lines():
        return [
            (line["op"], line["key"], line["size"], line["outcome"])
            for line in (getattr(record, "storage", None) for record in caplog.records)
            if line
        ]

    return lines


@pytest.fixture
def scripted():
    """``scripted(*script)``: an endpoint on 127.0.0.1 answering from ``script`` (tests/support/scripted_http),
    closed after the test."""
    servers = []

    def start(*script):
        servers.append(ScriptedServer(list(script)))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
