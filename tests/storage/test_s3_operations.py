"""The S3 provider's operations one by one, on a bare provider under mock_aws (no app, no server): the log line
each writes, what read_back, open_small, list, set_metadata and url give, the links kept for reuse, which
client a streamed PUT and a health probe use, and whose keys sign the direct requests."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zlib
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.stub import Stubber
from moto import mock_aws

from portal.expiring_cache import Recent
from portal.storage import s3 as s3_provider_module
from portal.storage.base import (
    SMALL_OBJECT_MAX,
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
    StoredObject,
)
from portal.storage.s3 import S3StorageProvider
from tests.support.moto_fidelity import s3_like_checksums
from tests.support.s3_requests import record_requests
from tests.support.scripted_http import HANG_UP, answer

MiB = 1024 * 1024
KEYS = {"access_key": "AKIAOPERATIONS", "secret_key": "operations-secret"}


def provider(bucket: str = "operations", **options) -> S3StorageProvider:
    return S3StorageProvider(bucket, **{**KEYS, **options})


@pytest.fixture
def store():
    """A provider under mock_aws, its bucket made."""
    with mock_aws():
        made = provider()
        made.ensure_ready()
        yield made


def test_every_operation_writes_one_log_line_with_its_name_key_and_size(store, log_lines):
    store.save("attachments/a", io.BytesIO(b"12345"), size=5)
    store.read_back("attachments/a")
    store.set_metadata("attachments/a", {"doc": "1"})
    list(store.list("attachments/"))
    store.url("attachments/a", filename="a.txt")
    store.delete("attachments/a")
    assert log_lines() == [
        ("save", "attachments/a", 5, "ok"),
        ("read_back", "attachments/a", 5, "ok"),
        ("set_metadata", "attachments/a", 5, "ok"),
        ("list", "attachments/", 1, "ok"),
        ("url", "attachments/a", None, "ok"),
        ("delete", "attachments/a", None, "ok"),
    ]


# -- which way save() sends a body --------------------------------------------------------------------


@pytest.fixture
def routes_store():
    """A provider under mock_aws whose threshold and parts are 5 MiB and whose streamed PUTs end at 10 MiB."""
    with mock_aws():
        made = provider(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, streamed_put_max=10 * MiB)
        made.ensure_ready()
        yield made


@pytest.fixture
def route(routes_store):
    """``route(size)``: save that many bytes to routes_store (size known) and say which way they went, as the
    SDK calls made (a direct PUT makes none)."""
    sdk_calls: list[str] = []
    for purpose in ("main", "stream"):
        routes_store._client(purpose).meta.events.register(
            "before-call.s3", lambda model, purpose=purpose, **kwargs: sdk_calls.append(f"{purpose}:{model.name}")
        )

    def saved(size: int) -> list[str]:
        del sdk_calls[:]
        data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        routes_store.save("attachments/a", io.BytesIO(data), size=size)
        assert b"".join(routes_store.open("attachments/a")) == data
        return [call for call in sdk_calls if not call.endswith("GetObject")]

    return saved


def test_save_picks_the_way_by_the_size_it_is_told(route):
    direct = []  # the direct PUT goes round botocore's calls
    assert route(SMALL_OBJECT_MAX) == direct
    assert route(SMALL_OBJECT_MAX + 1) == ["main:PutObject"]  # below the threshold: one PUT
    assert route(5 * MiB) == ["stream:PutObject"]  # from the threshold: one streamed PUT
    assert route(10 * MiB) == ["stream:PutObject"]  # up to S3_STREAMED_PUT_MAX_MB
    assert route(10 * MiB + 1) == [
        "main:CreateMultipartUpload",
        "main:UploadPart",
        "main:UploadPart",
        "main:UploadPart",
        "main:CompleteMultipartUpload",
    ]


@pytest.mark.parametrize("size", [None, 100, SMALL_OBJECT_MAX + 1, 6 * MiB])
def test_an_object_saved_without_a_type_is_octet_stream_whichever_way_it_went(routes_store, size):
    data = b"t" * (size or 100)
    routes_store.save("attachments/t", io.BytesIO(data), size=size)
    assert routes_store.client.head_object(Bucket="operations", Key="attachments/t")["ContentType"] == (
        "application/octet-stream"
    )


@pytest.mark.parametrize("size", [None, 100, SMALL_OBJECT_MAX + 1, 6 * MiB])
def test_an_expected_sha256_is_checked_and_kept_whichever_way_the_bytes_went(routes_store, size):
    data = bytes(range(256)) * ((size or 100) // 256) + b"e" * ((size or 100) % 256)
    sha256 = hashlib.sha256(data).hexdigest()
    routes_store.save("attachments/right", io.BytesIO(data), size=size, expected_sha256=sha256)
    assert routes_store.stat("attachments/right").sha256 == sha256
    wrong = hashlib.sha256(data + b"!").hexdigest()
    with pytest.raises(StorageIntegrityError, match="does not match"):
        routes_store.save("attachments/wrong", io.BytesIO(data), size=size, expected_sha256=wrong)
    assert [item.key for item in routes_store.list("attachments/")] == ["attachments/right"]


def test_a_store_refusing_the_configured_encryption_is_named_in_the_check():
    store = provider(sse="aws:kms", sse_kms_key_id="alias/missing")
    with Stubber(store._client("check")) as check:
        check.add_response("head_bucket", {})
        check.add_client_error("put_object", service_error_code="KMS.NotFoundException", http_status_code=400)
        with pytest.raises(StorageMisconfigured) as caught:
            store.check()
    assert str(caught.value) == (
        "bucket 'operations' at AWS S3 (us-east-1) refused a write with S3_SSE=aws:kms (KMS.NotFoundException); "
        "every upload would fail. Set S3_SSE to an encryption this store offers (or leave it empty), and check "
        "S3_SSE_KMS_KEY_ID for aws:kms"
    )


def test_open_and_stat_log_the_size_they_found(store, log_lines):
    store.save("attachments/a", io.BytesIO(b"12345"), size=5)
    b"".join(store.open("attachments/a"))
    b"".join(store.open("attachments/a", byte_range=(1, 2)))
    assert list(store.open("attachments/a", byte_range=(5, 9))) == []  # past the end: nothing, as on disk
    store.stat("attachments/a")
    assert log_lines()[1:] == [
        ("open", "attachments/a", 5, "ok"),
        ("open", "attachments/a", 2, "ok"),
        ("open", "attachments/a", 0, "ok"),
        ("stat", "attachments/a", 5, "ok"),
    ]


@pytest.mark.parametrize("byte_range", [(-1, 3), (4, 3)])
def test_a_byte_range_out_of_order_is_refused_saying_what_a_range_is(store, byte_range):
    with pytest.raises(ValueError) as caught:
        store.open("attachments/a", byte_range=byte_range)
    assert str(caught.value) == f"byte_range {byte_range!r} must be (first, last) with 0 <= first <= last"


def test_stat_asks_for_and_reports_the_stores_own_checksum(store):
    data = b"checked by the store"
    with s3_like_checksums():
        store.save("attachments/a", io.BytesIO(data), content_type="text/plain", metadata={"doc": "5"})
    sent = record_requests(store)
    found = store.stat("attachments/a")
    sha256 = hashlib.sha256(data).hexdigest()
    assert found == StoredObject(
        "attachments/a", len(data), sha256, "text/plain", {"doc": "5"}, sha256, modified=found.modified
    )
    assert found.modified is not None
    (head,) = sent
    assert head.headers["x-amz-checksum-mode"] == "ENABLED"


def test_the_part_size_grows_only_past_ten_thousand_parts():
    store = provider(multipart_chunksize=5 * MiB)
    assert store._transfer_for(5 * MiB * 10_000) is store.transfer
    grown = store._transfer_for(5 * MiB * 10_000 + 1)
    assert grown.multipart_chunksize == -(-(5 * MiB * 10_000 + 1) // 9_000)
    assert grown.max_in_memory_upload_chunks == store.transfer.max_in_memory_upload_chunks
    kept = ("multipart_threshold", "max_concurrency", "use_threads", "preferred_transfer_client")
    assert {name: getattr(grown, name) for name in kept} == {name: getattr(store.transfer, name) for name in kept}


def test_a_read_that_fails_its_checksum_names_the_key(scripted):
    body = b"bytes that do not match their checksum"
    crc = base64.b64encode(zlib.crc32(body[::-1]).to_bytes(4, "big")).decode()
    server = scripted(answer(200, body, headers={"x-amz-checksum-crc32": crc}))
    store = provider(endpoint_url=server.endpoint, addressing_style="path")
    with pytest.raises(StorageIntegrityError) as caught:
        b"".join(store.open("attachments/a"))
    assert str(caught.value) == (
        f"the bytes of 'attachments/a' read from bucket 'operations' at {server.endpoint} failed their checksum"
    )


def test_ensure_ready_logs_itself_and_the_check_it_ends_with(log_lines):
    with mock_aws():
        provider().ensure_ready()
    assert log_lines() == [("ensure_ready", None, None, "ok"), ("check", None, None, "ok")]


def test_with_encryption_set_the_check_proves_a_write_and_leaves_nothing():
    with mock_aws():
        store = provider(sse="aes256")
        sent = record_requests(store)
        store.ensure_ready()
        probe = [request for request in sent if request.operation == "PutObject"]
        assert [request.operation for request in sent] == [
            "HeadBucket",
            "CreateBucket",
            "HeadBucket",
            "PutObject",
            "DeleteObject",
        ]
        assert probe[0].headers["x-amz-server-side-encryption"] == "AES256"
        assert list(store.list("")) == []
        del sent[:]
        store.check(write=False)
        assert [request.operation for request in sent] == ["HeadBucket"]


def test_a_listing_counts_what_it_gave(store, log_lines):
    for name in ("a", "b", "c"):
        store.save(f"attachments/{name}", io.BytesIO(b"x"), size=1)
    store.save("other/d", io.BytesIO(b"x"), size=1)
    listed = list(store.list("attachments/"))
    assert [item.key for item in listed] == ["attachments/a", "attachments/b", "attachments/c"]
    assert log_lines()[-1] == ("list", "attachments/", 3, "ok")
    list(store.list("nothing/"))
    assert log_lines()[-1] == ("list", "nothing/", 0, "ok")


def test_a_listing_says_when_each_object_was_written(store):
    store.save("attachments/a", io.BytesIO(b"x"), size=1)
    (listed,) = store.list("attachments/")
    assert listed.modified is not None
    assert listed.modified == store.stat("attachments/a").modified
    assert (listed.size, listed.sha256) == (1, None)


def test_read_back_hashes_what_a_download_receives_through_the_given_filter(store):
    data = b"what a download receives " * 100
    store.save("attachments/a", io.BytesIO(data), size=len(data))
    assert store.read_back("attachments/a") == (len(data), hashlib.sha256(data).hexdigest())
    upper = store.read_back("attachments/a", through=lambda chunks: (chunk.upper() for chunk in chunks))
    assert upper == (len(data), hashlib.sha256(data.upper()).hexdigest())


def test_open_small_gives_the_bytes_and_refuses_a_bad_key(store):
    store.save("attachments/a", io.BytesIO(b"small bytes"), size=11)
    assert b"".join(store.open_small("attachments/a")) == b"small bytes"
    with pytest.raises(
        ObjectNotFound, match=r"no object at 'attachments/gone' in bucket 'operations' at AWS S3 \(us-east-1\)"
    ):
        b"".join(store.open_small("attachments/gone"))
    with pytest.raises(StorageError):
        store.open_small("../escape")


def test_the_direct_requests_are_made_once_and_translate_their_refusals():
    with mock_aws():
        missing = provider("no-such-bucket")
        assert missing._direct() is missing._direct()
        with pytest.raises(StorageMisconfigured, match="bucket 'no-such-bucket' does not exist at AWS S3"):
            missing.save("attachments/a", io.BytesIO(b"x"), size=1)


def test_set_metadata_keeps_every_header_the_object_was_written_with(store):
    headers = {
        "ContentType": "text/plain",
        "ContentEncoding": "gzip",
        "ContentLanguage": "de",
        "CacheControl": "no-store",
        "ContentDisposition": 'attachment; filename="a.txt"',
    }
    store.client.put_object(Bucket=store.bucket, Key="attachments/a", Body=b"x", Metadata={"old": "1"}, **headers)
    store.set_metadata("attachments/a", {"doc": "2"})
    head = store.client.head_object(Bucket=store.bucket, Key="attachments/a")
    assert {name: head.get(name) for name in headers} == headers
    assert head["Metadata"] == {"doc": "2"}


@pytest.fixture
def parts_store():
    """A provider under mock_aws with parts of 5 MiB (S3's least), its bucket made."""
    with mock_aws():
        made = provider(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
        made.ensure_ready()
        yield made


def test_a_copy_keeps_type_metadata_and_sha256_and_answers_for_the_copy_alone(store, log_lines):
    data = b"copied inside the bucket"
    store.save("attachments/a", io.BytesIO(data), size=len(data), content_type="text/plain", metadata={"doc": "3"})
    sent = record_requests(store)
    copied = store.copy("attachments/a", "attachments/b")
    sha256 = hashlib.sha256(data).hexdigest()
    assert copied == StoredObject("attachments/b", len(data), sha256, "text/plain", {"doc": "3"})
    assert (copied.store_sha256, copied.modified) == (None, None)  # the source's own are not the copy's
    (copy_request,) = [request for request in sent if request.operation == "CopyObject"]
    assert copy_request.headers["x-amz-metadata-directive"] == "COPY"
    assert log_lines()[-1] == ("copy", "attachments/a -> attachments/b", len(data), "ok")
    assert store.stat("attachments/b").sha256 == sha256


def test_a_copy_of_a_multipart_object_asks_for_a_full_object_checksum_of_its_own(parts_store):
    data = bytes(range(256)) * (6 * MiB // 256)
    parts_store.save("attachments/a", io.BytesIO(data))
    sent = record_requests(parts_store)
    parts_store.copy("attachments/a", "attachments/b")
    (copy_request,) = [request for request in sent if request.operation == "CopyObject"]
    assert copy_request.headers["x-amz-checksum-algorithm"] == "CRC32"
    assert b"".join(parts_store.open("attachments/b")) == data


def test_an_object_of_the_copy_request_limit_is_copied_part_by_part_with_the_configured_parts(parts_store):
    data = bytes(range(256)) * (2 * MiB // 256 * 5 + 1)  # three parts of 5 MiB
    sha256 = hashlib.sha256(data).hexdigest()
    parts_store.save(
        "attachments/a", io.BytesIO(data), content_type="image/png", metadata={"doc": "4"}, expected_sha256=sha256
    )
    parts_store.copy_object_limit = len(data)  # as if it were 5 GiB: no single CopyObject for this size
    sent = record_requests(parts_store)
    parts_store.copy("attachments/a", "attachments/b")
    assert "CopyObject" not in [request.operation for request in sent]
    assert [request.operation for request in sent].count("UploadPartCopy") == 3
    assert b"".join(parts_store.open("attachments/b")) == data
    found = parts_store.stat("attachments/b")
    assert (found.content_type, found.metadata, found.sha256) == (
        "image/png",
        {"doc": "4"},
        hashlib.sha256(data).hexdigest(),
    )


def test_url_asks_for_octet_stream_when_no_type_is_given(store):
    query = parse_qs(urlsplit(store.url("attachments/a", filename="a.bin")).query)
    assert query["response-content-type"] == ["application/octet-stream"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_link_is_handed_out_again_for_a_fifth_of_its_lifetime(store, monkeypatch):
    clock = Clock()
    store._links = Recent(clock=clock)
    signed = []
    presign = store._client("presign")
    original = presign.generate_presigned_url
    monkeypatch.setattr(presign, "generate_presigned_url", lambda *a, **k: signed.append(1) or original(*a, **k))

    first = store.url("attachments/a", filename="a.pdf", expires_in=300)
    clock.now += 59
    assert store.url("attachments/a", filename="a.pdf", expires_in=300) == first
    assert len(signed) == 1
    store.url("attachments/a", filename="b.pdf", expires_in=300)  # another name is another link
    assert len(signed) == 2
    clock.now += 2  # 61 s: more than a fifth of 300 s
    store.url("attachments/a", filename="a.pdf", expires_in=300)
    assert len(signed) == 3


# -- which client does what -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "checksums"),
    [
        (None, "when_supported"),
        ("https://minio.example.test", "when_supported"),
        ("http://minio:9000", "when_required"),
    ],
)
def test_a_streamed_put_sends_a_checksum_only_over_tls(endpoint, checksums):
    config = provider(endpoint_url=endpoint)._client("stream").meta.config
    assert config.request_checksum_calculation == checksums
    assert config.s3["payload_signing_enabled"] is False


def test_the_configured_keys_sign_the_direct_requests():
    credentials = provider()._signing_credentials()
    assert (credentials.access_key, credentials.secret_key) == (KEYS["access_key"], KEYS["secret_key"])


def test_a_streamed_put_is_sent_once_whatever_the_store_answers(scripted):
    server = scripted(answer(503, b"<Error><Code>SlowDown</Code></Error>"), answer(200))
    store = provider(endpoint_url=server.endpoint, addressing_style="path", multipart_threshold=1024, max_attempts=3)
    size = SMALL_OBJECT_MAX + 1  # above what one direct PUT takes, above the threshold: one streamed PUT
    with pytest.raises(StorageUnavailable, match=r"unavailable \(SlowDown\)"):
        store.save("attachments/a", io.BytesIO(b"s" * size), size=size)
    assert [(request.method, request.path) for request in server.requests] == [("PUT", "/operations/attachments/a")]


def test_the_health_check_asks_once(scripted):
    server = scripted(answer(503), answer(503), answer(200))
    store = provider(endpoint_url=server.endpoint, addressing_style="path", max_attempts=3)
    with pytest.raises(StorageUnavailable):
        store.check()
    assert [(request.method, request.path) for request in server.requests] == [("HEAD", "/operations")]


@contextmanager
def stubbed(store: S3StorageProvider):
    """botocore's Stubber on the provider's main and check clients: answers a store gives that moto does not."""
    main, check = Stubber(store.client), Stubber(store._client("check"))
    with main, check:
        yield main, check
        main.assert_no_pending_responses()
        check.assert_no_pending_responses()


@pytest.mark.parametrize("missing", ["404", "NoSuchBucket", "NotFound"])
def test_ensure_ready_creates_a_bucket_the_store_says_is_missing_in_any_of_its_words(missing):
    store = provider()
    with stubbed(store) as (main, check):
        main.add_client_error("head_bucket", service_error_code=missing, http_status_code=404)
        main.add_response("create_bucket", {}, {"Bucket": "operations"})
        check.add_response("head_bucket", {})
        store.ensure_ready()


def test_ensure_ready_takes_a_bucket_made_meanwhile_by_another_host():
    store = provider()
    with stubbed(store) as (main, check):
        main.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        main.add_client_error("create_bucket", service_error_code="BucketAlreadyOwnedByYou", http_status_code=409)
        check.add_response("head_bucket", {})
        store.ensure_ready()


@pytest.mark.parametrize(
    ("failing", "code", "status", "message"),
    [
        ("head_bucket", "403", 403, "access to bucket 'operations' at AWS S3 (us-east-1) was refused (403)"),
        ("create_bucket", "AccessDenied", 403, "was refused (AccessDenied)"),
        ("create_bucket", "BucketAlreadyExists", 409, "refused the request (BucketAlreadyExists)"),
    ],
)
def test_ensure_ready_makes_no_bucket_past_a_refusal(failing, code, status, message):
    store = provider()
    with stubbed(store) as (main, _):
        if failing == "create_bucket":
            main.add_client_error("head_bucket", service_error_code="404", http_status_code=404)
        main.add_client_error(failing, service_error_code=code, http_status_code=status)
        with pytest.raises(StorageError, match=re.escape(message)):
            store.ensure_ready()


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ((answer(200),), True),
        ((answer(403),), True),  # it answers: refusing us is a setting to fix, not an outage
        ((answer(404),), True),
        ((answer(503), answer(200)), False),
        ((answer(500), answer(200)), False),
        ((HANG_UP, answer(200)), False),
    ],
)
def test_reachable_asks_once_and_says_whether_the_store_answers(scripted, script, expected):
    server = scripted(*script)
    store = provider(endpoint_url=server.endpoint, addressing_style="path", max_attempts=3)
    assert store.reachable() is expected
    assert [(request.method, request.path) for request in server.requests] == [("HEAD", "/operations")]


def test_each_client_is_built_once_and_kept(store):
    clients = {purpose: store._client(purpose) for purpose in ("main", "stream", "check", "presign")}
    assert {purpose: store._client(purpose) for purpose in clients} == clients
    assert store.client is clients["main"]
    assert len({id(client) for client in clients.values()}) == 4


@pytest.mark.parametrize("size", [None, SMALL_OBJECT_MAX + 1, 6 * MiB])
def test_save_answers_what_it_stored_and_logs_its_size(routes_store, log_lines, size):
    data = bytes(range(256)) * ((size or 1000) // 256) + b"r" * ((size or 1000) % 256)
    sha256 = hashlib.sha256(data).hexdigest()
    with s3_like_checksums():
        stored = routes_store.save(
            "attachments/r", io.BytesIO(data), size=size, content_type="text/csv", metadata={"doc": "6"}
        )
    store_sha256 = None if size == 6 * MiB else sha256  # a streamed PUT sends no checksum of its own
    assert stored == StoredObject("attachments/r", len(data), sha256, "text/csv", {"doc": "6"}, store_sha256)
    assert log_lines()[-1] == ("save", "attachments/r", len(data), "ok")


class _Stop(Exception):
    pass


def test_a_huge_known_size_is_sent_in_parts_large_enough_for_it(store, monkeypatch):
    chosen = []

    def upload(client, config, *args):
        chosen.append(config.multipart_chunksize)
        raise _Stop  # the choice is made: nothing is sent

    monkeypatch.setattr(s3_provider_module, "upload", upload)
    huge = store.transfer.multipart_chunksize * 10_000 + 1
    with pytest.raises(_Stop):
        store.save("attachments/huge", io.BytesIO(b""), size=huge)
    assert chosen == [-(-huge // 9_000)]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {},
            {"region_name": "us-east-1", "response_checksum_validation": "when_supported", "max_pool_connections": 10},
        ),
        (
            {"region": "eu-west-2", "checksums": "when_required", "max_concurrency": 8},
            {"region_name": "eu-west-2", "response_checksum_validation": "when_required", "max_pool_connections": 16},
        ),
    ],
)
def test_the_client_follows_region_checksums_and_concurrency(options, expected):
    config = provider(**options).client.meta.config
    assert {name: getattr(config, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("buffer_mb", "part_mb", "concurrency", "chunks"),
    [(48, 16, 4, 1), (64, 16, 4, 2), (90, 16, 4, 3), (160, 16, 4, 4), (160, 16, 1, 1)],
)
def test_a_stream_holds_about_the_upload_buffer_in_parts(buffer_mb, part_mb, concurrency, chunks):
    transfer = provider(
        upload_buffer=buffer_mb * MiB, multipart_chunksize=part_mb * MiB, max_concurrency=concurrency
    ).transfer
    assert transfer.max_in_memory_upload_chunks == chunks
    # threads for the parts, and boto3's own transfer client (never the CRT one, which reads files by path)
    assert (transfer.use_threads, transfer.preferred_transfer_client) == (True, "classic")
