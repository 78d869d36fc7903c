"""Migration suite fixtures: an app on the test's S3 server (moto or the RGW), and legacy files on disk."""

from __future__ import annotations

import os
import uuid

import pytest

from portal.extensions import storage
from tests.migration.factory import Files
from tests.migration.folder_bucket import FolderBucket
from tests.support.buckets import empty_bucket
from tests.support.migration import s3_config
from tests.support.moto_fidelity import s3_like_checksums
from tests.support.moto_server import running_moto_server


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


@pytest.fixture
def app_config(tmp_path, s3_server, bucket_name):
    return s3_config(tmp_path, s3_server, bucket_name)


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


@pytest.fixture(scope="session")
def second_moto_endpoint():
    """A second moto server: the `minio` store of the moto runs, on an endpoint of its own."""
    with running_moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def stores(app):
    """(s3, minio) with their buckets created; emptied and removed afterwards."""
    s3, minio = storage.get("s3"), storage.get("minio")
    for provider in (s3, minio):
        provider.ensure_ready()
    yield s3, minio
    for provider in (s3, minio) if s3.location != minio.location else (s3,):
        empty_bucket(provider)


@pytest.fixture
def buckets(app, tmp_path, monkeypatch) -> dict[str, FolderBucket]:
    """`s3` and `minio` as folders (FolderBucket), two buckets of one account, for tests on the local disk
    alone; their rows read and write through the portal's storage as a real store's would."""
    providers = app.extensions["storage"].providers
    made = {name: FolderBucket(tmp_path / f"bucket-{name}", name=name, account="one") for name in ("s3", "minio")}
    for name, bucket in made.items():
        bucket.root.mkdir(parents=True)
        monkeypatch.setitem(providers, name, bucket)
    return made


@pytest.fixture
def disk_files(app) -> Files:
    """Files and rows as `files` makes them, with no S3 server behind the app."""
    return Files(app)


@pytest.fixture
def hybrid_encryption(app, tmp_path) -> str:
    """STORAGE_ENCRYPTION=hybrid with a fresh key pair (its id returned): plaintext rows are encrypted as they
    are copied."""
    from tests.support.keys import keypair
    from tests.support.settings import restart_with

    key_id, public, private = keypair(tmp_path / "keys")
    restart_with(
        app,
        STORAGE_ENCRYPTION="hybrid",
        STORAGE_ENCRYPTION_PUBLIC_KEY=public,
        STORAGE_ENCRYPTION_PRIVATE_KEYS=[private],
    )
    return key_id
