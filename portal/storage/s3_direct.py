"""Small-object requests signed here and sent with urllib3, for the migration's thousands of small files.

botocore runs its whole request pipeline per call (endpoint rules, events, serialisation, response
parsing and validation), which costs more CPU than the request itself when the object is a few KiB:
a migration writing and reading back every file spends most of its client CPU there. Here the object
URL is worked out once per store, from one link botocore builds (so virtual-hosted and path-style
addressing stay botocore's decision), and each request is signed with SigV4 in its headers.
Failures become the same StorageError family, through the provider's own translation.

Each signed request is first offered to the client's ``before-send`` handlers, as botocore's own
Endpoint offers every request it sends: botocore documents that a handler of that event may answer
in place of the network. Without any handler (production) nothing answers and the request goes out
over urllib3; whatever intercepts the client's requests there (moto's in-process ``mock_aws``, a
recording or stubbing tool) sees these requests exactly like the SDK's, so the provider never needs
to know whether it talks to a real endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree

from portal.storage.base import (
    CHUNK_SIZE,
    SMALL_OBJECT_MAX,
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
    StoredObject,
)
from portal.storage.s3_transfer import SHA256_META, answered_sha256

#: the largest body put_small sends; save() streams larger ones
SMALL_PUT_MAX = SMALL_OBJECT_MAX
_SSE_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}
_PROBE_KEY = "_"
#: answers worth another attempt (botocore's standard retry mode retries these too)
_RETRYABLE = frozenset({500, 502, 503, 504})
#: the most of an error answer read to find its code
_ERROR_BODY_LIMIT = 64 * 1024
_OPERATIONS = {"GET": "GetObject", "PUT": "PutObject"}


class DirectRequests:
    """GETs and small PUTs of one bucket's objects on the store's own endpoint (S3_ENDPOINT_URL, not the
    public one), signed with ``credentials`` for ``client``'s region, ``translate`` turning botocore's
    errors into the StorageError family. Raises what ``translate`` makes of a client that cannot sign."""

    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        endpoint: str,
        credentials: Callable[[], Any],
        max_attempts: int,
        translate: Callable[..., StorageError],
    ) -> None:
        from botocore.auth import S3SigV4Auth
        from botocore.exceptions import BotoCoreError, ClientError

        self._translate, self._endpoint, self._max_attempts = translate, endpoint, max_attempts
        try:
            probe = client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": _PROBE_KEY}, ExpiresIn=60
            )
        except (BotoCoreError, ClientError) as exc:
            raise translate(exc) from exc
        parts = urlsplit(probe)
        # Everything up to the key: ".../bucket/" (path style) or "https://bucket.host/" (virtual hosts).
        self._base = urlunsplit((parts.scheme, parts.netloc, parts.path[: -len(_PROBE_KEY)], "", ""))
        # The link above needed credentials, so they exist; refreshable ones renew as the client's do.
        self._auth = S3SigV4Auth(credentials(), "s3", client.meta.region_name)
        self._events = client.meta.events
        self._timeout = (client.meta.config.connect_timeout, client.meta.config.read_timeout)
        self._where = f"bucket '{bucket}' at {endpoint}"

    def url(self, key: str) -> str:
        from botocore.utils import percent_encode

        return self._base + percent_encode(key, safe="/~")  # as botocore encodes an object key

    def _send(self, method: str, key: str, headers: Mapping[str, str], body: bytes | None = None):
        """One signed request, its answer unread. Raises StorageUnavailable when the store cannot be reached."""
        import urllib3
        from botocore.awsrequest import AWSRequest
        from botocore.hooks import first_non_none_response

        url = self.url(key)
        request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
        self._auth.add_auth(request)
        answered = first_non_none_response(
            self._events.emit(f"before-send.s3.{_OPERATIONS[method]}", request=request.prepare())
        )
        if answered is not None:
            return _Answered(answered)
        connect, read = self._timeout
        try:
            return _pool().request(
                method,
                url,
                body=body,
                headers=dict(request.headers.items()),
                preload_content=False,
                retries=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
            )
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"the store at {self._endpoint} cannot be reached ({type(exc).__name__})") from exc

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
                raise StorageMisconfigured(
                    f"reading from {self._where} was refused ({response.status}); check the "
                    "credentials and the bucket policy"
                )
            if response.status != 200:
                raise StorageUnavailable(f"{self._where} answered {response.status} to a read; try again later")
            try:
                yield from response.stream(CHUNK_SIZE)
            except urllib3.exceptions.HTTPError as exc:
                raise StorageUnavailable(
                    f"reading {key!r} from {self._where} broke off ({type(exc).__name__})"
                ) from exc
            complete = True
        finally:
            _release(response, complete)

    def put(self, key: str, body: bytes, headers: Mapping[str, str]) -> Mapping[str, str]:
        """PUT ``body`` (in memory, so it can be sent again) under ``key`` with ``headers``; returns the
        answer's headers. A broken connection or a 5xx is tried again, with botocore's standard backoff,
        up to the provider's S3_MAX_ATTEMPTS. Raises the StorageError family, as the provider translates
        botocore's errors (BadDigest is a StorageIntegrityError, 403 a StorageMisconfigured, ...)."""
        attempts = max(1, self._max_attempts)
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
                        raise self._translate(_client_error(response, "PutObject"), key)
                finally:
                    _release(response, response.status == 200)
            _backoff(attempt)


def _release(response: Any, complete: bool) -> None:
    """Give the connection back; one whose answer was not read to its end is closed first (it cannot be reused)."""
    if not complete:
        response.close()
    response.release_conn()


class _Answered:
    """An answer a before-send handler gave in place of the network (botocore's AWSResponse, its body
    already in memory), read the way urllib3's answers are."""

    def __init__(self, response: Any) -> None:
        self.status, self.headers = response.status_code, response.headers
        self._body = io.BytesIO(response.content)

    def stream(self, amount: int) -> Iterator[bytes]:
        return iter(lambda: self._body.read(amount), b"")

    def read(self, amount: int | None = None, decode_content: bool = True) -> bytes:
        return self._body.read(amount)

    def drain_conn(self) -> None:
        """Nothing to drain: no connection was used."""

    close = release_conn = drain_conn


def put_small(
    requests: DirectRequests,
    key: str,
    body: bytes,
    *,
    content_type: str | None = None,
    metadata: Mapping[str, str],
    expected: str | None = None,
    sse: Mapping[str, str],
) -> StoredObject:
    """What the provider's save() makes of ``body`` (at most SMALL_PUT_MAX bytes, in memory), in one direct
    PUT: the SHA-256 sent as the ChecksumSHA256 the store verifies and kept in metadata, ``sse`` headers.
    ``key``, ``metadata`` and ``expected`` (hex SHA-256) are already checked by save().

    Raises StorageIntegrityError when ``expected`` does not match (nothing is sent), ValueError for a
    body over the limit, and the StorageError family for the store's refusals.
    """
    if len(body) > SMALL_PUT_MAX:
        raise ValueError(f"put_small takes at most {SMALL_PUT_MAX} bytes; save() streams larger objects")
    digest = hashlib.sha256(body)
    sha256 = digest.hexdigest()
    if expected and sha256 != expected:
        raise StorageIntegrityError(f"SHA-256 of the {len(body)} bytes received does not match")
    headers = {
        "Content-Type": content_type or "application/octet-stream",
        "x-amz-checksum-sha256": base64.b64encode(digest.digest()).decode("ascii"),
    }
    headers.update((f"x-amz-meta-{name}", value) for name, value in {**metadata, SHA256_META: sha256}.items())
    headers.update((_SSE_HEADERS[name], value) for name, value in sse.items() if value)
    answer = requests.put(key, body, headers)
    store_sha256 = answered_sha256(
        {"ChecksumSHA256": answer.get("x-amz-checksum-sha256"), "ChecksumType": answer.get("x-amz-checksum-type")}
    )
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
    return ClientError(
        {
            "Error": {"Code": code or str(response.status), "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": response.status},
        },
        operation,
    )


_POOL_LOCK = threading.Lock()
_POOL = None


def _pool():
    """One urllib3 pool per process, shared by the copying threads, verifying TLS like botocore."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import urllib3
            from botocore.httpsession import get_cert_path

            _POOL = urllib3.PoolManager(maxsize=32, cert_reqs="CERT_REQUIRED", ca_certs=get_cert_path(True))
        return _POOL
