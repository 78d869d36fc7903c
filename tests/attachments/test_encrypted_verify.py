"""`flask storage verify --deep` proves encrypted objects by decrypting them, not by trusting the row."""

from __future__ import annotations

import os

import boto3
import pytest

from portal.extensions import storage
from tests.support.files import rows, upload
from tests.support.keys import keypair

PAYLOAD = os.urandom(200_000)


@pytest.fixture
def app_config(s3_app_config, tmp_path):
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
    client.close()


def _flip_one_byte(client, bucket_name: str, key: str, offset: int) -> None:
    """Rewrite the object with one bit changed: same size, same metadata, so only its content is wrong."""
    head = client.head_object(Bucket=bucket_name, Key=key)
    data = bytearray(client.get_object(Bucket=bucket_name, Key=key)["Body"].read())
    data[offset] ^= 0x01
    client.put_object(
        Bucket=bucket_name, Key=key, Body=bytes(data), Metadata=head["Metadata"], ContentType=head["ContentType"]
    )


def test_deep_verify_passes_an_intact_encrypted_object(app, staff_client, document, bucket, runner):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    result = runner.invoke(args=["storage", "verify", "--deep"])
    assert result.exit_code == 0, result.output
    assert "1 ok, 0 mismatched" in result.output


@pytest.mark.parametrize("offset", [10, 150_000], ids=["header", "third-segment"])
def test_deep_verify_catches_a_flipped_byte_in_an_encrypted_object(app, staff_client, document, bucket, runner, offset):
    upload(staff_client, document.id, ("secret.bin", PAYLOAD))
    (row,), _ = rows()
    _flip_one_byte(bucket, app.config["S3_BUCKET"], row.storage_path, offset)

    shallow = runner.invoke(args=["storage", "verify"])
    assert shallow.exit_code == 0, "a size check cannot see a flipped bit; that is what --deep is for"
    deep = runner.invoke(args=["storage", "verify", "--deep"])
    assert deep.exit_code == 1
    assert f"MISMATCH attachment #{row.id} s3:{row.storage_path}" in deep.output
    assert "0 ok, 1 mismatched" in deep.output
