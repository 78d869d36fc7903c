"""Reads signed without botocore's request pipeline (the migration's read-back): URLs, signatures, credentials."""
from __future__ import annotations

import io
import json
from contextlib import contextmanager
from urllib.parse import urlsplit

import boto3
import pytest
import requests

from portal.storage.base import StorageMisconfigured
from portal.storage.s3_reads import SignedReader, signed_reader
from tests.storage.conftest import _empty_bucket, make_storage_app, s3_settings, unique_bucket

KEYS = ("attachments/plain.bin", "attachments/with space & plus+sign.pdf", "attachments/ünïcödé/名前.txt",
        "attachments/percent%20not-decoded?query#fragment", "attachments/tilde~/x", "a=b;c,d$e@f")


@pytest.fixture
def http_store(tmp_path, moto_endpoint):
    """An S3 provider on moto over real HTTP (the reader sends its own requests), bucket made."""
    app = make_storage_app(tmp_path, **s3_settings(unique_bucket(), S3_ENDPOINT_URL=moto_endpoint,
                                                   S3_ADDRESSING_STYLE="path"))
    with app.app_context():
        provider = app.extensions["storage"].providers["s3"]
        provider.ensure_ready()
        yield provider
        _empty_bucket(provider)


def read(provider, key: str) -> bytes:
    return b"".join(signed_reader(provider).chunks(key))


@pytest.mark.parametrize("key", KEYS)
def test_reads_every_key_botocore_writes(http_store, key):
    data = f"bytes of {key}".encode() * 1000
    http_store.save(key, io.BytesIO(data))
    assert read(http_store, key) == data


@pytest.mark.parametrize("style", ["path", "virtual", "auto"])
@pytest.mark.parametrize("endpoint", ["", "https://minio.example.test:9000"])
def test_object_urls_are_the_ones_botocore_builds(tmp_path, style, endpoint):
    app = make_storage_app(tmp_path, **s3_settings("portal-files", S3_ENDPOINT_URL=endpoint,
                                                   S3_ADDRESSING_STYLE=style, S3_REGION="eu-west-2"))
    with app.app_context():
        provider = app.extensions["storage"].providers["s3"]
        reader = SignedReader(provider)
        for key in KEYS:
            link = provider.client.generate_presigned_url("get_object", Params={"Bucket": "portal-files", "Key": key})
            parts = urlsplit(link)
            assert reader.url(key) == f"{parts.scheme}://{parts.netloc}{parts.path}"


@contextmanager
def store_checking_signatures(endpoint: str):
    """moto answering only requests signed with an IAM user's key (made here, allowed s3:*); yields the key."""
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    user = f"reader-{unique_bucket()}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0").raise_for_status()
    try:
        yield key["AccessKeyId"], key["SecretAccessKey"]
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf").raise_for_status()


def test_a_store_that_checks_signatures_accepts_ours_and_refuses_a_wrong_secret(tmp_path, http_store, moto_endpoint):
    data = b"signed and checked" * 500
    http_store.save("attachments/checked.bin", io.BytesIO(data))
    with store_checking_signatures(moto_endpoint) as (key_id, secret):
        def provider(secret_key: str):
            app = make_storage_app(tmp_path, **s3_settings(http_store.bucket, S3_ENDPOINT_URL=moto_endpoint,
                                                           S3_ACCESS_KEY=key_id, S3_SECRET_KEY=secret_key))
            return app.extensions["storage"].providers["s3"]

        assert read(provider(secret), "attachments/checked.bin") == data
        with pytest.raises(StorageMisconfigured, match=r"refused \(403\); check the credentials") as refused:
            read(provider(secret + "x"), "attachments/checked.bin")
        assert secret not in str(refused.value) and key_id not in str(refused.value)


def test_credentials_come_from_the_environment_when_none_are_configured(tmp_path, http_store, moto_endpoint,
                                                                        monkeypatch):
    http_store.save("attachments/env.bin", io.BytesIO(b"from the chain"))
    with store_checking_signatures(moto_endpoint) as (key_id, secret):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        app = make_storage_app(tmp_path, STORAGE_TYPE="s3", S3_BUCKET=http_store.bucket, S3_ENDPOINT_URL=moto_endpoint)
        provider = app.extensions["storage"].providers["s3"]
        assert read(provider, "attachments/env.bin") == b"from the chain"


def test_no_credentials_anywhere_is_a_clear_message(tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    app = make_storage_app(tmp_path, STORAGE_TYPE="s3", S3_BUCKET="portal-files",
                           S3_ENDPOINT_URL="http://127.0.0.1:9")
    provider = app.extensions["storage"].providers["s3"]
    with pytest.raises(StorageMisconfigured, match="no S3 credentials were found; set S3_ACCESS_KEY and S3_SECRET_KEY"):
        read(provider, "attachments/any.bin")
