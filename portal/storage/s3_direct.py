"""Small-object requests signed here and sent with urllib3, for the migration's thousands of small files.

botocore runs its whole request pipeline per call (endpoint rules, events, serialisation, response
parsing and validation), which costs more CPU than the request itself when the object is a few KiB:
a migration writing and reading back every file spends most of its client CPU there. Here the object
URL is worked out once per store, from one link botocore builds (so virtual-hosted and path-style
addressing stay botocore's decision), and each request is signed with SigV4 in its headers.
Failures become the same StorageError family, through the provider's own translation.
"""
from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
import weakref
from typing import Any, Iterator, Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

from portal.storage.base import (
    CHUNK_SIZE,
    ObjectNotFound,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
    StoredObject,
)
from portal.storage.ops import check_key, check_metadata, check_sha256
from portal.storage.s3_transfer import SHA256_META, answered_sha256

#: the largest body put_small sends; larger ones go through save(), streamed
SMALL_PUT_MAX = 256 * 1024
_SSE_HEADERS = {"ServerSideEncryption": "x-amz-server-side-encryption",
                "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id"}
_PROBE_KEY = "_"
#: answers worth another attempt (botocore's standard retry mode retries these too)
_RETRYABLE = frozenset({500, 502, 503, 504})
#: the most of an error answer read to find its code
_ERROR_BODY_LIMIT = 64 * 1024


class DirectRequests:
    """GETs and small PUTs of ``provider``'s objects on its own endpoint (S3_ENDPOINT_URL, not the public one)."""

    def __init__(self, provider: Any) -> None:
        from botocore.auth import S3SigV4Auth
        from botocore.exceptions import BotoCoreError, ClientError

        self.provider = provider
        client = provider.client
        try:
            probe = client.generate_presigned_url("get_object", Params={"Bucket": provider.bucket, "Key": _PROBE_KEY},
                                                  ExpiresIn=60)
        except (BotoCoreError, ClientError) as exc:
            raise provider.translate(exc) from exc
        parts = urlsplit(probe)
        # Everything up to the key: ".../bucket/" (path style) or "https://bucket.host/" (virtual hosts).
        self._base = urlunsplit((parts.scheme, parts.netloc, parts.path[:-len(_PROBE_KEY)], "", ""))
        # The link above needed credentials, so they exist; refreshable ones renew as the client's do.
        self._auth = S3SigV4Auth(provider.signing_credentials(), "s3", client.meta.region_name)
        self._timeout = (provider.config.connect_timeout, provider.config.read_timeout)
        self._where = f"bucket '{provider.bucket}' at {provider.endpoint}"

    def url(self, key: str) -> str:
        from botocore.utils import percent_encode

        return self._base + percent_encode(key, safe="/~")  # as botocore encodes an object key

    def _send(self, method: str, key: str, headers: Mapping[str, str], body: bytes | None = None):
        """One signed request, its answer unread. Raises StorageUnavailable when the store cannot be reached."""
        import urllib3
        from botocore.awsrequest import AWSRequest

        url = self.url(key)
        request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
        self._auth.add_auth(request)
        connect, read = self._timeout
        try:
            return _pool().request(method, url, body=body, headers=dict(request.headers.items()),
                                   preload_content=False, retries=False,
                                   timeout=urllib3.Timeout(connect=connect, read=read))
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"the store at {self.provider.endpoint} cannot be reached "
                                     f"({type(exc).__name__})") from exc

    def chunks(self, key: str) -> Iterator[bytes]:
        """The bytes of ``key``, streamed. Raises ObjectNotFound, StorageMisconfigured (401/403) or
        StorageUnavailable before the first chunk, StorageUnavailable when the body breaks off."""
        import urllib3

        response = self._send("GET", key, {})
        complete = False
        try:
            if response.status == 404:
                raise ObjectNotFound(f"no object at {key!r} in {self._where}")
            if response.status in (401, 403):
                raise StorageMisconfigured(f"reading from {self._where} was refused ({response.status}); check the "
                                           "credentials and the bucket policy")
            if response.status != 200:
                raise StorageUnavailable(f"{self._where} answered {response.status} to a read; try again later")
            try:
                yield from response.stream(CHUNK_SIZE)
            except urllib3.exceptions.HTTPError as exc:
                raise StorageUnavailable(f"reading {key!r} from {self._where} broke off ({type(exc).__name__})") from exc
            complete = True
        finally:
            _release(response, complete)

    def put(self, key: str, body: bytes, headers: Mapping[str, str]) -> Mapping[str, str]:
        """PUT ``body`` (in memory, so it can be sent again) under ``key`` with ``headers``; returns the
        answer's headers. A broken connection or a 5xx is tried again, with botocore's standard backoff,
        up to the provider's S3_MAX_ATTEMPTS. Raises the StorageError family, as the provider translates
        botocore's errors (BadDigest is a StorageIntegrityError, 403 a StorageMisconfigured, ...)."""
        attempts = max(1, self.provider.max_attempts)
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= attempts
            try:
                response = self._send("PUT", key, headers, body)
            except StorageUnavailable:
                if last:
                    raise
            else:
                try:
                    if response.status == 200:
                        response.drain_conn()
                        return response.headers
                    if response.status not in _RETRYABLE or last:
                        raise self.provider.translate(_client_error(response, "PutObject"), key)
                finally:
                    _release(response, response.status == 200)
            _backoff(attempt)


def _release(response: Any, complete: bool) -> None:
    """Give the connection back; one whose answer was not read to its end is closed first (it cannot be reused)."""
    if not complete:
        response.close()
    response.release_conn()


def put_small(provider: Any, key: str, body: bytes, *, content_type: str | None = None,
              metadata: Mapping[str, str] | None = None, expected_sha256: str | None = None) -> StoredObject:
    """What provider.save() makes of ``body`` (at most SMALL_PUT_MAX bytes, in memory), in one direct PUT:
    the SHA-256 sent as the ChecksumSHA256 the store verifies and kept in metadata, SSE as configured.

    Raises StorageIntegrityError when ``expected_sha256`` does not match (nothing is sent), ValueError
    for a bad key, metadata or a body over the limit, and the StorageError family for the store's refusals.
    """
    check_key(key)
    metadata, expected = check_metadata(metadata), check_sha256(expected_sha256)
    if len(body) > SMALL_PUT_MAX:
        raise ValueError(f"put_small takes at most {SMALL_PUT_MAX} bytes; save() streams larger objects")
    digest = hashlib.sha256(body)
    sha256 = digest.hexdigest()
    if expected and sha256 != expected:
        raise StorageIntegrityError(f"SHA-256 of the {len(body)} bytes received does not match")
    headers = {"Content-Type": content_type or "application/octet-stream",
               "x-amz-checksum-sha256": base64.b64encode(digest.digest()).decode("ascii")}
    headers.update((f"x-amz-meta-{name}", value) for name, value in {**metadata, SHA256_META: sha256}.items())
    headers.update((_SSE_HEADERS[name], value) for name, value in provider.sse.items() if value)
    answer = direct(provider).put(key, body, headers)
    store_sha256 = answered_sha256({"ChecksumSHA256": answer.get("x-amz-checksum-sha256"),
                                    "ChecksumType": answer.get("x-amz-checksum-type")})
    return StoredObject(key, len(body), sha256, content_type, metadata, store_sha256)


def _backoff(attempt: int) -> None:
    # botocore's standard mode: a random wait of up to 2^(attempt-1) seconds, at most 20.
    time.sleep(random.random() * min(20, 2 ** (attempt - 1)))


def _client_error(response: Any, operation: str):
    """botocore's ClientError for an S3 error answer (its XML names the code), so one translation serves both."""
    import urllib3
    from botocore.exceptions import ClientError

    code = message = ""
    try:
        raw = response.read(_ERROR_BODY_LIMIT, decode_content=True) or b""
    except (urllib3.exceptions.HTTPError, OSError):  # the body broke off: the status says enough
        raw = b""
    try:
        root = ElementTree.fromstring(raw)
        code, message = root.findtext("Code") or "", root.findtext("Message") or ""
    except ElementTree.ParseError:
        pass  # a proxy's HTML page, or nothing: the status says enough
    return ClientError({"Error": {"Code": code or str(response.status), "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": response.status}}, operation)


_DIRECT: "weakref.WeakKeyDictionary[Any, DirectRequests]" = weakref.WeakKeyDictionary()
_LOCK, _POOL_LOCK = threading.Lock(), threading.Lock()
_POOL = None


def direct(provider: Any) -> DirectRequests:
    """The provider's DirectRequests, made on first use."""
    with _LOCK:
        requests = _DIRECT.get(provider)
        if requests is None:
            requests = _DIRECT[provider] = DirectRequests(provider)
        return requests


def _pool():
    """One urllib3 pool per process, shared by the copying threads, verifying TLS like botocore."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import urllib3
            from botocore.httpsession import get_cert_path

            _POOL = urllib3.PoolManager(maxsize=32, cert_reqs="CERT_REQUIRED", ca_certs=get_cert_path(True))
        return _POOL
