"""S3 provider specifics: failures of the store, the bucket, client settings, SSE, presigning, error translation."""

from __future__ import annotations

import hashlib
import io
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, ReadTimeoutError
from moto import mock_aws

from portal.storage import ObjectStorageFactory
from portal.storage.base import (
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageMisconfigured,
    StorageUnavailable,
)
from portal.storage.s3 import S3StorageProvider
from portal.storage.s3_transfer import PROBE_SIZE
from tests.support.buckets import unique_bucket
from tests.support.s3_requests import operations as operations_sent
from tests.support.s3_requests import record_requests
from tests.support.storage_apps import SECRETS, THRESHOLD, closed_port, make_storage_app, s3_settings


def s3_provider(tmp_path, **overrides) -> S3StorageProvider:
    app = make_storage_app(tmp_path, **s3_settings(overrides.pop("S3_BUCKET", unique_bucket()), **overrides))
    return app.extensions["storage"].providers["s3"]


def assert_safe(message: str) -> None:
    assert not any(secret in message for secret in SECRETS)
    assert "SignatureProvided" not in message and "X-Amz-Signature" not in message


# -- a store that is down or hangs ------------------------------------------------------------------

FAST_FAIL = {"S3_CONNECT_TIMEOUT": 1, "S3_READ_TIMEOUT": 1, "S3_MAX_ATTEMPTS": 2}


def operations(provider):
    return {
        "check": provider.check,
        "save": lambda: provider.save("attachments/x", io.BytesIO(b"abc")),
        "open": lambda: provider.open("attachments/x"),
        "stat": lambda: provider.stat("attachments/x"),
        "delete": lambda: provider.delete("attachments/x"),
    }


@pytest.mark.parametrize("storage_type", ["s3", "minio"])
def test_store_refusing_connections_is_unavailable_at_once(tmp_path, storage_type):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    provider = s3_provider(tmp_path, STORAGE_TYPE=storage_type, S3_ENDPOINT_URL=endpoint, **FAST_FAIL)
    for name, call in operations(provider).items():
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught:
            call()
        assert time.monotonic() - started < 5, name
        assert endpoint in str(caught.value)
        assert_safe(str(caught.value))


def test_store_that_never_answers_times_out(tmp_path):
    with socket.socket() as silent:  # accepts connections (kernel backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        provider = s3_provider(tmp_path, S3_ENDPOINT_URL=endpoint, **FAST_FAIL)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="cannot be reached"):
            provider.stat("attachments/x")
        assert time.monotonic() - started < 8


# -- the bucket -------------------------------------------------------------------------------------


@pytest.fixture(params=["mock", "http"])
def missing_bucket(request, tmp_path):
    """A provider whose bucket does not exist, and the endpoint its messages must name."""
    if request.param == "mock":
        with mock_aws():
            yield s3_provider(tmp_path, S3_BUCKET="portal-missing"), "AWS S3 (us-east-1)"
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        yield s3_provider(tmp_path, S3_BUCKET="portal-missing", S3_ENDPOINT_URL=endpoint), endpoint


def test_missing_bucket_is_a_clear_misconfiguration(missing_bucket):
    provider, endpoint = missing_bucket
    for name, call in operations(provider).items():
        if name == "stat":
            continue  # HEAD carries no error code, so a missing bucket reads as a missing key there
        with pytest.raises(StorageMisconfigured) as caught:
            call()
        assert str(caught.value) == (
            f"bucket 'portal-missing' does not exist at {endpoint}; create it with `flask storage init`"
        ), name


def test_ensure_ready_creates_the_bucket_once(missing_bucket):
    provider, _ = missing_bucket
    sent = record_requests(provider)
    provider.ensure_ready()
    assert operations_sent(sent).count("CreateBucket") == 1
    provider.ensure_ready()
    assert operations_sent(sent).count("CreateBucket") == 1  # the second call finds the bucket and leaves it be
    provider.check()
    provider.save("attachments/x", io.BytesIO(b"x"))
    assert [obj.key for obj in provider.list("")] == ["attachments/x"]


def test_ensure_ready_outside_us_east_1_sets_the_location(tmp_path):
    with mock_aws():
        provider = s3_provider(tmp_path, S3_REGION="eu-west-1")
        provider.ensure_ready()
        location = provider.client.get_bucket_location(Bucket=provider.bucket)["LocationConstraint"]
        assert location == "eu-west-1"


# -- client settings --------------------------------------------------------------------------------


def test_init_builds_no_client(tmp_path):
    provider = s3_provider(tmp_path, S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}")
    assert provider._clients == {}


@pytest.mark.parametrize(
    "storage_type, endpoint, style, checksums",
    [
        ("s3", "", "auto", "when_supported"),
        ("s3", "http://127.0.0.1:9000", "path", "when_supported"),  # an endpoint rarely has bucket subdomains
        ("minio", "http://127.0.0.1:9000", "path", "when_required"),
    ],
)
def test_client_config_follows_the_settings(tmp_path, storage_type, endpoint, style, checksums):
    provider = s3_provider(
        tmp_path,
        STORAGE_TYPE=storage_type,
        S3_ENDPOINT_URL=endpoint,
        S3_CONNECT_TIMEOUT=3,
        S3_READ_TIMEOUT=30,
        S3_MAX_ATTEMPTS=4,
        S3_MAX_CONCURRENCY=6,
    )
    config = provider.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 30)
    assert config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert config.s3["addressing_style"] == style
    assert config.request_checksum_calculation == config.response_checksum_validation == checksums
    assert (provider.transfer.multipart_threshold, provider.transfer.max_request_concurrency) == (THRESHOLD, 6)


def test_each_client_option_can_be_overridden(tmp_path):
    app = make_storage_app(tmp_path, **s3_settings(unique_bucket()))
    provider = ObjectStorageFactory(app.config).object_store(client_config=Config(read_timeout=7, tcp_keepalive=True))
    assert (provider.client.meta.config.read_timeout, provider.client.meta.config.tcp_keepalive) == (7, True)
    assert provider.client.meta.config.connect_timeout == 5


def test_presigned_url_uses_the_public_endpoint(tmp_path):
    provider = s3_provider(
        tmp_path,
        STORAGE_TYPE="minio",
        S3_ENDPOINT_URL="http://minio:9000",
        S3_PUBLIC_ENDPOINT_URL="https://files.example.com",
        S3_PRESIGN_EXPIRES=120,
    )
    url = provider.url("attachments/a b.pdf", filename="a.pdf", content_type="application/pdf")
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    assert base == f"https://files.example.com/{provider.bucket}/attachments/a%20b.pdf"
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"] == ['attachment; filename="a.pdf"']
    assert query["response-content-type"] == ["application/pdf"]
    assert provider.url("attachments/x", expires_in=30, filename="x").count("X-Amz-Expires=30") == 1


def test_part_size_grows_for_huge_known_sizes(tmp_path):
    provider = s3_provider(tmp_path)
    assert provider._transfer_for(None) is provider._transfer_for(THRESHOLD) is provider.transfer
    huge = provider._transfer_for(200 * 1024**3)
    assert huge.multipart_chunksize * 10_000 >= 200 * 1024**3


# -- encryption and copies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sse, expected", [("aes256", ("AES256", None)), ("aws:kms", ("aws:kms", "alias/portal-files"))]
)
def test_server_side_encryption_is_requested_everywhere(tmp_path, sse, expected):
    with mock_aws():
        provider = s3_provider(tmp_path, S3_SSE=sse, S3_SSE_KMS_KEY_ID="alias/portal-files" if sse == "aws:kms" else "")
        provider.ensure_ready()
        provider.save("attachments/small", io.BytesIO(b"small"))
        provider.save("attachments/large", io.BytesIO(b"L" * (THRESHOLD + 1)))
        provider.copy("attachments/small", "attachments/copied")
        provider.set_metadata("attachments/large", {"a": "b"})
        for key in ("attachments/small", "attachments/large", "attachments/copied"):
            head = provider.client.head_object(Bucket=provider.bucket, Key=key)
            found = (head.get("ServerSideEncryption"), head.get("SSEKMSKeyId"))
            assert found[0] == expected[0] and (expected[1] is None or expected[1] in found[1]), key


@pytest.mark.parametrize(
    "size, waits", [(1, False), (PROBE_SIZE, False), (PROBE_SIZE + 1, True), (THRESHOLD + 1, True)]
)
def test_only_large_bodies_wait_for_100_continue(mocked, size, waits):
    sent = []
    mocked.client.meta.events.register_first(
        "before-send.s3", lambda request, **kwargs: sent.append(request.headers.get("Expect"))
    )
    mocked.save("attachments/sized", io.BytesIO(b"s" * size))
    assert b"".join(mocked.open("attachments/sized")) == b"s" * size
    assert (b"100-continue" in sent) is waits, sent


def test_huge_objects_are_copied_part_by_part(tmp_path):
    with mock_aws():
        provider = s3_provider(tmp_path)
        provider.ensure_ready()
        provider.copy_object_limit = THRESHOLD  # pretend 5 MiB is CopyObject's 5 GiB limit
        data = bytes(range(256)) * ((2 * THRESHOLD + 1) // 256 + 1)
        digest = hashlib.sha256(data).hexdigest()
        provider.save(
            "attachments/big",
            io.BytesIO(data),
            content_type="image/png",
            expected_sha256=digest,
            metadata={"owner": "1"},
        )
        provider.copy("attachments/big", "attachments/big-copy")
        provider.set_metadata("attachments/big-copy", {"owner": "2"})
        info = provider.stat("attachments/big-copy")
        assert (info.size, info.sha256, info.content_type) == (len(data), digest, "image/png")
        assert info.metadata == {"owner": "2"}
        assert b"".join(provider.open("attachments/big-copy")) == data


# -- error translation --------------------------------------------------------------------------------


def client_error(code: str, status: int) -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"detail SignatureProvided={SECRETS[1]} {SECRETS[0]}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GetObject")


TRANSLATIONS = {
    "no such key": (client_error("NoSuchKey", 404), "attachments/x", ObjectNotFound),
    "head 404": (client_error("404", 404), "attachments/x", ObjectNotFound),
    "bucket 404": (client_error("404", 404), None, StorageMisconfigured),
    "no such bucket": (client_error("NoSuchBucket", 404), "attachments/x", StorageMisconfigured),
    "access denied": (client_error("AccessDenied", 403), "attachments/x", StorageMisconfigured),
    "bad key id": (client_error("InvalidAccessKeyId", 403), "attachments/x", StorageMisconfigured),
    "bad signature": (client_error("SignatureDoesNotMatch", 403), "attachments/x", StorageMisconfigured),
    "wrong region": (client_error("PermanentRedirect", 301), "attachments/x", StorageMisconfigured),
    "slow down": (client_error("SlowDown", 503), "attachments/x", StorageUnavailable),
    "internal error": (client_error("InternalError", 500), "attachments/x", StorageUnavailable),
    "bad digest": (client_error("BadDigest", 400), "attachments/x", StorageIntegrityError),
    "connection refused": (EndpointConnectionError(endpoint_url="http://127.0.0.1:1/b/k?x=1"), "k", StorageUnavailable),
    "read timeout": (ReadTimeoutError(endpoint_url="http://127.0.0.1:1/b/k"), "k", StorageUnavailable),
    "no credentials": (NoCredentialsError(), "k", StorageMisconfigured),
    "anything else": (client_error("TeapotError", 418), "k", StorageError),
}


@pytest.mark.parametrize("error, key, expected", TRANSLATIONS.values(), ids=TRANSLATIONS.keys())
def test_errors_are_translated_without_secrets(tmp_path, error, key, expected):
    provider = s3_provider(tmp_path, S3_ENDPOINT_URL="http://user:pass@127.0.0.1:9000/")
    translated = provider._translate(error, key)
    assert type(translated) is expected
    assert_safe(str(translated))
    assert "user" not in str(translated) and "pass" not in str(translated)


# -- open files are read in place -------------------------------------------------------------------


@pytest.fixture
def mocked(tmp_path):
    with mock_aws():
        provider = s3_provider(tmp_path)
        provider.ensure_ready()
        yield provider


def test_under_mock_aws_a_small_save_of_known_size_is_answered_through_before_send(mocked):
    """The direct PUT and GET are offered to the client's before-send handlers (moto's among them), never
    botocore's PutObject, and a handler's error answer is translated like the network's."""
    data = b"answered in process" * 50
    calls, sent = [], []
    mocked.client.meta.events.register("before-call.s3.PutObject", lambda **kwargs: calls.append(kwargs))
    mocked.client.meta.events.register_first(
        "before-send.s3", lambda request, **kwargs: sent.append((request.method, request.url.rsplit("/", 1)[1]))
    )
    stored = mocked.save("attachments/direct", io.BytesIO(data), size=len(data))
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert mocked.read_back("attachments/direct") == (len(data), hashlib.sha256(data).hexdigest())
    assert calls == [] and sent == [("PUT", "direct"), ("GET", "direct")]
    assert b"".join(mocked.open("attachments/direct")) == data
    with pytest.raises(ObjectNotFound):
        mocked.read_back("attachments/missing")


@pytest.fixture
def big_file(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"B" * (2 * THRESHOLD + 1))
    with open(path, "rb") as stream:
        yield stream


def pending(provider) -> list:
    return provider.client.list_multipart_uploads(Bucket=provider.bucket).get("Uploads", [])


def test_a_file_that_changes_during_upload_is_refused(mocked, big_file, monkeypatch):
    from portal.storage import s3_transfer

    real_hash = s3_transfer._hash_extent

    def hash_then_append(fd, *args):
        real_hash(fd, *args)
        with open(big_file.name, "ab") as late_writer:
            late_writer.write(b"late")

    monkeypatch.setattr(s3_transfer, "_hash_extent", hash_then_append)
    with pytest.raises(StorageIntegrityError, match="changed"):
        mocked.save("attachments/moving", big_file)
    assert not mocked.exists("attachments/moving")
    assert pending(mocked) == []


@pytest.mark.parametrize("when", ["mid-upload", "after-upload"])
def test_a_file_read_error_withdraws_the_upload(mocked, big_file, monkeypatch, when):
    from portal.storage import s3_transfer

    def failing_hash(fd, start, length, digest, future):
        if when == "after-upload":
            future.result()  # the object is complete and visible by now
        raise OSError("disk read error")

    monkeypatch.setattr(s3_transfer, "_hash_extent", failing_hash)
    with pytest.raises(OSError, match="disk read error"):
        mocked.save("attachments/unreadable", big_file)
    assert not mocked.exists("attachments/unreadable")
    assert pending(mocked) == []


def test_an_open_file_is_not_buffered_in_memory(mocked, big_file, monkeypatch):
    from portal.storage import s3_transfer

    def no_hashing_reader(stream):
        raise AssertionError("an open file went through the buffering path")

    monkeypatch.setattr(s3_transfer, "HashingReader", no_hashing_reader)
    stored = mocked.save("attachments/in-place", big_file)
    assert stored.sha256 == hashlib.sha256(b"B" * (2 * THRESHOLD + 1)).hexdigest()
    assert big_file.tell() == 2 * THRESHOLD + 1


class _Stream:
    """A non-seekable stream of ``size`` bytes (not an open file), like a request body."""

    def __init__(self, size: int):
        self._left = size

    def read(self, amount: int = -1) -> bytes:
        amount = self._left if amount is None or amount < 0 else min(amount, self._left)
        self._left -= amount
        return b"S" * amount


def test_a_refused_part_aborts_the_streamed_upload(mocked, monkeypatch):
    real_upload_part = mocked.client.upload_part
    calls = []

    def refuse_second(**kwargs):
        calls.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "UploadPart")
        return real_upload_part(**kwargs)

    monkeypatch.setattr(mocked.client, "upload_part", refuse_second)
    with pytest.raises(StorageError):
        mocked.save("attachments/refused", _Stream(3 * THRESHOLD + 7))
    assert 2 in calls
    assert not mocked.exists("attachments/refused")
    assert pending(mocked) == []


def test_a_streamed_upload_reuses_a_fixed_set_of_part_buffers(mocked, monkeypatch):
    from portal.storage import s3_transfer

    made = []
    real_init = s3_transfer.PartBuffers.__init__

    def counting_init(self, part_size, count):
        made.append((part_size, count))
        real_init(self, part_size, count)

    monkeypatch.setattr(s3_transfer.PartBuffers, "__init__", counting_init)
    stored = mocked.save("attachments/streamed", _Stream(5 * THRESHOLD + 3))
    assert stored.size == 5 * THRESHOLD + 3
    assert made == [(THRESHOLD, made[0][1])] and made[0][1] * THRESHOLD <= 64 * 1024 * 1024
    assert b"".join(mocked.open("attachments/streamed")) == b"S" * (5 * THRESHOLD + 3)


def test_a_failing_stream_under_a_streamed_put_is_not_taken_for_a_network_error():
    """urllib3 takes an OSError raised while it sends a body for a broken connection and then waits
    for the store's answer; the streamed body must report its stream's failure as something else."""
    import errno

    from portal.storage.s3_transfer import HashingReader, _StreamedBody

    class Reset:
        def read(self, amount=-1):
            raise ConnectionResetError(errno.ECONNRESET, "client went away")

    body = _StreamedBody(HashingReader(Reset()), 10)
    with pytest.raises(Exception) as raised:
        body.read(5)
    assert not isinstance(raised.value, OSError)
    assert isinstance(body.failure, ConnectionResetError)  # put_streamed re-raises this one


class _OneWay(io.RawIOBase):
    """A stream that cannot seek, as an upload arrives from a browser."""

    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_the_minio_profile_sends_no_crc_checksums_nor_aws_chunked_bodies(tmp_path, moto_endpoint):
    """docs/storage.md: MinIO versions (and R2) reject boto3's default CRC checksums and aws-chunked bodies."""
    provider = s3_provider(tmp_path, STORAGE_TYPE="minio", S3_ENDPOINT_URL=moto_endpoint)
    provider.ensure_ready()
    sent = record_requests(provider)
    big = bytes(range(256)) * (THRESHOLD // 256 * 2 + 7)
    provider.save("attachments/small", io.BytesIO(b"small"))
    provider.save("attachments/streamed", _OneWay(big), size=len(big))
    provider.save("attachments/parts", _OneWay(big))
    provider.copy("attachments/parts", "attachments/copied")
    assert b"".join(provider.open("attachments/copied")) == big
    writes = [request for request in sent if request.method in ("PUT", "POST")]
    assert {"PutObject", "UploadPart", "CopyObject"} <= set(operations_sent(writes))
    for request in writes:
        named = {name: value for name, value in request.headers.items() if "checksum" in name}
        assert not any("crc" in f"{name}={value}".lower() for name, value in named.items()), (request.operation, named)
        assert "aws-chunked" not in request.headers.get("content-encoding", ""), request.operation
        assert "x-amz-decoded-content-length" not in request.headers, request.operation
