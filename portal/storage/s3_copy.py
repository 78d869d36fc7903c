"""Copies between two buckets the same credentials reach on the same endpoint: server-side, never through the portal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from portal.storage.base import StoredObject
from portal.storage.checks import check_key
from portal.storage.s3_transfer import answered_sha256


def endpoint_identity(url: str | None) -> str | None:
    """An endpoint as it names a store: scheme and host in lower case, no default port, no trailing slash
    (``http://MinIO:9000/`` and ``http://minio:9000`` are one store; None for AWS itself)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port and (scheme, parts.port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{parts.port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


class CrossBucketCopy:
    """S3StorageProvider's part for moving objects between its bucket and another one (it has client,
    bucket, region, endpoint_url, _credentials, sse, transfer, copy_object_limit and _op)."""

    @property
    def location(self) -> tuple[str, ...]:
        """Where the objects live: the endpoint (AWS by region) and the bucket; two providers with the same
        location are one store, whatever they are called."""
        return ("s3", endpoint_identity(self.endpoint_url) or f"aws:{self.region}", self.bucket)

    def shares_account_with(self, other: Any) -> bool:
        """True when ``other`` is an S3 provider on the same endpoint and region with the same credentials, so
        one CopyObject request can read its bucket and write this one."""
        return isinstance(other, CrossBucketCopy) and (
            endpoint_identity(self.endpoint_url),
            self.region,
            self._credentials,
        ) == (endpoint_identity(other.endpoint_url), other.region, other._credentials)

    def copy_from(self, source: Any, src_key: str, dst_key: str, size: int) -> StoredObject:
        """Copy ``src_key`` of ``source``'s bucket to ``dst_key`` here inside the store (type and metadata
        kept), asking the store for the copy's full-object SHA-256: StoredObject.store_sha256 is what the
        store computed over the copy's bytes (None for an object of 5 GiB or more, copied part by part
        with UploadPartCopy, whose checksum is a composite). Raises ObjectNotFound, StorageError."""
        with self._op("copy_from", f"{source.bucket}/{src_key} -> {dst_key}") as record:
            check_key(src_key)
            check_key(dst_key)
            origin = {"Bucket": source.bucket, "Key": src_key}
            extra = {"MetadataDirective": "COPY", **self.sse}
            store_sha256 = None
            if size < self.copy_object_limit:
                answer = self.client.copy_object(
                    CopySource=origin, Bucket=self.bucket, Key=dst_key, ChecksumAlgorithm="SHA256", **extra
                )
                store_sha256 = answered_sha256(answer.get("CopyObjectResult") or {})
            else:
                self.client.copy(origin, self.bucket, dst_key, ExtraArgs=extra, Config=self.transfer)
            record.size = size
            return StoredObject(dst_key, size, None, store_sha256=store_sha256)
