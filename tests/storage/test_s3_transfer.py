"""How uploads reach S3 (s3_transfer), called directly with a provider's boto3 client under mock_aws and small
thresholds: one PUT below the threshold, parts through a fixed set of reused buffers above it, open files read in
place, streamed PUTs, and what is left behind (nothing) when any of it fails."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import threading
import tracemalloc
import zlib
from types import SimpleNamespace

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, EndpointConnectionError
from moto import mock_aws

from portal.storage import s3_transfer
from portal.storage.base import CHUNK_SIZE, StorageIntegrityError
from portal.storage.s3 import S3StorageProvider
from portal.storage.s3_transfer import (
    PROBE_SIZE,
    SHA256_META,
    PartBuffers,
    Uploaded,
    _abort,
    _Extent,
    _ExtentOSUtils,
    _hash_extent,
    _StreamedBody,
    _upload_parts,
    _View,
    _withdraw,
    answered_sha256,
    no_continue_for_small_puts,
    put_streamed,
    upload,
    with_expected,
)
from portal.storage.streams import ExactSize, HashingReader
from tests.support.moto_fidelity import s3_like_checksums
from tests.support.s3_requests import operations, record_requests

MiB = 1024 * 1024
#: S3's least part (moto refuses smaller parts but the last)
PART = 5 * MiB
BUCKET = "transfer"
EXTRA = {"ContentType": "text/plain", "Metadata": {"doc": "7"}}


def provider(**options) -> S3StorageProvider:
    return S3StorageProvider(BUCKET, access_key="AKIATRANSFER", secret_key="transfer-secret", **options)


@pytest.fixture
def store():
    """A provider under mock_aws that keeps and checks a PUT's SHA-256 as S3 does; its bucket made."""
    with mock_aws(), s3_like_checksums():
        made = provider()
        made.ensure_ready()
        yield made


@pytest.fixture
def client(store):
    return store.client


def config(threshold: int, part: int = PART, in_memory: int = 1, concurrency: int = 2) -> TransferConfig:
    made = TransferConfig(multipart_threshold=threshold, multipart_chunksize=part, max_concurrency=concurrency)
    made.max_in_memory_upload_chunks = in_memory
    return made


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(client, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def head(client, key: str) -> dict:
    return client.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")


def keys(client) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def pending(client) -> list[str]:
    return [upload["Key"] for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def refuse(client, operation: str, code: str = "InternalError", when=lambda params: True) -> None:
    """Make the store refuse ``operation`` (when ``when(params)``) with ``code``."""

    def refused(params, **kwargs):
        if when(params):
            raise ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)

    client.meta.events.register_first(f"before-parameter-build.s3.{operation}", refused)


class OneWay(io.RawIOBase):
    """A stream that cannot seek and is no file, as an upload arrives from a browser; counts what it gave."""

    def __init__(self, data: bytes):
        self._inner, self.given = io.BytesIO(data), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        self.given += len(chunk)
        return len(chunk)


class Endless(io.RawIOBase):
    """``size`` bytes made as they are read (none kept), counting what it gave."""

    def __init__(self, size: int):
        self.left, self.given = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"e" * count
        self.left -= count
        self.given += count
        return count


class Failing(io.RawIOBase):
    """``data``, then ``error`` once it is read out."""

    def __init__(self, data: bytes, error: Exception):
        self._inner, self._error = io.BytesIO(data), error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._inner.read(len(buffer))
        if not chunk:
            raise self._error
        buffer[: len(chunk)] = chunk
        return len(chunk)


class CountingFile(io.FileIO):
    """An open file that counts the reads made through it (pread on its descriptor is not one)."""

    reads = 0

    def read(self, size=-1):
        self.reads += 1
        return super().read(size)

    def readinto(self, buffer):
        self.reads += 1
        return super().readinto(buffer)


@pytest.fixture
def a_file(tmp_path):
    """``a_file(data, position)``: an open file holding ``data``, at ``position``."""
    opened = []

    def make(data: bytes, position: int = 0) -> CountingFile:
        path = tmp_path / f"file-{len(opened)}"
        path.write_bytes(data)
        stream = CountingFile(path, "r")
        stream.seek(position)
        opened.append(stream)
        return stream

    yield make
    for stream in opened:
        stream.close()


# -- what a store answers ----------------------------------------------------------------------------------


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


DIGEST = hashlib.sha256(b"answered").digest()


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ({"ChecksumSHA256": b64(DIGEST)}, DIGEST.hex()),
        ({"ChecksumSHA256": b64(DIGEST), "ChecksumType": "FULL_OBJECT"}, DIGEST.hex()),
        ({}, None),
        ({"ChecksumSHA256": ""}, None),
        ({"ChecksumSHA256": None}, None),
        ({"ChecksumSHA256": b64(DIGEST) + "-3"}, None),
        ({"ChecksumSHA256": b64(DIGEST), "ChecksumType": "COMPOSITE"}, None),
        ({"ChecksumSHA256": "not base64!"}, None),
        ({"ChecksumSHA256": "!" + b64(DIGEST)}, None),
        ({"ChecksumSHA256": b64(DIGEST[:31])}, None),
        ({"ChecksumSHA256": b64(DIGEST + b"x")}, None),
        ({"ChecksumCRC32": "L5aYXQ=="}, None),
    ],
)
def test_only_a_full_object_sha256_of_32_bytes_is_taken_from_an_answer(answer, found):
    assert answered_sha256(answer) == found


# -- 100-continue ----------------------------------------------------------------------------------------


class UnknownLength:
    def read(self, amount=-1):
        return b""


def continue_asked(operation: str, body, expect: bool = True) -> bool:
    headers = {"Expect": "100-continue"} if expect else {}
    no_continue_for_small_puts({"headers": headers, "body": body}, SimpleNamespace(name=operation))
    return "Expect" in headers


def test_a_small_put_goes_without_waiting_for_100_continue():
    assert not continue_asked("PutObject", b"x")
    assert not continue_asked("PutObject", io.BytesIO(b"s" * PROBE_SIZE))
    assert not continue_asked("PutObject", b"")


def test_large_or_unknown_puts_and_parts_still_wait_for_100_continue():
    assert continue_asked("PutObject", io.BytesIO(b"s" * (PROBE_SIZE + 1)))
    assert continue_asked("PutObject", UnknownLength())
    assert continue_asked("UploadPart", b"x")
    assert not continue_asked("PutObject", b"x", expect=False)  # nothing asked, nothing to remove


# -- windows onto files and buffers ----------------------------------------------------------------------


def test_an_extent_reads_only_its_window_of_the_file_wherever_the_file_is(a_file):
    data = os.urandom(1000)
    stream = a_file(data, position=999)
    extent = _Extent(stream.fileno(), 100, 300)
    assert (extent.readable(), extent.seekable(), extent.tell()) == (True, True, 0)
    assert extent.read(10) == data[100:110]
    assert extent.tell() == 10
    assert extent.read() == data[110:400]
    assert extent.read() == b"" and extent.read(5) == b""
    assert extent.seek(280) == 280
    assert extent.read(None) == data[380:400]
    extent.seek(5)
    assert extent.read(-1) == data[105:400]
    extent.seek(299)  # the last byte alone
    assert extent.read(1) == data[399:400]
    extent.seek(299)
    assert extent.read() == data[399:400]
    assert stream.tell() == 999 and stream.reads == 0  # the file's own position is never touched


def test_extents_of_one_file_keep_positions_of_their_own(a_file):
    data = os.urandom(100)
    stream = a_file(data)
    first, second = _Extent(stream.fileno(), 0, 50), _Extent(stream.fileno(), 50, 50)
    assert first.read(10) == data[:10]
    assert second.read(10) == data[50:60]
    assert first.read(10) == data[10:20]


def test_an_extent_reads_into_a_buffer_up_to_its_end(a_file):
    data = os.urandom(100)
    extent = _Extent(a_file(data).fileno(), 20, 30)
    buffer = bytearray(16)
    assert extent.readinto(buffer) == 16 and bytes(buffer) == data[20:36]
    assert extent.readinto(buffer) == 14 and bytes(buffer[:14]) == data[36:50]
    assert extent.readinto(buffer) == 0
    assert extent.tell() == 30
    extent.seek(29)  # the last byte alone
    assert extent.readinto(buffer) == 1 and buffer[0] == data[49]


@pytest.mark.parametrize(
    ("offset", "whence", "position"),
    [
        (7, io.SEEK_SET, 7),
        (-1, io.SEEK_SET, 0),
        (99, io.SEEK_SET, 30),
        (3, io.SEEK_CUR, 13),
        (-4, io.SEEK_CUR, 6),
        (-20, io.SEEK_CUR, 0),
        (0, io.SEEK_END, 30),
        (-5, io.SEEK_END, 25),
        (5, io.SEEK_END, 30),
    ],
)
def test_a_window_seeks_within_its_bounds(a_file, offset, whence, position):
    data = os.urandom(100)
    for window in (_Extent(a_file(data).fileno(), 40, 30), _View(memoryview(data)[40:70])):
        window.seek(10)
        assert window.seek(offset, whence) == position
        assert window.tell() == position
        assert window.read(2) == data[40 + position : 40 + min(position + 2, 30)]


def test_a_view_reads_its_buffer_without_copying_the_rest():
    data = os.urandom(100)
    view = _View(memoryview(data)[10:60])
    assert (len(view), view.readable(), view.seekable()) == (50, True, True)
    assert view.read(5) == data[10:15]
    assert view.read(0) == b"" and view.tell() == 5
    assert view.read(None) == data[15:60]
    view.seek(40)
    assert view.read(100) == data[50:60]
    view.seek(45)
    assert view.read(-1) == data[55:60]
    view.seek(0)
    buffer = bytearray(30)
    assert view.readinto(buffer) == 30 and bytes(buffer) == data[10:40]
    assert view.readinto(buffer) == 20 and bytes(buffer[:20]) == data[40:60]
    assert view.tell() == 50
    assert view.readinto(buffer) == 0


def test_the_transfer_manager_is_given_the_open_files_window_for_any_path(a_file):
    data = os.urandom(200)
    utils = _ExtentOSUtils(a_file(data).fileno(), 50, 120)
    assert utils.get_file_size("<open file>") == 120
    opened = utils.open("<open file>", "rb")
    assert opened.read() == data[50:170]
    assert utils.open("anything", "rb").read(3) == data[50:53]


# -- below the threshold: one PUT ------------------------------------------------------------------------


THRESHOLD = 2 * PROBE_SIZE + 100


@pytest.mark.parametrize("size", [0, 1, PROBE_SIZE - 1, PROBE_SIZE, PROBE_SIZE + 1, THRESHOLD - 1])
def test_below_the_threshold_one_put_stores_the_bytes_with_their_sha256_checked_by_the_store(store, client, size):
    data = os.urandom(size)
    sent = record_requests(store)
    uploaded = upload(client, config(THRESHOLD), BUCKET, "attachments/a", OneWay(data), EXTRA, None)
    assert operations(sent) == ["PutObject"]
    assert sent[0].headers["x-amz-checksum-sha256"] == b64(hashlib.sha256(data).digest())
    assert uploaded == Uploaded(size, sha(data), sha(data))
    assert stored(client, "attachments/a") == data
    found = head(client, "attachments/a")
    assert (found["ContentType"], found["Metadata"]) == ("text/plain", {"doc": "7", SHA256_META: sha(data)})
    assert found["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())
    assert EXTRA == {"ContentType": "text/plain", "Metadata": {"doc": "7"}}  # the caller's arguments are left alone


def test_a_threshold_below_the_probe_still_sends_what_is_below_it_in_one_put(store, client):
    data = os.urandom(999)
    sent = record_requests(store)
    assert upload(client, config(1000), BUCKET, "attachments/a", OneWay(data), EXTRA, None).size == 999
    assert operations(sent) == ["PutObject"]
    assert stored(client, "attachments/a") == data


def test_below_the_threshold_the_expected_sha256_is_checked_before_anything_is_sent(store, client):
    data = os.urandom(1000)
    sent = record_requests(store)
    wrong = sha(bytes(byte ^ 1 for byte in data))
    with pytest.raises(StorageIntegrityError) as raised:
        upload(client, config(THRESHOLD), BUCKET, "attachments/a", OneWay(data), EXTRA, wrong)
    assert str(raised.value) == "SHA-256 of the 1000 bytes received does not match"
    assert sent == [] and keys(client) == []
    uploaded = upload(client, config(THRESHOLD), BUCKET, "attachments/a", OneWay(data), EXTRA, sha(data))
    assert (uploaded.size, uploaded.sha256) == (1000, sha(data))
    assert stored(client, "attachments/a") == data


def test_a_store_refusing_the_put_leaves_the_refusal_to_the_caller(client):
    data = os.urandom(100)
    with pytest.raises(ClientError, match="NoSuchBucket"):
        upload(client, config(THRESHOLD), "no-such-bucket", "attachments/a", OneWay(data), EXTRA, None)


# -- at and above the threshold: parts -------------------------------------------------------------------


def test_at_the_threshold_the_bytes_go_in_parts_without_a_recorded_sha256(store, client):
    data = os.urandom(1000)
    sent = record_requests(store)
    uploaded = upload(client, config(1000), BUCKET, "attachments/a", OneWay(data), EXTRA, None)
    assert operations(sent) == ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"]
    assert uploaded == Uploaded(1000, sha(data), None)
    assert stored(client, "attachments/a") == data
    found = head(client, "attachments/a")
    assert (found["ContentType"], found["Metadata"]) == ("text/plain", {"doc": "7"})


def test_parts_record_the_expected_sha256_as_given(client):
    data = os.urandom(PROBE_SIZE + 10)
    expected = sha(data)
    uploaded = upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", OneWay(data), EXTRA, expected)
    assert uploaded == Uploaded(len(data), expected, None)
    assert head(client, "attachments/a")["Metadata"] == {"doc": "7", SHA256_META: expected}
    assert EXTRA == {"ContentType": "text/plain", "Metadata": {"doc": "7"}}


@pytest.mark.parametrize(("size", "parts"), [(2 * PART, 2), (2 * PART + 3, 3), (PART + 1, 2), (PART - 1, 1)])
def test_a_stream_above_the_threshold_goes_in_full_parts_and_a_last_one(store, client, size, parts):
    data = os.urandom(size)
    sent = record_requests(store)
    completed = []
    client.meta.events.register(
        "before-parameter-build.s3.CompleteMultipartUpload",
        lambda params, **kwargs: completed.extend(params["MultipartUpload"]["Parts"]),
    )
    uploaded = upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", OneWay(data), EXTRA, None)
    sent = list(sent)
    assert operations(sent) == ["CreateMultipartUpload"] + ["UploadPart"] * parts + ["CompleteMultipartUpload"]
    assert uploaded == Uploaded(size, sha(data), None)
    assert stored(client, "attachments/a") == data
    # each part is named in the completion with the CRC32 of its own bytes, as the store checked it
    pieces = [data[start : start + PART] for start in range(0, size, PART)]
    assert completed == [
        {"PartNumber": number, "ETag": completed[number - 1]["ETag"], "ChecksumCRC32": crc32(piece)}
        for number, piece in enumerate(pieces, start=1)
    ]
    assert sent[0].headers["x-amz-checksum-algorithm"] == "CRC32"
    assert {request.headers.get("x-amz-trailer") for request in sent[1:-1]} == {"x-amz-checksum-crc32"}


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def test_a_store_that_takes_checksums_only_when_required_gets_none_with_the_parts():
    with mock_aws():
        plain = provider(checksums="when_required")
        plain.ensure_ready()
        data = os.urandom(PART + 10)
        sent = record_requests(plain)
        upload(plain.client, config(PROBE_SIZE), BUCKET, "attachments/a", OneWay(data), EXTRA, None)
        assert operations(sent) == ["CreateMultipartUpload", "UploadPart", "UploadPart", "CompleteMultipartUpload"]
        assert stored(plain.client, "attachments/a") == data
        assert not [name for request in sent for name in request.headers if "checksum" in name]


def part_buffers_made(monkeypatch) -> list[tuple[int, int]]:
    made = []

    class Recorded(PartBuffers):
        def __init__(self, part_size, count):
            made.append((part_size, count))
            super().__init__(part_size, count)

    monkeypatch.setattr(s3_transfer, "PartBuffers", Recorded)
    return made


@pytest.mark.parametrize(("in_memory", "count"), [(0, 2), (1, 2), (2, 3), (3, 4)])
def test_parts_are_read_into_one_buffer_more_than_may_be_in_flight_and_at_least_two(
    client, monkeypatch, in_memory, count
):
    made = part_buffers_made(monkeypatch)
    data = os.urandom(PROBE_SIZE + 1)
    upload(client, config(PROBE_SIZE, in_memory=in_memory), BUCKET, "attachments/a", OneWay(data), EXTRA, None)
    assert made == [(PART, count)]
    assert stored(client, "attachments/a") == data


def test_a_small_stream_needs_no_part_buffers(client, monkeypatch):
    made = part_buffers_made(monkeypatch)
    upload(client, config(THRESHOLD), BUCKET, "attachments/a", OneWay(b"small"), EXTRA, None)
    assert made == []


def test_a_small_upload_holds_no_part_sized_buffer_in_memory(client):
    upload(client, config(PART), BUCKET, "attachments/warm", OneWay(b"w"), EXTRA, None)  # botocore's caches
    tracemalloc.start()
    try:
        upload(client, config(PART), BUCKET, "attachments/a", OneWay(b"small"), EXTRA, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PART // 2  # the probe (PROBE_SIZE) decides; a part buffer is made only for a large stream
    assert stored(client, "attachments/a") == b"small"


def test_part_buffers_are_made_as_needed_and_reused():
    pool = PartBuffers(10, 3)
    first = pool.take()
    assert (type(first), len(first)) == (memoryview, 10)
    pool.give_back(first)
    assert pool.take() is first  # a free buffer is reused before another is made
    second = pool.take()
    assert second is not first and len(second) == 10


def test_part_buffers_never_number_more_than_the_count():
    pool = PartBuffers(10, 2)
    first, second = pool.take(), pool.take()
    assert first is not second
    taken = []
    waiting = threading.Thread(target=lambda: taken.append(pool.take()))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive() and taken == []  # a third take waits for a buffer to come back
    pool.give_back(second)
    waiting.join(5)
    assert taken == [second]


def sending(client, monkeypatch, each_part):
    """Run ``each_part(number)`` as each part starts to be sent, then send it."""
    real = client.upload_part

    def upload_part(**kwargs):
        each_part(kwargs["PartNumber"])
        return real(**kwargs)

    monkeypatch.setattr(client, "upload_part", upload_part)


def test_reading_the_next_part_overlaps_sending_the_one_before(client, monkeypatch):
    data = os.urandom(2 * PART + 1)
    stream = OneWay(data)
    read_past_first = threading.Event()
    seen = []

    def each_part(number):
        if number == 1:
            # the second part is read while the first is still being sent
            seen.append(read_past_first.wait(10))
        if number == 2:
            read_past_first.set()

    real_readinto = stream.readinto

    def readinto(buffer):
        got = real_readinto(buffer)
        if stream.given > PART:
            read_past_first.set()
        return got

    stream.readinto = readinto
    sending(client, monkeypatch, each_part)
    upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", stream, EXTRA, None)
    assert seen == [True]
    assert stored(client, "attachments/a") == data


@pytest.mark.parametrize(("concurrency", "at_once"), [(1, 1), (2, 2)])
def test_parts_go_out_as_many_at_a_time_as_the_concurrency_allows(client, monkeypatch, concurrency, at_once):
    data = os.urandom(2 * PART + 1)
    started = {number: threading.Event() for number in (1, 2, 3)}
    overlapped = []

    def each_part(number):
        started[number].set()
        if number == 1:
            # wait a little for the second part: it starts only while the first is unfinished if two go at once
            overlapped.append(started[2].wait(0.5 if at_once == 1 else 10))

    sending(client, monkeypatch, each_part)
    upload(client, config(PROBE_SIZE, in_memory=2, concurrency=concurrency), BUCKET, "a", OneWay(data), EXTRA, None)
    assert overlapped == [at_once == 2]
    assert stored(client, "a") == data


# -- failures while sending parts ------------------------------------------------------------------------


def test_a_refused_part_aborts_the_upload_and_leaves_nothing(store, client):
    refuse(client, "UploadPart", when=lambda params: params["PartNumber"] == 2)
    sent = record_requests(store)
    with pytest.raises(ClientError, match="InternalError"):
        upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", OneWay(os.urandom(2 * PART + 1)), EXTRA, None)
    aborts = [request for request in sent if request.method == "DELETE" and "uploadId" in request.query]
    assert len(aborts) == 1
    assert pending(client) == [] and keys(client) == []


def test_a_refused_completion_aborts_the_upload_and_leaves_nothing(client):
    refuse(client, "CompleteMultipartUpload")
    with pytest.raises(ClientError, match="InternalError"):
        upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", OneWay(os.urandom(PART + 1)), EXTRA, None)
    assert pending(client) == [] and keys(client) == []


def test_a_stream_that_fails_between_parts_aborts_the_upload_with_the_streams_error(client):
    error = OSError("the client went away")
    with pytest.raises(OSError) as raised:
        upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", Failing(os.urandom(PART), error), EXTRA, None)
    assert raised.value is error
    assert pending(client) == [] and keys(client) == []


def test_a_failed_part_stops_the_reading_long_before_the_streams_end(client):
    refuse(client, "UploadPart")
    stream = Endless(1000 * 1024)
    reader = HashingReader(stream)
    pool = PartBuffers(1024, 2)
    first = pool.take()
    filled = reader.readinto_full(first)
    with pytest.raises(ClientError, match="InternalError"):
        _upload_parts(client, BUCKET, "attachments/a", reader, pool, first, filled, EXTRA, 1)
    assert stream.given < 500 * 1024
    assert pending(client) == []


def test_a_failed_abort_is_logged_and_the_uploads_own_error_raised(client, caplog):
    refuse(client, "UploadPart", code="SlowDown")
    refuse(client, "AbortMultipartUpload", code="AccessDenied")
    with pytest.raises(ClientError, match="SlowDown"):
        upload(client, config(PROBE_SIZE), BUCKET, "attachments/a", OneWay(os.urandom(PART + 1)), EXTRA, None)
    assert [(record.levelno, record.getMessage()) for record in caplog.records if record.name == "portal.storage"] == [
        (
            logging.WARNING,
            "storage abort of a failed multipart upload failed key=attachments/a outcome=AccessDenied",
        )
    ]


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "EndpointConnectionError"),
        (ClientError({}, "AbortMultipartUpload"), "ClientError"),
        (ClientError({"Error": {"Code": ""}}, "AbortMultipartUpload"), "ClientError"),
    ],
)
def test_an_abort_that_fails_without_a_code_is_logged_by_the_errors_type(caplog, error, outcome):
    class Client:
        def abort_multipart_upload(self, **kwargs):
            raise error

    _abort(Client(), BUCKET, "attachments/a", "upload-1")
    assert [record.getMessage() for record in caplog.records] == [
        f"storage abort of a failed multipart upload failed key=attachments/a outcome={outcome}"
    ]


def test_the_expected_sha256_joins_the_metadata_only_when_given():
    extra = {"ContentType": "text/plain", "Metadata": {"doc": "7"}}
    assert with_expected(extra, None) is extra
    assert with_expected(extra, "") is extra
    assert with_expected(extra, "ab" * 32) == {
        "ContentType": "text/plain",
        "Metadata": {"doc": "7", SHA256_META: "ab" * 32},
    }
    assert extra == {"ContentType": "text/plain", "Metadata": {"doc": "7"}}


# -- streamed PUTs ---------------------------------------------------------------------------------------


@pytest.fixture
def streaming(store):
    """The client a provider sends streamed PUTs with: an unsigned payload, one attempt."""
    return store._client("stream")


def test_a_streamed_put_stores_exactly_the_bytes_read_and_their_sha256(store, streaming):
    data = os.urandom(3000)
    stream = OneWay(data)
    sent = record_requests(store)
    extra = {**EXTRA, "ChecksumAlgorithm": "SHA256"}  # the store answers its own SHA-256 of what it took
    uploaded = put_streamed(streaming, BUCKET, "attachments/a", stream, 3000, extra)
    assert uploaded == Uploaded(3000, sha(data), sha(data))
    assert operations(sent) == ["PutObject"]
    assert stored(store.client, "attachments/a") == data
    assert head(store.client, "attachments/a")["Metadata"] == {"doc": "7"}


@pytest.mark.parametrize("size", [2999, 3001])
def test_a_stream_unlike_its_promised_size_stores_nothing(store, streaming, size):
    data = os.urandom(3000)
    with pytest.raises(StorageIntegrityError) as raised:
        put_streamed(streaming, BUCKET, "attachments/a", OneWay(data), size, EXTRA)
    assert str(raised.value) == f"the stream held 3000 bytes, not the {size} promised; nothing was stored"
    assert keys(store.client) == []


def test_a_stream_held_to_its_size_fails_with_its_own_error_and_stores_nothing(store, streaming):
    with pytest.raises(StorageIntegrityError, match="the stream ended after 3000 bytes; 4000 were promised"):
        put_streamed(streaming, BUCKET, "attachments/a", ExactSize(OneWay(os.urandom(3000)), 4000), 4000, EXTRA)
    assert keys(store.client) == []


def test_a_stream_that_fails_under_a_streamed_put_raises_its_own_error(store, streaming):
    error = ConnectionResetError(104, "the client went away")
    with pytest.raises(ConnectionResetError) as raised:
        put_streamed(streaming, BUCKET, "attachments/a", Failing(os.urandom(100), error), 200, EXTRA)
    assert raised.value is error
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert keys(store.client) == []


def test_a_store_refusing_a_streamed_put_raises_its_refusal(streaming):
    with pytest.raises(ClientError, match="NoSuchBucket"):
        put_streamed(streaming, "no-such-bucket", "attachments/a", OneWay(b"abc"), 3, EXTRA)


def test_a_streamed_body_has_its_promised_length_and_notes_its_streams_failure():
    body = _StreamedBody(HashingReader(OneWay(b"abcdef")), 6)
    assert len(body) == 6
    assert body.read(4) == b"abcd" and body.read() == b"ef"
    assert body.failure is None
    error = OSError("gone")
    failing = _StreamedBody(HashingReader(Failing(b"", error)), 6)
    with pytest.raises(Exception) as raised:
        failing.read(3)
    assert not isinstance(raised.value, OSError) and raised.value.__cause__ is error
    assert failing.failure is error


# -- open files: read in place ---------------------------------------------------------------------------


def test_an_open_file_from_its_position_is_sent_in_parts_read_in_place(store, client, a_file):
    data = os.urandom(PART + 300)
    stream = a_file(data, position=200)
    sent = record_requests(store)
    uploaded = upload(client, config(PART), BUCKET, "attachments/a", stream, EXTRA, sha(data[200:]))
    assert uploaded == Uploaded(PART + 100, sha(data[200:]), None)
    assert stored(client, "attachments/a") == data[200:]
    assert head(client, "attachments/a")["Metadata"] == {"doc": "7", SHA256_META: sha(data[200:])}
    assert operations(sent)[0] == "CreateMultipartUpload" and "PutObject" not in operations(sent)
    assert stream.reads == 0  # the parts and the hash came from pread, not from the stream
    assert stream.tell() == len(data)  # left at its end, as if read through


def test_an_open_file_without_expected_sha256_records_none(client, a_file):
    data = os.urandom(PART)
    uploaded = upload(client, config(PART), BUCKET, "attachments/a", a_file(data), EXTRA, None)
    assert uploaded == Uploaded(PART, sha(data), None)
    assert head(client, "attachments/a")["Metadata"] == {"doc": "7"}


def test_an_open_file_with_less_than_the_threshold_left_goes_in_one_put(store, client, a_file):
    data = os.urandom(2000)
    stream = a_file(data, position=1001)
    sent = record_requests(store)
    uploaded = upload(client, config(1000), BUCKET, "attachments/a", stream, EXTRA, None)
    assert operations(sent) == ["PutObject"]
    assert uploaded == Uploaded(999, sha(data[1001:]), sha(data[1001:]))
    assert stored(client, "attachments/a") == data[1001:]


def test_a_file_that_grows_while_it_is_sent_is_refused_and_removed(client, a_file, monkeypatch):
    data = os.urandom(PART)
    stream = a_file(data)
    real = s3_transfer._hash_extent

    def hash_then_grow(fd, *args):
        real(fd, *args)
        with open(stream.name, "ab") as late_writer:
            late_writer.write(b"late")

    monkeypatch.setattr(s3_transfer, "_hash_extent", hash_then_grow)
    with pytest.raises(StorageIntegrityError) as raised:
        upload(client, config(PART), BUCKET, "attachments/a", stream, EXTRA, None)
    assert str(raised.value) == "the file changed while it was being uploaded; nothing was stored"
    assert keys(client) == [] and pending(client) == []


@pytest.mark.parametrize("when", ["while sending", "after sending"])
def test_a_file_that_cannot_be_read_withdraws_its_upload(client, a_file, monkeypatch, when):
    client.put_object(Bucket=BUCKET, Key="attachments/a", Body=b"earlier")
    error = OSError("disk read error")

    def failing_hash(fd, start, length, digest, future):
        if when == "after sending":
            future.result()  # the new object is complete and visible by now
        raise error

    monkeypatch.setattr(s3_transfer, "_hash_extent", failing_hash)
    with pytest.raises(OSError) as raised:
        upload(client, config(PART), BUCKET, "attachments/a", a_file(os.urandom(PART)), EXTRA, None)
    assert raised.value is error
    assert pending(client) == []
    if when == "after sending":
        assert keys(client) == []  # what replaced the earlier object cannot be vouched for
    else:
        assert stored(client, "attachments/a") == b"earlier"


class Future:
    """Stands in for the transfer manager's future: done or not, with a result or an error."""

    def __init__(self, done: bool = False, error: BaseException | None = None):
        self._done, self._error, self.cancelled = done, error, False

    def done(self) -> bool:
        return self._done

    def result(self):
        if self._error is not None:
            raise self._error

    def cancel(self):
        self.cancelled = True


@pytest.mark.parametrize(("start", "length"), [(0, 0), (0, 10), (3, 2 * CHUNK_SIZE + 5), (CHUNK_SIZE - 1, CHUNK_SIZE)])
def test_the_hash_of_a_window_covers_exactly_its_bytes(a_file, start, length):
    data = os.urandom(start + length + 7)
    digest = hashlib.sha256()
    _hash_extent(a_file(data).fileno(), start, length, digest, Future())
    assert digest.hexdigest() == sha(data[start : start + length])


def test_a_file_that_shrank_cannot_be_hashed(a_file):
    data = os.urandom(CHUNK_SIZE + 10)
    with pytest.raises(StorageIntegrityError) as raised:
        _hash_extent(a_file(data).fileno(), 0, len(data) + 1, hashlib.sha256(), Future())
    assert str(raised.value) == "the file shrank while it was being uploaded; nothing was stored"


def test_hashing_stops_at_once_when_the_upload_failed(a_file):
    error = ClientError({"Error": {"Code": "SlowDown"}}, "UploadPart")
    digest = hashlib.sha256()
    data = os.urandom(3 * CHUNK_SIZE)
    with pytest.raises(ClientError) as raised:
        _hash_extent(a_file(data).fileno(), 0, len(data), digest, Future(done=True, error=error))
    assert raised.value is error
    assert digest.hexdigest() == sha(data[:CHUNK_SIZE])
    done = hashlib.sha256()
    _hash_extent(a_file(data).fileno(), 0, len(data), done, Future(done=True))  # finished already: go on
    assert done.hexdigest() == sha(data)


def test_withdrawing_a_finished_upload_deletes_it(client):
    client.put_object(Bucket=BUCKET, Key="attachments/a", Body=b"unvouched")
    future = Future(done=True)
    _withdraw(client, BUCKET, "attachments/a", future)
    assert future.cancelled and keys(client) == []


def test_withdrawing_an_upload_that_never_finished_leaves_the_key_alone(client):
    client.put_object(Bucket=BUCKET, Key="attachments/a", Body=b"earlier")
    future = Future(done=True, error=KeyboardInterrupt())
    _withdraw(client, BUCKET, "attachments/a", future)
    assert future.cancelled and stored(client, "attachments/a") == b"earlier"
