"""S3_SSE is proven with a probe write by `flask storage init` and /healthz, not found out by the first upload."""

from __future__ import annotations

import pytest

from portal.extensions import storage
from tests.support.files import PDF, rows, upload


@pytest.fixture
def app_config(s3_app_config):
    return {**s3_app_config, "S3_SSE": "aes256"}


def bucket_keys(provider) -> list[str]:
    answer = provider.client.list_objects_v2(Bucket=provider.bucket)
    return [item["Key"] for item in answer.get("Contents", [])]


@pytest.mark.rgw  # RGW refuses SSE-S3 over plain http (InvalidRequest); moto takes it
def test_an_encryption_the_store_refuses_fails_init_and_healthz_with_the_reason(app, runner, client, caplog):
    result = runner.invoke(args=["storage", "init"])
    assert result.exit_code == 1, result.output
    assert "s3: bucket '" in result.output
    assert "refused a write with S3_SSE=aes256 (InvalidRequest); every upload would fail" in result.output
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["storage"]["s3"] == "unavailable"
    assert "refused a write with S3_SSE=aes256 (InvalidRequest)" in caplog.text  # the operator's log says why
    assert bucket_keys(storage.get("s3")) == []


@pytest.mark.moto  # moto takes SSE-S3 over http, as AWS does over https
def test_an_encryption_the_store_takes_passes_and_leaves_no_probe(app, runner, client, staff_client, document):
    result = runner.invoke(args=["storage", "init"])
    assert result.exit_code == 0 and "s3: ready" in result.output, result.output
    assert client.get("/healthz").status_code == 200
    assert bucket_keys(storage.get("s3")) == []
    assert upload(staff_client, document.id, ("a.pdf", PDF)).status_code == 302
    (row,), _ = rows()
    head = storage.get("s3").client.head_object(Bucket=storage.get("s3").bucket, Key=row.storage_path)
    assert head["ServerSideEncryption"] == "AES256"
