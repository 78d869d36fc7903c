"""Make moto keep (and check) a SHA-256 sent with a PUT the way S3 and MinIO do.

S3 and MinIO store an ``x-amz-checksum-sha256`` sent with a PutObject, refuse the PUT with BadDigest
when the body does not match it, and answer it from HeadObject with ChecksumMode=ENABLED. moto 5
does that only when the SDK also sends ``x-amz-sdk-checksum-algorithm``, which boto3 leaves out when
the caller supplies the value (as the portal's S3 provider does), and never checks the value. This
patch closes that gap for the tests and the benchmark; it changes nothing else in moto.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response

_ORIGINAL = S3Response._get_checksum


class BadDigest(S3ClientError):
    code = "BadDigest"

    def __init__(self) -> None:
        super().__init__("BadDigest", "The SHA256 you specified did not match the calculated checksum.")


def _get_checksum_like_s3(self, response_headers):
    sent = self.headers.get("x-amz-checksum-sha256")
    if not sent or self.headers.get("x-amz-sdk-checksum-algorithm"):
        return _ORIGINAL(self, response_headers)
    body = self.body if isinstance(self.body, bytes) else (self.body or "").encode("utf-8")
    if base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") != sent:
        raise BadDigest()
    response_headers["x-amz-checksum-sha256"] = sent
    return "SHA256", sent


def install() -> None:
    S3Response._get_checksum = _get_checksum_like_s3


def uninstall() -> None:
    S3Response._get_checksum = _ORIGINAL


@contextmanager
def s3_like_checksums() -> Iterator[None]:
    install()
    try:
        yield
    finally:
        uninstall()
