"""The HTTP requests an S3 provider's clients send, seen through botocore's ``before-send`` event.

Every request the provider makes passes that event: botocore's own calls and the small direct
PUTs and read-back GETs of s3_direct alike. A test reads the method, key and copy source of each
to prove what went over the wire (a server-side copy, one GET of a key, one CreateBucket).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

PURPOSES = ("main", "stream", "check")


@dataclass(frozen=True)
class SentRequest:
    """One request as it left the client: method, key within the bucket ('' for the bucket itself), query, headers."""

    method: str
    key: str
    query: dict[str, list[str]]
    copy_source: str | None
    headers: dict[str, str]

    @property
    def operation(self) -> str:
        """The S3 operation this request is, told apart as S3 itself does (method, key, query, headers)."""
        if self.copy_source is not None:
            return "UploadPartCopy" if "partNumber" in self.query else "CopyObject"
        if not self.key:
            return {"HEAD": "HeadBucket", "PUT": "CreateBucket", "GET": "ListObjects"}.get(self.method, self.method)
        if self.method == "PUT":
            return "UploadPart" if "partNumber" in self.query else "PutObject"
        if self.method == "POST":
            return "CreateMultipartUpload" if "uploads" in self.query else "CompleteMultipartUpload"
        return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}[self.method]


def record_requests(provider) -> list[SentRequest]:
    """Start recording what ``provider`` sends; the returned list fills as requests leave."""
    sent: list[SentRequest] = []
    bucket = provider.bucket

    def seen(request, **kwargs):
        url = urlsplit(request.url)
        path = unquote(url.path)
        if path.startswith(f"/{bucket}"):  # path style; a virtual-hosted URL carries the bucket in its host
            path = path[len(bucket) + 1 :]
        source = request.headers.get("x-amz-copy-source")
        if isinstance(source, bytes):
            source = source.decode()
        headers = {
            name.lower(): value.decode() if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
        }
        sent.append(
            SentRequest(
                request.method,
                path.lstrip("/"),
                parse_qs(url.query, keep_blank_values=True),
                unquote(source) if source else None,
                headers,
            )
        )

    for purpose in PURPOSES:
        # First, so that moto's in-process mock (which answers in place of the network) cannot hide it.
        provider._client(purpose).meta.events.register_first("before-send.s3", seen)
    return sent


def operations(sent: list[SentRequest], key: str | None = None) -> list[str]:
    """The operation names in ``sent``, of ``key`` only when given."""
    return [request.operation for request in sent if key is None or request.key == key]
