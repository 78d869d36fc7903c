"""What incomplete multipart uploads leave in a bucket: listing them, aborting them, and the lifecycle rule that expires them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from portal.storage.base import IncompleteUpload, StorageMisconfigured
from portal.storage.checks import check_key

#: the ID of the one lifecycle rule the portal owns; other rules in the bucket are kept as they are
RULE_ID = "portal-abort-incomplete-multipart-uploads"
_NO_LIFECYCLE = {"NoSuchLifecycleConfiguration"}
_UNSUPPORTED = {"NotImplemented", "MethodNotAllowed", "501", "405"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def list_incomplete(client: Any, bucket: str, prefix: str) -> Iterator[IncompleteUpload]:
    """ListMultipartUploads page by page; each upload's parts counted and summed with ListParts."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=prefix):
        for upload in page.get("Uploads", []):
            parts, size = 0, 0
            try:
                for part_page in client.get_paginator("list_parts").paginate(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                ):
                    for part in part_page.get("Parts", []):
                        parts += 1
                        size += part.get("Size", 0)
            except ClientError as exc:
                if _code(exc) != "NoSuchUpload":
                    raise
                continue  # completed or aborted since the listing
            yield IncompleteUpload(upload["Key"], upload["UploadId"], upload.get("Initiated"), parts, size)


def abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """AbortMultipartUpload; an upload already gone (NoSuchUpload) counts as aborted."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if _code(exc) != "NoSuchUpload":
            raise


def set_abort_rule(client: Any, bucket: str, days: int) -> bool:
    """Put (``days`` > 0) or remove (0) the portal's AbortIncompleteMultipartUpload rule, keeping every
    other rule of the bucket. Raises StorageMisconfigured when the store has no lifecycle rules."""
    try:
        try:
            rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
        except ClientError as exc:
            if _code(exc) not in _NO_LIFECYCLE:
                raise
            rules = []
        rules = [rule for rule in rules if rule.get("ID") != RULE_ID]
        if days > 0:
            rules.append(
                {
                    "ID": RULE_ID,
                    "Status": "Enabled",
                    "Filter": {"Prefix": ""},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days},
                }
            )
        if rules:
            client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
        else:
            client.delete_bucket_lifecycle(Bucket=bucket)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if _code(exc) in _UNSUPPORTED or status in (405, 501):
            raise StorageMisconfigured(
                f"bucket '{bucket}' takes no lifecycle rules ({_code(exc) or status}); "
                "run `flask storage maintain` regularly to abort incomplete uploads"
            ) from exc
        raise
    return True


def abort_rule_days(client: Any, bucket: str) -> int | None:
    """The days of the portal's rule as the bucket holds it, None without one."""
    try:
        rules = client.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if _code(exc) in _NO_LIFECYCLE:
            return None
        raise
    for rule in rules:
        if rule.get("ID") == RULE_ID:
            return rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
    return None


class IncompleteUploads:
    """S3StorageProvider's part of the interface for incomplete uploads (it has client, bucket and _op)."""

    def incomplete_uploads(self, prefix=""):
        """ListMultipartUploads under ``prefix``, each with its parts counted (ListParts)."""
        with self._op("incomplete_uploads", prefix) as record:
            record.size = 0
            for upload in list_incomplete(self.client, self.bucket, prefix):
                record.size += 1
                yield upload

    def abort_upload(self, key, upload_id):
        """AbortMultipartUpload; an upload already gone is fine."""
        with self._op("abort_upload", key):
            check_key(key)
            abort(self.client, self.bucket, key, upload_id)

    def expire_incomplete_uploads(self, days):
        """The bucket lifecycle rule AbortIncompleteMultipartUpload after ``days`` (0 removes it)."""
        with self._op("expire_incomplete_uploads", None):
            return set_abort_rule(self.client, self.bucket, days)
