"""One conformance suite, run against every provider: local, S3 under mock_aws, MinIO profile over HTTP."""

from __future__ import annotations

import errno
import hashlib
import io
import logging

import pytest

from portal.storage.base import ObjectNotFound, StorageIntegrityError
from portal.storage.disposition import content_disposition
from tests.support.storage_apps import S3_KINDS, THRESHOLD


def payload(size: int) -> bytes:
    """``size`` bytes that differ at every offset, so a misplaced range or part shows."""
    block = hashlib.sha256(str(size).encode()).digest() * 4 + bytes(range(256))
    return (block * (size // len(block) + 1))[:size]


class UnknownLength:
    """A non-seekable reader without len(), returning short reads, like a socket."""

    def __init__(self, data: bytes, step: int = 300_000) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, amount: int = -1) -> bytes:
        amount = len(self._data) if amount is None or amount < 0 else amount
        chunk = self._data[self._pos : self._pos + min(amount, self._step)]
        self._pos += len(chunk)
        return chunk


class BrokenReader(UnknownLength):
    """Raises once ``fail_at`` bytes have been read, like a client that disconnects mid-upload."""

    def __init__(self, data: bytes, fail_at: int) -> None:
        super().__init__(data)
        self._fail_at = fail_at

    def read(self, amount: int = -1) -> bytes:
        if self._pos >= self._fail_at:
            raise ConnectionResetError(errno.ECONNRESET, "client went away")
        return super().read(amount)


SIZES = {"empty": 0, "one": 1, "t-1": THRESHOLD - 1, "t": THRESHOLD, "2t+1": 2 * THRESHOLD + 1}


@pytest.fixture(params=["memory", "file"])
def source(request, tmp_path):
    """Makes the stream save() reads: an in-memory buffer, or an open file (as werkzeug spools big uploads)."""
    opened = []

    def make(data: bytes, skip: int = 0):
        if request.param == "memory":
            stream = io.BytesIO(data)
        else:
            path = tmp_path / f"upload-{len(opened)}.bin"
            path.write_bytes(data)
            stream = open(path, "rb")
            opened.append(stream)
        stream.seek(skip)
        return stream

    yield make
    for stream in opened:
        stream.close()


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_save_then_read_back(provider, source, size):
    data = payload(size)
    stored = provider.save(
        "attachments/roundtrip.bin", source(data), content_type="application/pdf", metadata={"document-id": "7"}
    )
    digest = hashlib.sha256(data).hexdigest()
    assert (stored.key, stored.size, stored.sha256) == ("attachments/roundtrip.bin", size, digest)
    assert b"".join(provider.open("attachments/roundtrip.bin")) == data
    info = provider.stat("attachments/roundtrip.bin")
    assert (info.size, info.content_type, info.metadata) == (size, "application/pdf", {"document-id": "7"})
    # A store may not know the SHA-256 of a multipart object, but it never reports a wrong one.
    assert info.sha256 in (None, stored.sha256)
    if size < THRESHOLD:
        assert info.sha256 == stored.sha256
    assert provider.exists("attachments/roundtrip.bin")


@pytest.mark.parametrize("size", [1000, 2 * THRESHOLD + 1], ids=["small", "multipart"])
def test_stream_of_unknown_length(provider, size):
    data = payload(size)
    stored = provider.save("staging/stream.bin", UnknownLength(data))
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert b"".join(provider.open("staging/stream.bin")) == data


@pytest.mark.parametrize("size", [THRESHOLD - 1, 2 * THRESHOLD + 1], ids=["single", "multipart"])
def test_save_from_the_middle_of_a_stream(provider, source, size):
    data = payload(size + 100)
    stored = provider.save("attachments/tail.bin", source(data, skip=100))
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(data[100:]).hexdigest())
    assert b"".join(provider.open("attachments/tail.bin")) == data[100:]


@pytest.mark.parametrize("size", [10, THRESHOLD + 1], ids=["small", "multipart"])
def test_expected_sha256_is_recorded(provider, source, size):
    data = payload(size)
    digest = hashlib.sha256(data).hexdigest()
    provider.save("attachments/known.bin", source(data), expected_sha256=digest.upper())
    assert provider.stat("attachments/known.bin").sha256 == digest


@pytest.mark.parametrize("size", [10, THRESHOLD + 1], ids=["small", "multipart"])
def test_expected_sha256_mismatch_stores_nothing(harness, source, size):
    provider = harness.provider
    with pytest.raises(StorageIntegrityError):
        provider.save("attachments/wrong.bin", source(payload(size)), expected_sha256="0" * 64)
    assert not provider.exists("attachments/wrong.bin")
    assert harness.leftovers() == []


@pytest.mark.parametrize("fail_at", [1000, THRESHOLD + THRESHOLD // 2], ids=["before-first-part", "mid-multipart"])
def test_reader_failing_halfway_leaves_nothing(harness, fail_at):
    provider = harness.provider
    with pytest.raises(ConnectionResetError):
        provider.save("attachments/broken.bin", BrokenReader(payload(3 * THRESHOLD), fail_at))
    assert not provider.exists("attachments/broken.bin")
    assert [item.key for item in provider.list("attachments/")] == []
    assert harness.leftovers() == []  # no temp file, no pending multipart upload


class AbortedBehindOurBack(BrokenReader):
    """Fails like BrokenReader, but first every pending multipart upload of the bucket is aborted by
    someone else (an operator's clean-up, a lifecycle rule), so the provider's own abort fails."""

    def __init__(self, data: bytes, fail_at: int, provider) -> None:
        super().__init__(data, fail_at)
        self._provider = provider

    def read(self, amount: int = -1) -> bytes:
        if self._pos >= self._fail_at:
            client, bucket = self._provider.client, self._provider.bucket
            for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
                client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        return super().read(amount)


@pytest.mark.parametrize("fail_at", [1000, THRESHOLD + THRESHOLD // 2], ids=["before-first-part", "mid-multipart"])
def test_a_client_gone_mid_upload_is_logged_at_info(harness, caplog, fail_at):
    caplog.set_level(logging.INFO, logger="portal.storage")
    with pytest.raises(ConnectionResetError):
        harness.provider.save("attachments/gone.bin", BrokenReader(payload(3 * THRESHOLD), fail_at))
    (line,) = [record for record in caplog.records if "op=save" in record.getMessage()]
    assert (line.levelname, line.storage["outcome"]) == ("INFO", "ConnectionResetError")


@pytest.mark.parametrize("harness", S3_KINDS, indirect=True)
def test_a_failed_abort_keeps_the_original_error_and_is_logged(harness, caplog):
    provider = harness.provider
    reader = AbortedBehindOurBack(payload(3 * THRESHOLD), THRESHOLD + THRESHOLD // 2, provider)
    with pytest.raises(ConnectionResetError, match="client went away"):
        provider.save("attachments/broken.bin", reader)
    assert "storage abort of a failed multipart upload failed" in caplog.text
    assert "key=attachments/broken.bin outcome=NoSuchUpload" in caplog.text
    assert not provider.exists("attachments/broken.bin")
    assert harness.leftovers() == []


@pytest.mark.parametrize("size", [10, THRESHOLD + 1], ids=["small", "streamed"])
def test_a_stream_of_known_size_is_stored_whole(provider, size):
    data = payload(size)
    stored = provider.save("attachments/sized.bin", UnknownLength(data), size=size)
    assert (stored.size, stored.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert b"".join(provider.open("attachments/sized.bin")) == data


@pytest.mark.parametrize("size", [10, THRESHOLD + 1], ids=["small", "streamed"])
@pytest.mark.parametrize("actual", [-1, +1], ids=["shorter", "longer"])
def test_a_stream_unlike_its_promised_size_stores_nothing(harness, size, actual):
    provider = harness.provider
    with pytest.raises(StorageIntegrityError, match="promised"):
        provider.save("attachments/unsized.bin", UnknownLength(payload(size + actual)), size=size)
    assert not provider.exists("attachments/unsized.bin")
    assert [item.key for item in provider.list("attachments/")] == []
    assert harness.leftovers() == []


@pytest.mark.parametrize("fail_at", [1000, THRESHOLD // 2], ids=["at-once", "mid-stream"])
def test_a_stream_of_known_size_failing_halfway_leaves_nothing(harness, fail_at):
    provider = harness.provider
    with pytest.raises(ConnectionResetError):
        provider.save("attachments/broken.bin", BrokenReader(payload(THRESHOLD + 1), fail_at), size=THRESHOLD + 1)
    assert [item.key for item in provider.list("attachments/")] == []
    assert harness.leftovers() == []


def test_missing_key(provider):
    with pytest.raises(ObjectNotFound):
        provider.open("attachments/missing")
    with pytest.raises(ObjectNotFound):
        provider.stat("attachments/missing")
    with pytest.raises(ObjectNotFound):
        provider.copy("attachments/missing", "attachments/copy")
    with pytest.raises(ObjectNotFound):
        provider.set_metadata("attachments/missing", {"a": "b"})
    assert not provider.exists("attachments/missing")
    provider.delete("attachments/missing")  # deleting what is not there is fine


def test_delete(provider):
    provider.save("attachments/gone", io.BytesIO(b"bytes"))
    provider.delete("attachments/gone")
    assert not provider.exists("attachments/gone")
    assert list(provider.list("attachments/")) == []


RANGES = {
    "first byte": ((0, 0), slice(0, 1)),
    "middle": ((10, 19), slice(10, 20)),
    "to the end": ((95, 99), slice(95, 100)),
    "past the end is clipped": ((95, 500), slice(95, 100)),
    "starting past the end is empty": ((100, 120), slice(100, 100)),
}


@pytest.mark.parametrize("byte_range, expected", RANGES.values(), ids=RANGES.keys())
def test_range_read(provider, byte_range, expected):
    data = payload(100)
    provider.save("attachments/range.bin", io.BytesIO(data))
    assert b"".join(provider.open("attachments/range.bin", byte_range)) == data[expected]


def test_range_across_parts(provider):
    data = payload(2 * THRESHOLD + 1)
    provider.save("attachments/big.bin", io.BytesIO(data))
    first, last = THRESHOLD - 5, THRESHOLD + 5
    assert b"".join(provider.open("attachments/big.bin", (first, last))) == data[first : last + 1]


def test_bad_range_is_refused(provider):
    provider.save("attachments/range.bin", io.BytesIO(b"abc"))
    with pytest.raises(ValueError):
        provider.open("attachments/range.bin", (2, 1))


def test_copy_keeps_bytes_type_and_metadata(provider):
    data = payload(4096)
    provider.save("staging/a.txt", io.BytesIO(data), content_type="text/plain", metadata={"owner": "3"})
    copied = provider.copy("staging/a.txt", "attachments/a.txt")
    provider.delete("staging/a.txt")
    assert (copied.key, copied.size) == ("attachments/a.txt", len(data))
    assert b"".join(provider.open("attachments/a.txt")) == data
    info = provider.stat("attachments/a.txt")
    digest = hashlib.sha256(data).hexdigest()
    assert (info.content_type, info.metadata, info.sha256) == ("text/plain", {"owner": "3"}, digest)


def test_set_metadata_replaces_and_keeps_the_rest(provider):
    data = payload(2048)
    provider.save("attachments/m.pdf", io.BytesIO(data), content_type="application/pdf", metadata={"old": "1"})
    provider.set_metadata("attachments/m.pdf", {"key-id": "k2", "wrapped": "abc=="})
    info = provider.stat("attachments/m.pdf")
    assert info.metadata == {"key-id": "k2", "wrapped": "abc=="}
    assert (info.content_type, info.size, info.sha256) == ("application/pdf", 2048, hashlib.sha256(data).hexdigest())
    assert b"".join(provider.open("attachments/m.pdf")) == data


def test_list_by_prefix(provider):
    for key, size in [("attachments/a/1", 1), ("attachments/a/2", 2), ("attachments/b", 3), ("staging/x", 4)]:
        provider.save(key, io.BytesIO(payload(size)), metadata={"n": str(size)})
    listed = [(item.key, item.size) for item in provider.list("attachments/")]
    assert listed == [("attachments/a/1", 1), ("attachments/a/2", 2), ("attachments/b", 3)]
    assert [item.key for item in provider.list("attachments/a")] == ["attachments/a/1", "attachments/a/2"]
    everything = ["attachments/a/1", "attachments/a/2", "attachments/b", "staging/x"]
    assert [item.key for item in provider.list()] == everything
    assert list(provider.list("nothing/")) == []


FILENAMES = ["report.pdf", "naïve résumé €.pdf", "报告.pdf", 'quote"and\\slash.pdf', "evil\r\nSet-Cookie: x.pdf"]


@pytest.mark.parametrize("filename", FILENAMES)
def test_url_serves_bytes_under_the_filename(harness, filename):
    data = payload(1500)
    harness.provider.save("attachments/doc.pdf", io.BytesIO(data), content_type="application/pdf")
    url = harness.provider.url("attachments/doc.pdf", expires_in=60, filename=filename, content_type="application/pdf")
    status, headers, body = harness.fetch(url, {})
    assert (status, body) == (200, data)
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == content_disposition(filename, "attachment")


def test_url_answers_range_requests(harness):
    data = payload(1500)
    harness.provider.save("attachments/doc.bin", io.BytesIO(data))
    url = harness.provider.url("attachments/doc.bin", filename="doc.bin")
    status, headers, body = harness.fetch(url, {"Range": "bytes=100-199"})
    assert (status, body) == (206, data[100:200])
    assert headers["Content-Range"] == "bytes 100-199/1500"


def test_url_never_serves_active_content_inline(harness):
    harness.provider.save("attachments/page.html", io.BytesIO(b"<script>alert(1)</script>"), content_type="text/html")
    url = harness.provider.url(
        "attachments/page.html", filename="page.html", content_type="text/html", disposition="inline"
    )
    status, headers, _ = harness.fetch(url, {})
    assert status == 200
    assert headers["Content-Disposition"].startswith("attachment;")


def test_inline_disposition_for_safe_types(harness):
    harness.provider.save("attachments/scan.pdf", io.BytesIO(b"%PDF-1.7"), content_type="application/pdf")
    url = harness.provider.url(
        "attachments/scan.pdf", filename="scan.pdf", content_type="application/pdf", disposition="inline"
    )
    assert harness.fetch(url, {})[1]["Content-Disposition"] == 'inline; filename="scan.pdf"'


def test_stat_tells_the_write_time_and_local_path_where_a_file_lies(harness):
    provider = harness.provider
    data = payload(100)
    provider.save("attachments/dated.bin", io.BytesIO(data))
    found = provider.stat("attachments/dated.bin")
    assert found.modified is not None and found.modified.utcoffset() is not None
    path = provider.local_path("attachments/dated.bin")
    if harness.kind == "local":
        assert path.read_bytes() == data
        # the sidecar's SHA-256 is the portal's own note, not a checksum the folder keeps
        assert (found.sha256, found.store_sha256) == (hashlib.sha256(data).hexdigest(), None)
    else:
        assert path is None


@pytest.mark.parametrize("size", [0, 10, THRESHOLD + 1], ids=["empty", "small", "streamed"])
def test_read_back_hashes_what_a_read_returns(provider, size):
    data = payload(size)
    provider.save("attachments/read-back.bin", io.BytesIO(data), size=size)
    assert provider.read_back("attachments/read-back.bin") == (size, hashlib.sha256(data).hexdigest())
    with pytest.raises(ObjectNotFound):
        provider.read_back("attachments/never-written")


def test_a_finished_or_broken_upload_leaves_no_incomplete_upload(provider):
    provider.save("attachments/whole", UnknownLength(payload(THRESHOLD + 1)))
    with pytest.raises(OSError):
        provider.save("attachments/broken", BrokenReader(payload(THRESHOLD * 2), fail_at=THRESHOLD + 10))
    assert list(provider.incomplete_uploads("attachments/")) == []
    provider.abort_upload("attachments/whole", "no-such-upload")  # an upload already gone is not an error
    assert provider.exists("attachments/whole")
