"""A store that goes down: an S3 provider's requests answered with 503 Service Unavailable while a switch is on.

The answer is made in botocore's ``before-send`` event, so the request never reaches the server while the
client, its retries, the provider's error translation and everything above run as they do in an outage.
``refusing(provider, "DeleteObject")`` refuses only deletes; ``refusing(provider)`` refuses everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.awsrequest import AWSResponse

from tests.support.s3_requests import PURPOSES

BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>Service is unable to handle request.</Message></Error>"
)


class _Raw:
    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **kwargs):
        yield self.data


def _operation(request) -> str:
    if request.method == "DELETE":
        return "DeleteObject" if "uploadId" not in request.url else "AbortMultipartUpload"
    return request.method


@dataclass
class Outage:
    """The switch: ``down`` on refuses the chosen operations (all when none are named), after letting ``passes``
    more through; ``refused`` counts the refusals."""

    operations: frozenset[str] = frozenset()
    down: bool = True
    refused: int = 0
    #: requests still let through although ``down`` (an outage that starts in the middle of an upload)
    passes: int = 0

    def __call__(self, request, **kwargs):
        operation = _operation(request)
        if self.down and (not self.operations or operation in self.operations):
            if self.passes > 0:
                self.passes -= 1
                return None
            self.refused += 1
            return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Raw(BODY))
        return None


def refusing(provider, *operations: str, down: bool = True) -> Outage:
    """Put ``provider``'s store into an outage (of ``operations`` only, when named) until ``outage.down`` is False."""
    outage = Outage(frozenset(operations), down)
    for purpose in PURPOSES:
        provider._client(purpose).meta.events.register_first("before-send.s3", outage)
    return outage
