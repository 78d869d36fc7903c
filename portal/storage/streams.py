"""Readers the providers and their callers wrap streams in: the exact-size guard, the hashing reader."""

from __future__ import annotations

import hashlib
import os
from stat import S_ISREG
from typing import Any, BinaryIO

from portal.storage.base import CHUNK_SIZE, StorageIntegrityError


class ExactSize:
    """``stream``'s bytes, which must be exactly ``size``: StorageIntegrityError as soon as they run
    over, or at their end when they fall short. The stream's end is read before its last bytes are
    handed out, so a consumer that stops at ``size`` (one PUT with that Content-Length) never
    completes with a longer stream cut short."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self._stream, self.size, self.count = stream, size, 0

    def readable(self) -> bool:
        return True

    def read(self, amount: int | None = -1) -> bytes:
        remaining = self.size - self.count
        wanted = remaining if amount is None or amount < 0 else min(amount, remaining)
        pieces, got = [], 0
        while got < wanted:
            piece = self._stream.read(wanted - got)
            if not piece:
                raise StorageIntegrityError(
                    f"the stream ended after {self.count + got} bytes; {self.size} were promised"
                )
            pieces.append(piece)
            got += len(piece)
        self.count += got
        if self.count == self.size and (amount is None or amount != 0) and self._stream.read(1):
            raise StorageIntegrityError(f"the stream holds more than the {self.size} bytes promised")
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class HashingReader:
    """A non-seekable reader over ``stream`` that hashes and counts every byte on its way through.

    Reads return exactly the amount asked for until the end (S3 parts must be full-sized), and bytes
    pushed back with ``unread`` come out first without being hashed twice.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream, self._pending = stream, b""
        self._digest, self.size = hashlib.sha256(), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # Non-seekable makes the transfer manager read each part exactly once, in order.
        return False

    def unread(self, data: bytes) -> None:
        self._pending = data

    def read(self, amount: int | None = -1) -> bytes:
        pieces: list[bytes] = []
        if self._pending:
            if amount is not None and 0 <= amount < len(self._pending):
                data, self._pending = self._pending[:amount], self._pending[amount:]
                return data
            pieces.append(self._pending)
            self._pending = b""
        wanted = None if amount is None or amount < 0 else amount - sum(map(len, pieces))
        while wanted is None or wanted > 0:
            chunk = self._stream.read(CHUNK_SIZE if wanted is None else wanted)
            if chunk is None:
                raise ValueError("the upload stream returned None; it must be a blocking binary stream")
            if not chunk:
                break
            self._digest.update(chunk)
            self.size += len(chunk)
            pieces.append(chunk)
            if wanted is not None:
                wanted -= len(chunk)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readinto_full(self, buffer: memoryview) -> int:
        """Fill ``buffer`` from the stream (short only at the end); returns the byte count."""
        filled = 0
        if self._pending:
            filled = min(len(self._pending), len(buffer))
            buffer[:filled] = self._pending[:filled]
            self._pending = self._pending[filled:]
        while filled < len(buffer):
            chunk = self._stream.read(min(CHUNK_SIZE, len(buffer) - filled))
            if chunk is None:
                raise ValueError("the upload stream returned None; it must be a blocking binary stream")
            if not chunk:
                break
            buffer[filled : filled + len(chunk)] = chunk
            self._digest.update(chunk)
            self.size += len(chunk)
            filled += len(chunk)
        return filled

    def digest(self) -> bytes:
        return self._digest.digest()

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def open_regular_file(stream: Any) -> tuple[int, int, os.stat_result] | None:
    """(fd, position, stat) when ``stream`` is an open regular file; None for anything else."""
    try:
        fd, position = stream.fileno(), stream.tell()
        info = os.fstat(fd)
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    if not S_ISREG(info.st_mode) or position > info.st_size:
        return None
    return fd, position, info
