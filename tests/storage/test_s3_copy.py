"""Copies between two buckets of one store (s3_copy): which providers are one store, which share an account,
and what a copy inside the store leaves and answers. Bare providers under mock_aws: no app, no server."""

from __future__ import annotations

import hashlib
import io
import logging

import pytest
from moto import mock_aws

from portal.storage.base import ObjectNotFound, StorageError
from portal.storage.s3 import S3StorageProvider
from portal.storage.s3_copy import endpoint_identity
from tests.support.s3_requests import operations as operations_sent
from tests.support.s3_requests import record_requests

MiB = 1024 * 1024
KEYS = {"access_key": "AKIACOPYTEST", "secret_key": "copy-test-secret"}


def bucket(bucket_name: str, **options) -> S3StorageProvider:
    return S3StorageProvider(bucket_name, **{**KEYS, **options})


@pytest.fixture
def two_buckets():
    """Two providers on AWS (mocked), one account, buckets made: the source and the target."""
    with mock_aws():
        # parts of 5 MiB (S3's least) so that a copy part by part needs only a few MiB
        parts = {"multipart_threshold": 5 * MiB, "multipart_chunksize": 5 * MiB}
        source, target = bucket("copy-source", name="s3"), bucket("copy-target", name="minio", **parts)
        source.ensure_ready()
        target.ensure_ready()
        yield source, target


@pytest.mark.parametrize(
    ("url", "identity"),
    [
        (None, None),
        ("", None),
        ("http://minio:9000", "http://minio:9000"),
        ("  HTTP://MinIO:9000/  ", "http://minio:9000"),
        ("http://minio:80", "http://minio"),
        ("https://minio:443/", "https://minio"),
        ("http://minio:443", "http://minio:443"),
        ("https://minio:80", "https://minio:80"),
        ("https://s3.example.test/prefix/", "https://s3.example.test/prefix"),
        ("https://s3.example.test/BOX//", "https://s3.example.test/BOX"),
        ("http://", "http://"),
        ("http://[::1]:9000", "http://[::1]:9000"),
        ("http://[::1]", "http://[::1]"),
    ],
)
def test_an_endpoint_is_named_the_same_however_it_is_spelt(url, identity):
    assert endpoint_identity(url) == identity


def test_the_location_names_the_endpoint_or_the_aws_region_and_the_bucket():
    assert bucket("files").location == ("s3", "aws:us-east-1", "files")
    assert bucket("files", region="eu-west-2").location == ("s3", "aws:eu-west-2", "files")
    assert bucket("files", endpoint_url="HTTP://MinIO:9000/").location == ("s3", "http://minio:9000", "files")
    assert (
        bucket("files", endpoint_url="http://minio:9000").location
        == bucket("files", endpoint_url="http://MINIO:9000/", name="other").location
    )


def test_buckets_share_an_account_only_on_one_endpoint_region_and_keys():
    one = bucket("a", endpoint_url="http://minio:9000")
    assert one.shares_account_with(bucket("b", endpoint_url="http://MINIO:9000/"))
    assert one.shares_account_with(one)
    assert not one.shares_account_with(bucket("b", endpoint_url="http://minio:9001"))
    assert not one.shares_account_with(bucket("b"))
    assert not one.shares_account_with(bucket("b", endpoint_url="http://minio:9000", region="eu-west-2"))
    assert not one.shares_account_with(
        bucket("b", endpoint_url="http://minio:9000", access_key="AKIAOTHER", secret_key=KEYS["secret_key"])
    )
    assert not one.shares_account_with(
        bucket("b", endpoint_url="http://minio:9000", access_key=KEYS["access_key"], secret_key="other")
    )
    assert not one.shares_account_with(object())


def test_a_copy_inside_the_store_keeps_bytes_type_and_metadata_and_answers_the_store_checksum(two_buckets):
    source, target = two_buckets
    data = b"attachment bytes " * 1000
    source.save("attachments/a.pdf", io.BytesIO(data), content_type="application/pdf", metadata={"doc": "7"})
    sent = record_requests(target)

    copied = target.copy_from(source, "attachments/a.pdf", "attachments/b.pdf", len(data))

    assert operations_sent(sent) == ["CopyObject"]
    assert sent[0].headers["x-amz-metadata-directive"] == "COPY"
    assert (copied.key, copied.size, copied.sha256) == ("attachments/b.pdf", len(data), None)
    assert copied.store_sha256 == hashlib.sha256(data).hexdigest()
    assert b"".join(target.open("attachments/b.pdf")) == data
    found = target.stat("attachments/b.pdf")
    assert (found.content_type, found.metadata, found.sha256) == (
        "application/pdf",
        {"doc": "7"},
        hashlib.sha256(data).hexdigest(),
    )
    assert b"".join(source.open("attachments/a.pdf")) == data  # the source keeps its object


def test_the_copy_carries_the_targets_server_side_encryption(two_buckets):
    source, _ = two_buckets
    target = bucket("copy-target", sse="aes256")
    source.save("attachments/a", io.BytesIO(b"secret"))
    target.copy_from(source, "attachments/a", "attachments/a", 6)
    head = target.client.head_object(Bucket="copy-target", Key="attachments/a")
    assert head["ServerSideEncryption"] == "AES256"


def test_a_copy_writes_its_one_log_line(two_buckets, caplog):
    source, target = two_buckets
    source.save("attachments/a", io.BytesIO(b"12345"))
    caplog.set_level(logging.INFO, logger="portal.storage")
    target.copy_from(source, "attachments/a", "attachments/b", 5)
    (line,) = [record.storage for record in caplog.records if record.storage["op"] != "save"]
    assert {name: line[name] for name in ("op", "provider", "key", "size", "outcome")} == {
        "op": "copy_from",
        "provider": "minio",
        "key": "copy-source/attachments/a -> attachments/b",
        "size": 5,
        "outcome": "ok",
    }


def test_an_object_too_large_for_one_copy_request_is_copied_part_by_part(two_buckets):
    source, target = two_buckets
    data = bytes(range(256)) * (2 * MiB // 256 * 5 + 1)  # three parts of 5 MiB
    source.save("attachments/big", io.BytesIO(data), content_type="image/png", metadata={"doc": "9"})
    target.copy_object_limit = len(data)  # as if it were 5 GiB
    sent = record_requests(target)

    copied = target.copy_from(source, "attachments/big", "attachments/big-copy", len(data))

    assert "CopyObject" not in operations_sent(sent)
    assert operations_sent(sent).count("UploadPartCopy") == 3
    assert (copied.size, copied.store_sha256) == (len(data), None)
    assert b"".join(target.open("attachments/big-copy")) == data
    found = target.stat("attachments/big-copy")
    assert (found.content_type, found.metadata) == ("image/png", {"doc": "9"})


def test_a_copy_part_by_part_carries_the_targets_server_side_encryption(two_buckets):
    source, _ = two_buckets
    target = bucket("copy-target", sse="aes256", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    target.copy_object_limit = 5 * MiB
    data = bytes(range(256)) * (6 * MiB // 256)
    source.save("attachments/big", io.BytesIO(data))
    sent = record_requests(target)
    target.copy_from(source, "attachments/big", "attachments/big", len(data))
    (start,) = [request for request in sent if request.operation == "CreateMultipartUpload"]
    assert start.headers["x-amz-server-side-encryption"] == "AES256"
    assert target.client.head_object(Bucket="copy-target", Key="attachments/big")["ServerSideEncryption"] == "AES256"


def test_one_byte_under_the_limit_is_still_one_copy_request(two_buckets):
    source, target = two_buckets
    source.save("attachments/a", io.BytesIO(b"12345"))
    target.copy_object_limit = 6
    sent = record_requests(target)
    assert target.copy_from(source, "attachments/a", "attachments/b", 5).store_sha256
    assert operations_sent(sent) == ["CopyObject"]


def test_a_missing_source_object_is_not_found_and_leaves_nothing(two_buckets):
    source, target = two_buckets
    with pytest.raises(ObjectNotFound):
        target.copy_from(source, "attachments/gone", "attachments/b", 5)
    assert list(target.list("")) == []


@pytest.mark.parametrize("keys", [("../escape", "attachments/b"), ("attachments/a", "/absolute")])
def test_a_bad_key_on_either_side_is_refused_before_any_request(two_buckets, keys):
    source, target = two_buckets
    source.save("attachments/a", io.BytesIO(b"x"))
    sent = record_requests(target)
    with pytest.raises(StorageError):
        target.copy_from(source, *keys, 1)
    assert operations_sent(sent) == []
