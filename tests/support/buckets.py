"""Buckets of the tests' S3 servers: a fresh name, emptied and removed afterwards, the keys a store holds."""

from __future__ import annotations

import uuid


def empty_bucket(provider) -> None:
    """Abort its unfinished uploads, delete every object, delete the bucket."""
    client, bucket = provider.client, provider.bucket
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def unique_bucket() -> str:
    return f"portal-test-{uuid.uuid4().hex[:12]}"


def object_keys(provider, prefix: str = "") -> list[str]:
    return [item.key for item in provider.list(prefix)]
