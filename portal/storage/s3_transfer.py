"""How the S3 provider feeds boto3's transfer manager: hashing readers, and open files read in place."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import os
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.utils import determine_content_length
from s3transfer.utils import OSUtils

from portal.storage.base import CHUNK_SIZE, StorageIntegrityError
from portal.storage.streams import HashingReader, open_regular_file

logger = logging.getLogger("portal.storage")

#: user-metadata name that carries the object's SHA-256 (hex); stat() reads it back
SHA256_META = "portal-sha256"
#: bytes read before deciding between one PUT and a multipart upload with part buffers
PROBE_SIZE = 256 * 1024


@dataclass
class Uploaded:
    """What went up: byte count and SHA-256 of exactly those bytes."""

    size: int
    sha256: str
    #: the full-object SHA-256 the store verified and answered with (one-PUT uploads), else None
    store_sha256: str | None = None


def answered_sha256(answer: dict) -> str | None:
    """The hex full-object SHA-256 in a PutObject or HeadObject answer; None for none or a composite."""
    value = answer.get("ChecksumSHA256")
    if not value or "-" in value or answer.get("ChecksumType") == "COMPOSITE":
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def no_continue_for_small_puts(params: dict, model: Any, **kwargs: Any) -> None:
    """botocore handler ('before-call.s3', registered last): a PutObject of at most PROBE_SIZE bytes
    goes without 'Expect: 100-continue'. botocore asks for it on every file-like body, which makes
    each small upload wait one more round trip before its body; sending a small body that the store
    then refuses costs less. Parts and large or streamed PUTs keep it."""
    if model.name == "PutObject" and "Expect" in params["headers"]:
        length = determine_content_length(params["body"])
        if length is not None and length <= PROBE_SIZE:
            del params["headers"]["Expect"]


class _Span(io.RawIOBase):
    """A read-only, seekable window of ``_length`` bytes; subclasses say where the bytes come from."""

    _length = 0
    _pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = min(max(0, base + offset), self._length)
        return self._pos


class _Extent(_Span):
    """Bytes [start, start + length) of an open file, read with pread: views never share a position."""

    def __init__(self, fd: int, start: int, length: int) -> None:
        super().__init__()
        self._fd, self._start, self._length, self._pos = fd, start, length, 0

    def read(self, size: int | None = -1) -> bytes:
        # Straight to bytes: RawIOBase.read would fill a bytearray and copy it once more.
        count = self._length - self._pos if size is None or size < 0 else min(size, self._length - self._pos)
        if count <= 0:
            return b""
        data = os.pread(self._fd, count, self._start + self._pos)
        self._pos += len(data)
        return data

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self._length - self._pos)
        if count <= 0:
            return 0
        read = os.preadv(self._fd, [memoryview(buffer)[:count]], self._start + self._pos)
        self._pos += read
        return read


class _ExtentOSUtils(OSUtils):
    """Makes the transfer manager open views of one open file where it would open a path."""

    def __init__(self, fd: int, start: int, length: int) -> None:
        super().__init__()
        self._fd, self._start, self._length = fd, start, length

    def get_file_size(self, filename: str) -> int:
        return self._length

    def open(self, filename: str, mode: str) -> _Extent:
        return _Extent(self._fd, self._start, self._length)


def _identity(info: os.stat_result) -> tuple:
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def upload(
    client: Any, config: TransferConfig, bucket: str, key: str, stream: BinaryIO, extra: dict, expected: str | None
) -> Uploaded:
    """Send ``stream`` to ``bucket``/``key`` and return the size and SHA-256 of what was sent.

    Below the multipart threshold: one PUT with ChecksumSHA256, which the store verifies, and the
    hash in metadata. An open regular file at or above it: parts read in place by the transfer
    manager's workers (no part buffered in memory) while this thread hashes the same bytes in order;
    the file must not change meanwhile. Any other stream: parts buffered as they are read through a
    HashingReader. Both large paths record ``expected`` (when given) as metadata. Raises
    StorageIntegrityError when ``expected`` is given and does not match, or the file changed.
    """
    threshold = config.multipart_threshold
    opened = open_regular_file(stream)
    if opened and opened[2].st_size - opened[1] >= threshold:
        return _upload_file(client, config, bucket, key, stream, opened, extra, expected)
    reader = HashingReader(stream)
    part_size = config.multipart_chunksize
    # Most files are small: a small probe decides, and the part buffers exist only for large ones.
    probe = memoryview(bytearray(min(threshold, part_size, PROBE_SIZE)))
    filled = reader.readinto_full(probe)
    if filled == len(probe):
        pool = PartBuffers(part_size, max(2, config.max_in_memory_upload_chunks + 1))
        first = pool.take()
        first[:filled] = probe
        filled += reader.readinto_full(first[filled : min(threshold, part_size)])
        probe = first
    if filled < min(threshold, part_size):
        if expected and reader.hexdigest() != expected:
            raise StorageIntegrityError(f"SHA-256 of the {reader.size} bytes received does not match")
        extra = {
            **extra,
            "Metadata": {**extra["Metadata"], SHA256_META: reader.hexdigest()},
            "ChecksumSHA256": base64.b64encode(reader.digest()).decode("ascii"),
        }
        answer = client.put_object(Bucket=bucket, Key=key, Body=_View(probe[:filled]), **extra)
        return Uploaded(reader.size, reader.hexdigest(), answered_sha256(answer))
    else:
        filled += reader.readinto_full(probe[filled:])
        _upload_parts(
            client,
            bucket,
            key,
            reader,
            pool,
            probe,
            filled,
            with_expected(extra, expected),
            max(1, config.max_request_concurrency),
        )
    return Uploaded(reader.size, reader.hexdigest())


class _SourceFailed(Exception):
    """The stream under a streamed PUT failed. Not an OSError: urllib3 takes those for a broken
    connection and would wait for the store's answer to a body that will never be complete."""


class _StreamedBody:
    """The body of one streamed PUT: ``size`` bytes read from ``reader`` as they are sent. Its length
    is known without seeking; it cannot be rewound, so its client makes exactly one attempt."""

    def __init__(self, reader: HashingReader, size: int) -> None:
        self._reader, self._size = reader, size
        #: what the stream raised while being sent (botocore reports it as a failed connection)
        self.failure: BaseException | None = None

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int | None = -1) -> bytes:
        try:
            return self._reader.read(amount)
        except Exception as exc:
            self.failure = exc
            raise _SourceFailed() from exc


def put_streamed(client: Any, bucket: str, key: str, stream: BinaryIO, size: int, extra: dict) -> Uploaded:
    """One PUT of exactly ``size`` bytes sent as they are read from ``stream``, nothing buffered.

    For a stream whose length is known up front: receiving it overlaps storing it, and the store
    has no parts to join at the end. ``client`` must not sign the payload (its hash would need every
    byte before the first is sent) and must make a single attempt. ``stream`` should be an ExactSize:
    a stream that ends early breaks the request, so the store keeps nothing.
    """
    reader = HashingReader(stream)
    body = _StreamedBody(reader, size)
    try:
        answer = client.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=size, **extra)
    except Exception:
        if body.failure is not None:  # the request broke off because the stream failed: say why
            raise body.failure from None
        raise
    if reader.size != size:  # the store took exactly ``size`` bytes; the stream had others
        client.delete_object(Bucket=bucket, Key=key)
        raise StorageIntegrityError(f"the stream held {reader.size} bytes, not the {size} promised; nothing was stored")
    return Uploaded(reader.size, reader.hexdigest(), answered_sha256(answer))


class PartBuffers:
    """Up to ``count`` part-sized buffers, made as they are first needed and reused for the whole
    upload: memory stays at most count x part size."""

    def __init__(self, part_size: int, count: int) -> None:
        self._free: queue.Queue = queue.Queue()
        self._part_size, self._unmade = part_size, count
        self._lock = threading.Lock()

    def take(self) -> memoryview:
        with self._lock:
            if self._free.empty() and self._unmade > 0:
                self._unmade -= 1
                return memoryview(bytearray(self._part_size))
        return self._free.get()

    def give_back(self, buffer: memoryview) -> None:
        self._free.put(buffer)


class _View(_Span):
    """A seekable file over part of a buffer, so botocore can checksum, send and retry without copying it."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view, self._pos, self._length = view, 0, len(view)

    def __len__(self) -> int:
        return self._length

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        data = self._view[self._pos : end].tobytes()
        self._pos = end
        return data

    def readinto(self, buffer) -> int:
        count = min(len(buffer), len(self._view) - self._pos)
        buffer[:count] = self._view[self._pos : self._pos + count]
        self._pos += count
        return count


def _checksum_args(client: Any) -> dict:
    # Where the store takes checksums (AWS, moto), CRC32 per part is what botocore would add anyway;
    # naming it up front keeps CreateMultipartUpload and the parts consistent. MinIO/R2 get none.
    return {"ChecksumAlgorithm": "CRC32"} if client.meta.config.request_checksum_calculation == "when_supported" else {}


def _upload_parts(
    client: Any,
    bucket: str,
    key: str,
    reader: HashingReader,
    pool: PartBuffers,
    first: memoryview,
    filled: int,
    extra: dict,
    workers: int,
) -> None:
    """A multipart upload fed from ``reader`` through ``pool``: reading the next part overlaps sending
    the previous ones, and a part's buffer is reused once it is sent. Aborted on any failure."""
    checksum = _checksum_args(client)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **extra, **checksum)["UploadId"]
    futures: list[Future] = []

    def send(number: int, buffer: memoryview, length: int) -> dict:
        try:
            answer = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=_View(buffer[:length]), **checksum
            )
        finally:
            pool.give_back(buffer)
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if "ChecksumCRC32" in answer:
            part["ChecksumCRC32"] = answer["ChecksumCRC32"]
        return part

    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-part") as executor:
            buffer, length, number = first, filled, 1
            while True:
                futures.append(executor.submit(send, number, buffer, length))
                if length < len(buffer):
                    break
                buffer = pool.take()
                for future in futures:
                    if future.done():
                        future.result()  # a failed part stops the upload now, not at the end
                length = reader.readinto_full(buffer)
                if length == 0:
                    pool.give_back(buffer)
                    break
                number += 1
            parts = [future.result() for future in futures]
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        for future in futures:
            future.cancel()
        _abort(client, bucket, key, upload_id)
        raise


def _abort(client: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort a failed multipart upload. Its own failure is logged, never raised: the caller must learn
    why the upload failed, not that the clean-up failed too."""
    try:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code") or type(exc).__name__
        # Parts left behind are never listed as objects; a lifecycle rule for incomplete multipart
        # uploads (docs/storage.md) removes them.
        logger.warning("storage abort of a failed multipart upload failed key=%s outcome=%s", key, code)


def with_expected(extra: dict, expected: str | None) -> dict:
    return {**extra, "Metadata": {**extra["Metadata"], SHA256_META: expected}} if expected else extra


def _upload_file(client, config, bucket, key, stream, opened, extra, expected) -> Uploaded:
    fd, start, before = opened
    length = before.st_size - start
    digest = hashlib.sha256()
    with create_transfer_manager(client, config, osutil=_ExtentOSUtils(fd, start, length)) as manager:
        # The manager takes a path here; our OSUtils maps it to the open file.
        future = manager.upload("<open file>", bucket, key, extra_args=with_expected(extra, expected))
        try:
            _hash_extent(fd, start, length, digest, future)
        except BaseException:
            _withdraw(client, bucket, key, future)
            raise
        future.result()
    if _identity(os.fstat(fd)) != _identity(before):
        client.delete_object(Bucket=bucket, Key=key)
        raise StorageIntegrityError("the file changed while it was being uploaded; nothing was stored")
    stream.seek(start + length)  # as if read to the end, like the other paths
    return Uploaded(length, digest.hexdigest())


def _withdraw(client: Any, bucket: str, key: str, future: Any) -> None:
    """Stop an upload whose bytes cannot be vouched for: cancel it, or delete it if it already finished."""
    future.cancel()  # a multipart upload in progress is aborted by the transfer manager
    try:
        future.result()
    except BaseException:
        return
    client.delete_object(Bucket=bucket, Key=key)


def _hash_extent(fd: int, start: int, length: int, digest: Any, future: Any) -> None:
    buffer = memoryview(bytearray(CHUNK_SIZE))
    done = 0
    while done < length:
        read = os.preadv(fd, [buffer[: min(CHUNK_SIZE, length - done)]], start + done)
        if read == 0:
            raise StorageIntegrityError("the file shrank while it was being uploaded; nothing was stored")
        digest.update(buffer[:read])
        done += read
        if future.done():
            future.result()  # a failed upload raises here instead of after a pointless full read
