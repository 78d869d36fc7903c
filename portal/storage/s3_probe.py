"""Proof that a bucket takes a write with the configured server-side encryption (a probe object, deleted after)."""

from __future__ import annotations

import uuid
from typing import Any

from botocore.exceptions import ClientError

from portal.storage.base import StorageMisconfigured

#: where probe objects go; never under attachments/ or staging/, so no listing of files shows one
PROBE_PREFIX = "portal-probe/"
# What stores answer to an encryption they do not offer: Ceph RGW over plain http says InvalidRequest,
# MinIO without a KMS NotImplemented, AWS with a bad KMS key KMS.NotFoundException and friends.
_REFUSED_SSE = {"InvalidRequest", "InvalidArgument", "NotImplemented", "InvalidEncryptionAlgorithmError"}


def prove_sse_write(client: Any, bucket: str, sse: dict, setting: str, where: str) -> None:
    """PUT a tiny object with ``sse`` and delete it. Raises StorageMisconfigured naming S3_SSE when the
    store refuses the encryption; any other ClientError is left for the caller to translate."""
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"write probe", ContentLength=11, **sse)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _REFUSED_SSE or code.startswith("KMS."):
            raise StorageMisconfigured(
                f"{where} refused a write with S3_SSE={setting} ({code}); every upload would fail. "
                "Set S3_SSE to an encryption this store offers (or leave it empty), "
                "and check S3_SSE_KMS_KEY_ID for aws:kms"
            ) from exc
        raise
    client.delete_object(Bucket=bucket, Key=key)
