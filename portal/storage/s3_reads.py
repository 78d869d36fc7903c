"""Object reads signed here and sent with urllib3, for reading back thousands of small objects.

botocore's GetObject runs its whole request pipeline per call (endpoint rules, events, response
parsing and validation), and a presigned link costs nearly as much to make. When a migration reads
back every object it wrote, that pipeline costs more CPU than the request itself. Here the object URL
is worked out once per store, from one link botocore builds (so virtual-hosted and path-style
addressing stay botocore's decision), and each GET is signed with SigV4 in its headers.
"""
from __future__ import annotations

import threading
import weakref
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

from portal.storage.base import CHUNK_SIZE, ObjectNotFound, StorageMisconfigured, StorageUnavailable

_PROBE_KEY = "_"


class SignedReader:
    """GETs of ``provider``'s objects on its own endpoint (S3_ENDPOINT_URL, not the public one)."""

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

    def url(self, key: str) -> str:
        from botocore.utils import percent_encode

        return self._base + percent_encode(key, safe="/~")  # as botocore encodes an object key

    def chunks(self, key: str) -> Iterator[bytes]:
        """The bytes of ``key``, streamed. Raises ObjectNotFound, StorageMisconfigured (401/403) or
        StorageUnavailable before the first chunk, StorageUnavailable when the body breaks off."""
        import urllib3
        from botocore.awsrequest import AWSRequest

        url = self.url(key)
        request = AWSRequest(method="GET", url=url)
        self._auth.add_auth(request)
        where = f"bucket '{self.provider.bucket}' at {self.provider.endpoint}"
        connect, read = self._timeout
        try:
            response = _pool().request("GET", url, headers=dict(request.headers.items()), preload_content=False,
                                       retries=False, timeout=urllib3.Timeout(connect=connect, read=read))
        except urllib3.exceptions.HTTPError as exc:
            raise StorageUnavailable(f"the store at {self.provider.endpoint} cannot be reached "
                                     f"({type(exc).__name__})") from exc
        try:
            if response.status == 404:
                raise ObjectNotFound(f"no object at {key!r} in {where}")
            if response.status in (401, 403):
                raise StorageMisconfigured(f"reading from {where} was refused ({response.status}); check the "
                                           "credentials and the bucket policy")
            if response.status != 200:
                raise StorageUnavailable(f"{where} answered {response.status} to a read; try again later")
            try:
                yield from response.stream(CHUNK_SIZE)
            except urllib3.exceptions.HTTPError as exc:
                raise StorageUnavailable(f"reading {key!r} from {where} broke off ({type(exc).__name__})") from exc
        finally:
            response.release_conn()


_READERS: "weakref.WeakKeyDictionary[Any, SignedReader]" = weakref.WeakKeyDictionary()
_LOCK, _POOL_LOCK = threading.Lock(), threading.Lock()
_POOL = None


def signed_reader(provider: Any) -> SignedReader:
    """The provider's SignedReader, made on first use."""
    with _LOCK:
        reader = _READERS.get(provider)
        if reader is None:
            reader = _READERS[provider] = SignedReader(provider)
        return reader


def _pool():
    """One urllib3 pool per process, shared by the reading threads, verifying TLS like botocore."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            import urllib3
            from botocore.httpsession import get_cert_path

            _POOL = urllib3.PoolManager(maxsize=32, cert_reqs="CERT_REQUIRED", ca_certs=get_cert_path(True))
        return _POOL
