"""S3StorageProvider: AWS S3 and S3-compatible stores (MinIO) through boto3's client and transfer manager."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.expiring_cache import Recent
from portal.storage.base import (
    SMALL_OBJECT_MAX,
    StorageError,
    StorageIntegrityError,
    StorageProvider,
    StoredObject,
    hash_chunks,
)
from portal.storage.checks import check_key, check_metadata, check_sha256
from portal.storage.disposition import content_disposition, safe_disposition
from portal.storage.oplog import logged
from portal.storage.s3_copy import CrossBucketCopy
from portal.storage.s3_direct import DirectRequests, put_small
from portal.storage.s3_errors import TranslatedChunks, endpoint_label, translate
from portal.storage.s3_probe import prove_sse_write
from portal.storage.s3_transfer import (
    SHA256_META,
    answered_sha256,
    no_continue_for_small_puts,
    put_streamed,
    upload,
    with_expected,
)
from portal.storage.s3_uploads import IncompleteUploads
from portal.storage.streams import ExactSize

MiB = 1024 * 1024


class S3StorageProvider(IncompleteUploads, CrossBucketCopy, StorageProvider):
    """Objects in one bucket of AWS S3 or an S3-compatible store; clients are built lazily, per process."""

    #: CopyObject's limit; larger objects are copied part by part by the transfer manager
    copy_object_limit = 5 * 1024 * MiB

    def __init__(
        self,
        bucket: str,
        *,
        name: str = "s3",
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        endpoint_url: str | None = None,
        public_endpoint_url: str | None = None,
        presign_expires: int = 300,
        addressing_style: str = "auto",
        checksums: str = "when_supported",
        sse: str = "",
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = 16 * MiB,
        streamed_put_max: int = 512 * MiB,
        multipart_chunksize: int = 16 * MiB,
        max_concurrency: int = 4,
        upload_buffer: int = 64 * MiB,
        connect_timeout: int = 5,
        read_timeout: int = 60,
        max_attempts: int = 3,
        client_config: Config | None = None,
    ) -> None:
        self.name, self.bucket, self.region = name, bucket, region
        self.endpoint_url, self.public_endpoint_url = endpoint_url or None, public_endpoint_url or None
        self.endpoint = endpoint_label(self.endpoint_url, region)
        self.presign_expires = self.link_seconds = presign_expires
        # A copy of a multipart object must get a full-object checksum of its own: a composite one
        # copied as-is makes every later validated GET fail (seen with moto). Where the store gets
        # checksums only when required (MinIO, R2), copies carry none.
        self._copy_checksum = {"ChecksumAlgorithm": "CRC32"} if checksums == "when_supported" else {}
        self._credentials = {"aws_access_key_id": access_key or None, "aws_secret_access_key": secret_key or None}
        #: server-side encryption arguments every write carries
        self.sse = {
            "aes256": {"ServerSideEncryption": "AES256"},
            "aws:kms": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": sse_kms_key_id},
        }.get(sse, {})
        self.sse_setting = sse
        self.max_attempts = max_attempts
        self.config = Config(
            region_name=region,
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": max_attempts},
            s3={"addressing_style": addressing_style},
            # boto3 >= 1.36 adds CRC checksums to every upload by default, which MinIO and R2 reject.
            request_checksum_calculation=checksums,
            response_checksum_validation=checksums,
            max_pool_connections=max(10, 2 * max_concurrency),
        )
        if client_config is not None:
            self.config = self.config.merge(client_config)
        self.streamed_put_max = streamed_put_max
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
            use_threads=True,
            preferred_transfer_client="classic",
        )
        # A stream that is not an open file is sent from memory: the parts in flight, plus the one
        # being read and the one being released. Keep that near upload_buffer instead of s3transfer's
        # default of 10 in flight (160 MiB at 16 MiB parts); open files are read in place instead.
        in_flight = upload_buffer // multipart_chunksize - 2
        self.transfer.max_in_memory_upload_chunks = max(1, min(max_concurrency, in_flight))
        self._clients: dict[str, Any] = {}
        self._direct_requests: DirectRequests | None = None
        # Signing costs more than the rest of a redirect: a link is handed out again while it is at most
        # a fifth of its lifetime old (the download route may keep it a tenth longer), so whoever gets
        # it still has at least 70% of that lifetime left.
        self._links: Recent[str] = Recent()
        self._session: boto3.session.Session | None = None
        self._lock = threading.Lock()

    # -- clients --------------------------------------------------------------------------------

    def _client(self, purpose: str = "main") -> Any:
        # Built on first use, never at start-up: resolving credentials may itself touch the network.
        client = self._clients.get(purpose)
        if client is None:
            with self._lock:
                client = self._clients.get(purpose)
                if client is None:
                    config, endpoint = self.config, self.endpoint_url
                    if purpose == "check":  # a health probe answers at once rather than retrying
                        config = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
                    elif purpose == "stream":
                        config = config.merge(self._stream_config())
                    elif purpose == "presign":
                        endpoint = self.public_endpoint_url or self.endpoint_url
                    # Our own session (boto3's default one is not thread-safe), used under the lock only;
                    # its loader parses the S3 model once for all three clients.
                    if self._session is None:
                        self._session = boto3.session.Session()
                    client = self._session.client("s3", endpoint_url=endpoint, config=config, **self._credentials)
                    client.meta.events.register_last("before-call.s3", no_continue_for_small_puts)
                    self._clients[purpose] = client
        return client

    def _stream_config(self) -> Config:
        """For streamed PUTs: an unsigned payload (signing would hash every byte before sending the
        first) and one attempt (the body cannot be rewound). Over https botocore adds a trailing
        checksum; over plain http it can send none, since a checksum header needs the body first."""
        over_tls = (self.endpoint_url or "https://").startswith("https://")
        options: dict[str, Any] = {
            "s3": {**self.config.s3, "payload_signing_enabled": False},
            "retries": {"mode": "standard", "total_max_attempts": 1},
        }
        if not over_tls:
            options["request_checksum_calculation"] = "when_required"
        return Config(**options)

    @property
    def client(self) -> Any:
        """The boto3 S3 client every operation uses (built on first access); for S3's own API in tools and tests."""
        return self._client()

    def _signing_credentials(self) -> Any:
        """The credentials the client signs with: the configured keys, else botocore's chain (None if none)."""
        if self._credentials["aws_access_key_id"] and self._credentials["aws_secret_access_key"]:
            from botocore.credentials import Credentials

            return Credentials(self._credentials["aws_access_key_id"], self._credentials["aws_secret_access_key"])
        self.client  # noqa: B018 -- builds the session whose chain the client resolved
        return self._session.get_credentials()

    def _direct(self) -> DirectRequests:
        """Small PUTs and read-back GETs without botocore's per-call pipeline (see s3_direct), made on first use."""
        requests = self._direct_requests
        if requests is None:  # two threads may both build one; either serves
            requests = self._direct_requests = DirectRequests(
                self.client,
                bucket=self.bucket,
                endpoint=self.endpoint,
                credentials=self._signing_credentials,
                max_attempts=self.max_attempts,
                translate=self._translate,
            )
        return requests

    # -- error translation ----------------------------------------------------------------------

    def _translate(self, exc: Exception, key: str | None = None) -> StorageError:
        """The StorageError for a boto3/botocore failure; its message names no credential or signature."""
        return translate(exc, bucket=self.bucket, endpoint=self.endpoint, key=key)

    @contextmanager
    def _op(self, op: str, key: str | None):
        with logged(self.name, op, key) as record:
            try:
                yield record
            except (BotoCoreError, ClientError) as exc:
                raise self._translate(exc, key) from exc

    def _code(self, exc: ClientError) -> str:
        return str(exc.response.get("Error", {}).get("Code", ""))

    # -- the interface --------------------------------------------------------------------------

    def save(self, key, stream, *, content_type=None, metadata=None, expected_sha256=None, size=None):
        """Upload, hashing on the way, the fastest way ``size`` allows: up to SMALL_OBJECT_MAX bytes, read
        whole and sent in one direct PUT (s3_direct); from the multipart threshold up to
        S3_STREAMED_PUT_MAX_MB, one streamed PUT; otherwise, and for an unknown size, s3_transfer.upload
        (one PUT below the threshold, parts above it; an open file is read in place).

        The SHA-256 lands in metadata for objects below the multipart threshold (sent with a
        ChecksumSHA256 the store verifies) and for any object whose ``expected_sha256`` is given.
        Raises StorageIntegrityError on a mismatch of either, leaving nothing under ``key``.
        """
        with self._op("save", key) as record:
            check_key(key)
            metadata, expected = check_metadata(metadata), check_sha256(expected_sha256)
            extra = {"ContentType": content_type or "application/octet-stream", "Metadata": metadata, **self.sse}
            if size is not None:
                stream = ExactSize(stream, size)
            if size is not None and size <= SMALL_OBJECT_MAX:
                stored = put_small(
                    self._direct(),
                    key,
                    stream.read(),
                    content_type=content_type,
                    metadata=metadata,
                    expected=expected,
                    sse=self.sse,
                )
                record.size = stored.size
                return stored
            if size is not None and self.transfer.multipart_threshold <= size <= self.streamed_put_max:
                sent = put_streamed(
                    self._client("stream"), self.bucket, key, stream, size, with_expected(extra, expected)
                )
            else:
                sent = upload(self.client, self._transfer_for(size), self.bucket, key, stream, extra, expected)
            record.size = sent.size
            if expected and sent.sha256 != expected:
                self._discard(key)
                raise StorageIntegrityError(f"SHA-256 of the {sent.size} bytes received does not match")
            return StoredObject(key, sent.size, sent.sha256, content_type, metadata, sent.store_sha256)

    def _transfer_for(self, size: int | None) -> TransferConfig:
        # S3 allows 10,000 parts: grow the part size for a known-huge object rather than fail at the end
        # (for an open file the transfer manager does so itself, from the file's size).
        if not size or size <= self.transfer.multipart_chunksize * 10_000:
            return self.transfer
        config = TransferConfig(
            **{
                name: getattr(self.transfer, name)
                for name in ("multipart_threshold", "max_concurrency", "use_threads", "preferred_transfer_client")
            },
            multipart_chunksize=-(-size // 9_000),
        )
        config.max_in_memory_upload_chunks = self.transfer.max_in_memory_upload_chunks
        return config

    def _discard(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (BotoCoreError, ClientError):
            pass  # the caller learns of the integrity failure; a leftover key is never referenced

    def open(self, key, byte_range=None):
        """GetObject now (ObjectNotFound before any byte), then stream the body, or ``byte_range`` of it."""
        with self._op("open", key) as record:
            check_key(key)
            args: dict[str, Any] = {}
            if byte_range is not None:
                first, last = byte_range
                if first < 0 or last < first:
                    raise ValueError(f"byte_range {byte_range!r} must be (first, last) with 0 <= first <= last")
                args["Range"] = f"bytes={first}-{last}"
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key, **args)
            except ClientError as exc:
                if self._code(exc) != "InvalidRange":
                    raise
                # A range past the end: the same empty answer the local store gives (if the key exists).
                self.client.head_object(Bucket=self.bucket, Key=key)
                record.size = 0
                return iter(())
            record.size = response["ContentLength"]
            return TranslatedChunks(response["Body"], key, self._translate)

    def stat(self, key):
        """HeadObject with ChecksumMode=ENABLED: size, type, metadata, the recorded SHA-256 (None if none),
        the time of the write and the store's own full-object SHA-256 (None for none or a composite of
        parts). Raises ObjectNotFound."""
        with self._op("stat", key) as record:
            check_key(key)
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            record.size = head["ContentLength"]
            return self._stored(key, head)

    def _stored(self, key: str, head: Mapping, *, copied: bool = False) -> StoredObject:
        metadata = dict(head.get("Metadata") or {})
        sha256 = metadata.pop(SHA256_META, None)
        if copied:  # the copy's checksum and age are its own, not those of the source head
            return StoredObject(key, head["ContentLength"], sha256, head.get("ContentType"), metadata)
        return StoredObject(
            key,
            head["ContentLength"],
            sha256,
            head.get("ContentType"),
            metadata,
            answered_sha256(head),
            head.get("LastModified"),
        )

    def read_back(self, key, *, through=None):
        """Hash a GET signed without botocore's request pipeline (s3_direct): what a download receives,
        for a fraction of the client CPU, which counts when thousands of small objects are read back."""
        with self._op("read_back", key) as record:
            check_key(key)
            chunks = self._direct().chunks(key)
            size, sha256 = hash_chunks(through(chunks) if through else chunks)
            record.size = size
            return size, sha256

    def open_small(self, key):
        """A GET signed without botocore's request pipeline (s3_direct), as read_back sends: a small object's
        bytes for a fraction of the client CPU of GetObject."""
        check_key(key)
        return self._direct().chunks(key)

    def delete(self, key):
        """DeleteObject; a missing key is fine (S3 answers 204 either way)."""
        with self._op("delete", key):
            check_key(key)
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, src_key, dst_key):
        """Server-side copy keeping type and metadata (CopyObject, or part by part when huge)."""
        with self._op("copy", f"{src_key} -> {dst_key}") as record:
            check_key(src_key)
            check_key(dst_key)
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=src_key)
            except ClientError as exc:
                raise self._translate(exc, src_key) from exc
            source = {"Bucket": self.bucket, "Key": src_key}
            self._server_copy(source, dst_key, head["ContentLength"], {"MetadataDirective": "COPY", **self.sse})
            record.size = head["ContentLength"]
            return self._stored(dst_key, head, copied=True)

    def _server_copy(self, source: dict, dst_key: str, size: int, extra: dict) -> None:
        if size < self.copy_object_limit:
            self.client.copy_object(CopySource=source, Bucket=self.bucket, Key=dst_key, **self._copy_checksum, **extra)
        else:
            self.client.copy(source, self.bucket, dst_key, ExtraArgs=extra, Config=self.transfer)

    def set_metadata(self, key, metadata):
        """Replace user metadata by copying the object onto itself (REPLACE), keeping type and SHA-256."""
        with self._op("set_metadata", key) as record:
            check_key(key)
            metadata = check_metadata(metadata)
            head = self.client.head_object(Bucket=self.bucket, Key=key)
            kept = {SHA256_META: head["Metadata"][SHA256_META]} if SHA256_META in head.get("Metadata", {}) else {}
            extra = {"MetadataDirective": "REPLACE", "Metadata": {**metadata, **kept}, **self.sse}
            for field in ("ContentType", "ContentEncoding", "ContentLanguage", "CacheControl", "ContentDisposition"):
                if head.get(field):
                    extra[field] = head[field]
            self._server_copy({"Bucket": self.bucket, "Key": key}, key, head["ContentLength"], extra)
            record.size = head["ContentLength"]

    def list(self, prefix=""):
        """ListObjectsV2, page by page, in key order (sha256 is None)."""
        with self._op("list", prefix) as record:
            record.size = 0
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            for page in pages:
                for item in page.get("Contents", []):
                    record.size += 1
                    yield StoredObject(item["Key"], item["Size"], modified=item.get("LastModified"))

    def url(self, key, *, expires_in=None, filename, content_type=None, disposition="attachment"):
        """A presigned GET (signed for S3_PUBLIC_ENDPOINT_URL when set) that answers with ``filename``."""
        with self._op("url", key):
            check_key(key)
            disposition = safe_disposition(disposition, content_type)
            # The response type is always the caller's (the portal's) decision, never the object's stored type.
            params = {
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": content_disposition(filename, disposition),
                "ResponseContentType": content_type or "application/octet-stream",
            }
            lifetime = int(expires_in or self.presign_expires)
            ident = (key, params["ResponseContentDisposition"], content_type, lifetime)
            link = self._links.get(ident)
            if link is None:
                link = self._client("presign").generate_presigned_url("get_object", Params=params, ExpiresIn=lifetime)
                self._links.put(ident, link, lifetime / 5)
            return link

    def check(self, *, write: bool = True):
        """HeadBucket with a single attempt, and (``write``) with S3_SSE set a probe write that proves the store
        takes that encryption; raises StorageMisconfigured or StorageUnavailable."""
        with self._op("check", None):
            self._client("check").head_bucket(Bucket=self.bucket)
            if write and self.sse:
                prove_sse_write(
                    self._client("check"),
                    self.bucket,
                    self.sse,
                    self.sse_setting,
                    f"bucket '{self.bucket}' at {self.endpoint}",
                )

    def reachable(self):
        """One HeadBucket, one attempt: False when the store does not answer or answers 5xx."""
        try:
            self._client("check").head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            return status < 500
        except BotoCoreError:
            return False
        return True

    def ensure_ready(self):
        """Create the bucket if it is missing (LocationConstraint outside us-east-1), then check it."""
        with self._op("ensure_ready", None):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if self._code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                args: dict[str, Any] = {"Bucket": self.bucket}
                if self.region != "us-east-1":
                    args["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                try:
                    self.client.create_bucket(**args)
                except ClientError as create_exc:
                    if self._code(create_exc) != "BucketAlreadyOwnedByYou":
                        raise
        self.check()
