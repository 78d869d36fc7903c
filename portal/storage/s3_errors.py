"""What a boto3/botocore failure means for the portal: the StorageError family, with safe messages, and bodies that fail that way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    FlexibleChecksumError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from portal.storage.base import (
    CHUNK_SIZE,
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
)

_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
_DENIED = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AccountProblem",
    "AllAccessDisabled",
}
_WRONG_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
    "301",
    "400",
}
_BAD_DIGEST = {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"}
_BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed"}
_UNREACHABLE = (BotoConnectionError, HTTPClientError)


def translate(exc: Exception, *, bucket: str, endpoint: str, key: str | None = None) -> StorageError:
    """The StorageError for a boto3/botocore failure; its message names no credential or signature."""
    where = f"bucket '{bucket}' at {endpoint}"
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code == "NoSuchBucket" or (code in _NOT_FOUND and key is None):
            return StorageMisconfigured(
                f"bucket '{bucket}' does not exist at {endpoint}; create it with `flask storage init`"
            )
        if code == "InvalidBucketName":
            return StorageMisconfigured(f"S3_BUCKET '{bucket}' is not a valid bucket name")
        if code in _NOT_FOUND:
            return ObjectNotFound(f"no object at {key!r} in {where}")
        if code in _DENIED or status == 403:
            return StorageMisconfigured(
                f"access to {where} was refused ({code or status}); check "
                "S3_ACCESS_KEY, S3_SECRET_KEY and the bucket policy"
            )
        if code in _WRONG_REGION:
            return StorageMisconfigured(
                f"{where} answered {code}; check S3_REGION, S3_ENDPOINT_URL and S3_ADDRESSING_STYLE"
            )
        if code in _BAD_DIGEST:
            return StorageIntegrityError(f"{where} rejected the bytes of {key!r}: checksum mismatch ({code})")
        if code in _BUSY or status >= 500:
            return StorageUnavailable(f"{where} is unavailable ({code or status}); try again later")
        return StorageError(f"{where} refused the request ({code or status})")
    if isinstance(exc, FlexibleChecksumError):
        return StorageIntegrityError(f"the bytes of {key!r} read from {where} failed their checksum")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StorageMisconfigured("no S3 credentials were found; set S3_ACCESS_KEY and S3_SECRET_KEY")
    if isinstance(exc, (*_UNREACHABLE, OSError)):
        what = "timed out" if "Timeout" in type(exc).__name__ else "connection failed"
        return StorageUnavailable(
            f"the store at {endpoint} cannot be reached ({what}); check that it is running and S3_ENDPOINT_URL"
        )
    return StorageError(f"{where} failed ({type(exc).__name__})")


def endpoint_label(url: str | None, region: str) -> str:
    """The endpoint as it may appear in messages: scheme, host and port only."""
    if not url:
        return f"AWS S3 ({region})"
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


class TranslatedChunks:
    """Iterator over a GetObject body that closes it when done and reports stream failures through
    ``translate`` (the provider's translation: a StorageError naming ``key``)."""

    def __init__(self, body: Any, key: str, translate: Callable[[Exception, str], StorageError]) -> None:
        self._body, self._key, self._translate = body, key, translate

    def __iter__(self) -> TranslatedChunks:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = self._body.read(CHUNK_SIZE)
        except (BotoCoreError, ClientError, OSError) as exc:
            self.close()
            raise self._translate(exc, self._key) from exc
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        self._body.close()
