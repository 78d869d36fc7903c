"""The direct requests (s3_direct) on the wire, against an endpoint that answers from a script: connections
given back or dropped, bodies that break off, no retries below the provider's own, every status a read can
meet, answers given by a before-send handler in place of the network, and what an error answer is read for."""

from __future__ import annotations

import base64
import gzip
import hashlib
import select
import socket

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials

from portal.storage import s3_direct
from portal.storage.base import (
    CHUNK_SIZE,
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
    StoredObject,
)
from portal.storage.s3_direct import DirectRequests, put_small
from portal.storage.s3_errors import translate
from tests.support.scripted_http import HANG_UP, SILENCE, Held, answer

BUCKET = "files"
KEY_ID, SECRET = "AKIASCRIPTEDTEST", "scripted-test-secret"
OK = answer(200)


def direct(endpoint: str, *, max_attempts: int = 3, read_timeout: int = 5) -> DirectRequests:
    """DirectRequests for bucket 'files' at ``endpoint``, path-style, as the provider builds them."""
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}, connect_timeout=1, read_timeout=read_timeout),
    )
    return DirectRequests(
        client,
        bucket=BUCKET,
        endpoint=endpoint,
        credentials=lambda: Credentials(KEY_ID, SECRET),
        max_attempts=max_attempts,
        translate=lambda exc, key=None: translate(exc, bucket=BUCKET, endpoint=endpoint, key=key),
    )


@pytest.fixture
def waits(monkeypatch):
    """The backoff waits between attempts, recorded instead of slept."""
    recorded: list[int] = []
    monkeypatch.setattr(s3_direct, "_backoff", recorded.append)
    return recorded


def where(server) -> str:
    return f"bucket '{BUCKET}' at {server.endpoint}"


# -- reads ------------------------------------------------------------------------------------------


def test_a_whole_read_gives_its_connection_back_for_the_next_request(scripted):
    server = scripted(answer(200, b"first"), answer(200, b"second"))
    requests = direct(server.endpoint)
    assert b"".join(requests.chunks("attachments/a")) == b"first"
    assert b"".join(requests.chunks("attachments/b")) == b"second"
    assert server.connections == 1
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/files/attachments/a"),
        ("GET", "/files/attachments/b"),
    ]


def test_a_read_stopped_early_does_not_leave_its_connection_to_the_next_request(scripted):
    body = bytes(range(256)) * (3 * CHUNK_SIZE // 256)
    server = scripted(answer(200, body), answer(200, b"the next object"))
    requests = direct(server.endpoint)
    reading = requests.chunks("attachments/big")
    assert next(reading) == body[:CHUNK_SIZE]
    reading.close()  # a download whose client went away
    assert b"".join(requests.chunks("attachments/next")) == b"the next object"
    assert server.connections == 2


def test_a_body_is_streamed_chunk_by_chunk(scripted):
    body = bytes(range(256)) * (5 * CHUNK_SIZE // 512)  # two and a half chunks
    server = scripted(answer(200, body))
    chunks = list(direct(server.endpoint).chunks("attachments/a"))
    assert [len(chunk) for chunk in chunks] == [CHUNK_SIZE, CHUNK_SIZE, CHUNK_SIZE // 2]
    assert b"".join(chunks) == body


def test_a_body_that_breaks_off_is_unavailable_and_names_the_key(scripted):
    server = scripted(answer(200, b"only the start", length=1000))
    reading = direct(server.endpoint).chunks("attachments/cut")
    with pytest.raises(StorageUnavailable) as caught:
        b"".join(reading)
    assert str(caught.value) == f"reading 'attachments/cut' from {where(server)} broke off (ProtocolError)"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (404, ObjectNotFound, "no object at 'attachments/a' in {where}"),
        (
            401,
            StorageMisconfigured,
            "reading from {where} was refused (401); check the credentials and the bucket policy",
        ),
        (
            403,
            StorageMisconfigured,
            "reading from {where} was refused (403); check the credentials and the bucket policy",
        ),
        (500, StorageUnavailable, "{where} answered 500 to a read; try again later"),
        (206, StorageUnavailable, "{where} answered 206 to a read; try again later"),
    ],
)
def test_a_read_answered_otherwise_than_200_fails_before_any_byte(scripted, status, error, message):
    server = scripted(answer(status, b"<Error><Code>X</Code></Error>"), answer(200, b"served"))
    requests = direct(server.endpoint)
    with pytest.raises(error) as caught:
        next(requests.chunks("attachments/a"))
    assert str(caught.value) == message.format(where=where(server))
    assert b"".join(requests.chunks("attachments/b")) == b"served"  # the failed answer left nothing behind


def test_a_store_that_never_answers_a_read_times_out(scripted):
    server = scripted(SILENCE)
    with pytest.raises(StorageUnavailable, match="cannot be reached"):
        next(direct(server.endpoint, read_timeout=1).chunks("attachments/a"))


@pytest.fixture
def unanswered_endpoint():
    """An endpoint that never completes a connection: a listening socket whose queue is already full (Linux then
    drops further connection requests, as a firewall that drops packets does)."""
    listening = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listening.getsockname()[1]
    waiting = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        waiting.append(filler)
    # the first takes the queue's one place; wait until it has, so that no later request can take it
    assert select.select([], waiting[:1], [], 10)[1], "the listening socket took no connection"
    yield f"http://127.0.0.1:{port}"
    for sock in (*waiting, listening):
        sock.close()


def test_a_store_that_never_takes_the_connection_times_out_connecting(unanswered_endpoint):
    with pytest.raises(StorageUnavailable) as caught:
        next(direct(unanswered_endpoint, read_timeout=30).chunks("attachments/a"))
    assert str(caught.value) == f"the store at {unanswered_endpoint} cannot be reached (ConnectTimeoutError)"


# -- small PUTs -------------------------------------------------------------------------------------


def test_a_put_is_signed_for_the_bytes_it_sends(scripted):
    body = b"exactly these bytes"
    server = scripted(OK)
    direct(server.endpoint).put("attachments/a", body, {"Content-Type": "text/plain"})
    (request,) = server.requests
    assert (request.method, request.path, request.body) == ("PUT", "/files/attachments/a", body)
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
    assert "Credential=AKIASCRIPTEDTEST/" in request.headers["authorization"]


def test_puts_that_succeed_share_one_connection(scripted):
    server = scripted(OK, OK)
    requests = direct(server.endpoint)
    requests.put("attachments/a", b"a", {})
    requests.put("attachments/b", b"b", {})
    assert server.connections == 1


def test_a_refused_put_whose_answer_was_not_read_to_its_end_does_not_leave_its_connection_to_the_next(scripted):
    # Only the first 64 KiB of an error answer are read; the rest, still on its way, must not be taken
    # for the answer to the next request.
    xml = b"<Error><Code>InvalidArgument</Code></Error>"
    refusal = answer(400, xml + b" " * (200 * 1024))
    read = refusal.index(b"\r\n\r\n") + 4 + 64 * 1024  # the head and as much as is read of the body
    server = scripted(Held(refusal[:read], refusal[read:]), OK)
    requests = direct(server.endpoint, max_attempts=1)
    with pytest.raises(StorageError, match=r"refused the request \(InvalidArgument\)"):
        requests.put("attachments/a", b"a", {})
    assert requests.put("attachments/b", b"b", {}) is not None
    assert server.connections == 2


def test_a_refused_put_read_to_its_end_keeps_its_connection(scripted):
    server = scripted(answer(400, b"<Error><Code>InvalidArgument</Code></Error>"), OK)
    requests = direct(server.endpoint)
    with pytest.raises(StorageError, match=r"refused the request \(InvalidArgument\)"):
        requests.put("attachments/a", b"a", {})
    requests.put("attachments/b", b"b", {})
    assert server.connections == 1


def test_no_retries_below_the_providers_own_attempts(scripted, waits):
    server = scripted(HANG_UP, HANG_UP, HANG_UP, HANG_UP, HANG_UP, HANG_UP)
    with pytest.raises(StorageUnavailable) as caught:
        direct(server.endpoint, max_attempts=2).put("attachments/a", b"a", {})
    assert str(caught.value) == f"the store at {server.endpoint} cannot be reached (ProtocolError)"
    assert (server.connections, len(server.requests), waits) == (2, 2, [1])


@pytest.mark.parametrize("max_attempts", [1, 0])
def test_a_single_attempt_is_one_request(scripted, waits, max_attempts):
    server = scripted(answer(503, b"<Error><Code>SlowDown</Code></Error>"), OK)
    with pytest.raises(StorageUnavailable, match=r"unavailable \(SlowDown\)"):
        direct(server.endpoint, max_attempts=max_attempts).put("attachments/a", b"a", {})
    assert (len(server.requests), waits) == (1, [])


def test_a_rejected_body_names_the_key_even_when_a_proxy_compressed_the_answer(scripted):
    xml = b"<Error><Code>BadDigest</Code><Message>The Content-MD5 you specified did not match</Message></Error>"
    server = scripted(answer(400, gzip.compress(xml), headers={"Content-Encoding": "gzip"}))
    with pytest.raises(StorageIntegrityError) as caught:
        direct(server.endpoint).put("attachments/a", b"a", {})
    assert str(caught.value) == f"{where(server)} rejected the bytes of 'attachments/a': checksum mismatch (BadDigest)"


def test_put_small_sends_type_checksum_metadata_and_encryption_and_says_what_it_stored(scripted):
    body = b"a small attachment"
    digest = hashlib.sha256(body)
    checksum = base64.b64encode(digest.digest()).decode()
    server = scripted(answer(200, headers={"x-amz-checksum-sha256": checksum, "x-amz-checksum-type": "FULL_OBJECT"}))
    stored = put_small(
        direct(server.endpoint),
        "attachments/a.pdf",
        body,
        content_type="application/pdf",
        metadata={"portal-envelope": "none"},
        sse={"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "key-1"},
    )
    sha256 = digest.hexdigest()
    assert stored == StoredObject(
        "attachments/a.pdf", len(body), sha256, "application/pdf", {"portal-envelope": "none"}, sha256
    )
    headers = server.requests[0].headers
    assert {
        name: headers[name] for name in headers if name.startswith(("x-amz-meta-", "x-amz-server", "x-amz-checksum"))
    } == {
        "x-amz-meta-portal-envelope": "none",
        "x-amz-meta-portal-sha256": sha256,
        "x-amz-checksum-sha256": checksum,
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": "key-1",
    }
    assert headers["content-type"] == "application/pdf"


def test_put_small_without_a_type_stores_octet_stream_and_sends_no_empty_encryption_header(scripted):
    server = scripted(OK)
    stored = put_small(
        direct(server.endpoint),
        "attachments/a",
        b"x",
        metadata={},
        sse={"ServerSideEncryption": "AES256", "SSEKMSKeyId": None},
    )
    headers = server.requests[0].headers
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-amz-server-side-encryption"] == "AES256"
    assert "x-amz-server-side-encryption-aws-kms-key-id" not in headers
    assert (stored.content_type, stored.metadata, stored.store_sha256) == (None, {}, None)  # no checksum answered


def test_a_composite_checksum_in_the_answer_is_not_taken_for_the_objects_own(scripted):
    body = b"x"
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    server = scripted(answer(200, headers={"x-amz-checksum-sha256": checksum, "x-amz-checksum-type": "COMPOSITE"}))
    assert put_small(direct(server.endpoint), "attachments/a", body, metadata={}, sse={}).store_sha256 is None


# -- answers given in place of the network ----------------------------------------------------------


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs):
        yield self._data


def answered_by_handler(requests: DirectRequests, status: int, body: bytes = b"", headers=None) -> list:
    """Register a before-send handler that answers every direct request itself; returns what it was offered."""
    offered = []

    def handler(request, **kwargs):
        offered.append(request)
        return AWSResponse(request.url, status, headers or {}, _Raw(body))

    requests._events.register("before-send.s3", handler)
    return offered


def test_a_before_send_handler_answers_a_read_in_place_of_the_network(scripted):
    server = scripted()
    requests = direct(server.endpoint)
    body = bytes(range(256)) * (3 * CHUNK_SIZE // 512)
    offered = answered_by_handler(requests, 200, body)
    chunks = list(requests.chunks("attachments/a"))
    assert (b"".join(chunks), max(map(len, chunks))) == (body, CHUNK_SIZE)
    assert (offered[0].method, offered[0].url) == ("GET", f"{server.endpoint}/files/attachments/a")
    assert "AWS4-HMAC-SHA256" in offered[0].headers["Authorization"]
    assert server.connections == 0


def test_a_before_send_handler_answers_a_put_and_its_errors(scripted):
    server = scripted()
    requests = direct(server.endpoint)
    checksum = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
    offered = answered_by_handler(requests, 200, headers={"x-amz-checksum-sha256": checksum})
    stored = put_small(requests, "attachments/a", b"x", metadata={}, sse={})
    assert (stored.store_sha256, offered[0].body) == (hashlib.sha256(b"x").hexdigest(), b"x")
    missing = direct(server.endpoint)
    answered_by_handler(missing, 404)
    with pytest.raises(ObjectNotFound):
        next(missing.chunks("attachments/gone"))
    assert server.connections == 0


def test_a_before_send_handler_answers_a_refused_put(scripted):
    server = scripted()
    requests = direct(server.endpoint)
    answered_by_handler(requests, 403, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
    with pytest.raises(StorageMisconfigured, match=r"access to bucket 'files' at .* was refused \(AccessDenied\)"):
        put_small(requests, "attachments/a", b"x", metadata={}, sse={})


def test_the_wait_between_attempts_grows_as_botocore_s_standard_mode_does(monkeypatch):
    slept = []
    monkeypatch.setattr(s3_direct.random, "random", lambda: 0.5)
    monkeypatch.setattr(s3_direct.time, "sleep", slept.append)
    for attempt in range(1, 8):
        s3_direct._backoff(attempt)
    assert slept == [0.5, 1, 2, 4, 8, 10, 10]  # half of 1, 2, 4, ... up to 20 s


# -- what an error answer is read for ---------------------------------------------------------------


class _Answer:
    """An error answer as urllib3 hands it over, recording how much of its body was asked for."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body, self.asked = status, body, []

    def read(self, amount=None, decode_content=None) -> bytes:
        self.asked.append(amount)
        return self._body[:amount]


def test_an_error_answer_gives_code_message_and_operation():
    error = s3_direct._client_error(
        _Answer(400, b"<Error><Code>BadDigest</Code><Message>no</Message></Error>"), "PutObject"
    )
    assert error.response["Error"] == {"Code": "BadDigest", "Message": "no"}
    assert error.operation_name == "PutObject"


def test_an_error_answer_without_a_message_gives_an_empty_one():
    error = s3_direct._client_error(_Answer(400, b"<Error><Code>BadDigest</Code></Error>"), "PutObject")
    assert error.response["Error"] == {"Code": "BadDigest", "Message": ""}
    page = s3_direct._client_error(_Answer(502, b"Bad Gateway"), "PutObject")
    assert page.response["Error"] == {"Code": "502", "Message": ""}


def test_the_direct_requests_verify_tls_with_botocores_certificates(monkeypatch):
    from botocore.httpsession import get_cert_path

    monkeypatch.setattr(s3_direct, "_POOL", None)  # made afresh, as in a new process
    pool = s3_direct._pool()
    assert pool is s3_direct._pool()
    settings = {name: pool.connection_pool_kw.get(name) for name in ("maxsize", "cert_reqs", "ca_certs")}
    assert settings == {"maxsize": 32, "cert_reqs": "CERT_REQUIRED", "ca_certs": get_cert_path(True)}


def test_only_the_start_of_a_huge_error_answer_is_read():
    huge = _Answer(500, b"<Error><Code>InternalError</Code></Error>" + b" " * (10 * 1024 * 1024))
    s3_direct._client_error(huge, "PutObject")
    assert huge.asked == [64 * 1024]
