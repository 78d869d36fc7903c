"""The scrub against an S3 store (moto and the Ceph RGW over HTTP): re-hashed, never trusted by ETag or checksum."""

from __future__ import annotations

import os

import boto3
import pytest

from portal.extensions import storage
from tests.support.keys import keypair
from tests.support.s3_requests import record_requests
from tests.support.scrub import attachment


@pytest.fixture(params=["plain", "encrypted"])
def app_config(request, s3_app_config, tmp_path):
    if request.param == "plain":
        return s3_app_config
    _, public, private = keypair(tmp_path / "keys")
    return {
        **s3_app_config,
        "STORAGE_ENCRYPTION": "hybrid",
        "STORAGE_ENCRYPTION_PUBLIC_KEY": public,
        "STORAGE_ENCRYPTION_PRIVATE_KEYS": [private],
    }


@pytest.fixture
def bucket(app):
    storage.default.ensure_ready()
    config = app.config
    client = boto3.client(
        "s3",
        endpoint_url=config["S3_ENDPOINT_URL"],
        region_name=config["S3_REGION"],
        aws_access_key_id=config["S3_ACCESS_KEY"],
        aws_secret_access_key=config["S3_SECRET_KEY"],
    )
    yield client
    for item in client.list_objects_v2(Bucket=config["S3_BUCKET"]).get("Contents", []):
        client.delete_object(Bucket=config["S3_BUCKET"], Key=item["Key"])
    client.close()


def flip_one_byte(client, bucket: str, key: str, offset: int) -> None:
    """Rewrite the object with one bit changed: same size, same metadata, so only its content is wrong."""
    head = client.head_object(Bucket=bucket, Key=key)
    data = bytearray(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[offset] ^= 0x01
    client.put_object(
        Bucket=bucket, Key=key, Body=bytes(data), Metadata=head["Metadata"], ContentType=head["ContentType"]
    )


def test_scrub_on_s3_finds_a_flipped_byte_and_a_missing_object(app, bucket, add, runner):
    name = app.config["S3_BUCKET"]
    good, flipped, gone = (add(os.urandom(120_000), f"{n}.bin") for n in ("good", "flipped", "gone"))
    assert {good.storage_type, flipped.storage_type} == {"s3"}
    assert bool(good.encryption) == (app.config["STORAGE_ENCRYPTION"] == "hybrid")
    flip_one_byte(bucket, name, flipped.storage_path, 90_000)
    bucket.delete_object(Bucket=name, Key=gone.storage_path)
    result = runner.invoke(args=["storage", "scrub"])
    assert result.exit_code == 1, result.output
    assert f"MISMATCH attachment #{flipped.id} s3:{flipped.storage_path}" in result.output
    assert f"MISSING attachment #{gone.id} s3:{gone.storage_path}: object missing from the store" in result.output
    assert "1 ok, 1 mismatched, 1 missing, 0 unreadable" in result.output
    outcomes = [attachment(row.id).verify_outcome for row in (good, flipped, gone)]
    assert outcomes == ["ok", "mismatch", "missing"]


def test_scrub_on_s3_at_a_limited_rate_proves_an_intact_bucket(app, bucket, add, runner):
    rows = [add(os.urandom(70_000), f"{n}.bin") for n in range(3)]
    sent = record_requests(storage.get("s3"))
    result = runner.invoke(args=["storage", "scrub", "--rate", "100MB/s", "--budget", "5m"])
    assert result.exit_code == 0, result.output
    assert "3 ok, 0 mismatched, 0 missing, 0 unreadable; every object was checked once" in result.output
    assert all(attachment(row.id).verify_outcome == "ok" for row in rows)
    if app.config["STORAGE_ENCRYPTION"] != "hybrid":  # paced, and still the store's own read-back: direct GETs
        reads = [request for request in sent if request.operation == "GetObject"]
        assert len(reads) == 3 and not any("amz-sdk-invocation-id" in request.headers for request in reads)
