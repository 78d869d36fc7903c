"""ObjectStorageFactory: the one place the LOCAL_*, S3_* and MINIO_* settings become the extension's providers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from portal.storage.base import StorageProvider
from portal.storage.local import LocalStorageProvider

MiB = 1024 * 1024


class ObjectStorageFactory:
    """Builds the providers ``config`` (app.config, or load_settings' answer) describes, without network I/O.

    ``link_for_token`` makes the local store's signed /files/<token> links (a bare path by default).
    """

    def __init__(self, config: Mapping, link_for_token: Callable[[str], str] | None = None) -> None:
        self.config, self.link_for_token = config, link_for_token

    def providers(self) -> dict[str, StorageProvider]:
        """Every configured provider by each name a row's storage_type may carry: 'local' always; with
        MINIO_BUCKET set, 's3' for the S3_* store (when S3_BUCKET is set) and 'minio' for the MINIO_* one;
        without it, 's3' and 'minio' for the S3_* store when S3_BUCKET is set (one provider, both names)."""
        providers: dict[str, StorageProvider] = {"local": self.local()}
        if self.config.get("MINIO_BUCKET"):
            if self.config["S3_BUCKET"]:
                providers["s3"] = self.object_store(name="s3")
            providers["minio"] = self.minio_store()
        elif self.config["S3_BUCKET"]:
            providers["s3"] = providers["minio"] = self.object_store()
        return providers

    def local(self) -> LocalStorageProvider:
        """The LOCAL_* folder, signing links with SECRET_KEY (and Flask's SECRET_KEY_FALLBACKS)."""
        config = self.config
        keys = [*(config.get("SECRET_KEY_FALLBACKS") or []), config.get("SECRET_KEY")]
        return LocalStorageProvider(
            config["LOCAL_STORAGE_PATH"],
            secret_key=keys,
            url_expires=config["LOCAL_URL_EXPIRES"],
            link_for_token=self.link_for_token,
        )

    def object_store(self, **overrides: Any) -> StorageProvider:
        """The S3_* store (AWS S3, or MinIO through S3_ENDPOINT_URL), named after STORAGE_TYPE when that is
        minio; ``overrides`` replace single constructor arguments (e.g. client_config)."""
        from portal.storage.s3 import S3StorageProvider  # boto3 loads only where S3 is used

        config = self.config
        options: dict[str, Any] = dict(
            name="minio" if config.get("STORAGE_TYPE") == "minio" else "s3",
            **self._account("S3"),
            presign_expires=config["S3_PRESIGN_EXPIRES"],
            addressing_style=config["S3_ADDRESSING_STYLE"],
            checksums=config["S3_CHECKSUMS"],
            sse=config["S3_SSE"],
            sse_kms_key_id=config["S3_SSE_KMS_KEY_ID"],
            multipart_threshold=config["S3_MULTIPART_THRESHOLD_MB"] * MiB,
            multipart_chunksize=config["S3_MULTIPART_CHUNK_MB"] * MiB,
            streamed_put_max=config["S3_STREAMED_PUT_MAX_MB"] * MiB,
            max_concurrency=config["S3_MAX_CONCURRENCY"],
            upload_buffer=config["S3_UPLOAD_BUFFER_MB"] * MiB,
            connect_timeout=config["S3_CONNECT_TIMEOUT"],
            read_timeout=config["S3_READ_TIMEOUT"],
            max_attempts=config["S3_MAX_ATTEMPTS"],
        )
        options.update(overrides)
        return S3StorageProvider(**options)

    def minio_store(self) -> StorageProvider:
        """The MINIO_* store: its own bucket, endpoint, region and keys, addressed by path with checksums
        only where required (as MinIO wants); the S3_* tuning (timeouts, part sizes) applies to it too,
        S3_SSE does not (its KMS settings belong to the S3 account)."""
        return self.object_store(
            name="minio",
            **self._account("MINIO"),
            addressing_style="path",
            checksums="when_required",
            sse="",
            sse_kms_key_id=None,
        )

    def _account(self, prefix: str) -> dict[str, Any]:
        """Where a store is and who the portal is there: ``prefix``_BUCKET, _REGION, _ACCESS_KEY, _SECRET_KEY,
        _ENDPOINT_URL and _PUBLIC_ENDPOINT_URL."""
        names = ("bucket", "region", "access_key", "secret_key", "endpoint_url", "public_endpoint_url")
        return {name: self.config[f"{prefix}_{name.upper()}"] for name in names}
