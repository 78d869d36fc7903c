"""Bookkeeping around every storage operation: its one log line and the argument rules all providers share."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from contextlib import contextmanager
from pathlib import PurePosixPath, PureWindowsPath
from stat import S_ISREG
from typing import Any, BinaryIO, Iterator, Mapping

from werkzeug.exceptions import ClientDisconnected

from portal.storage.base import CHUNK_SIZE, ObjectNotFound, StorageError, StorageIntegrityError, StorageMisconfigured

logger = logging.getLogger("portal.storage")

#: what reading an upload raises when its client went away (the tab closed, the network dropped)
CLIENT_GONE = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError, ClientDisconnected)


class OpRecord:
    """Filled in by the operation while it runs (the size once it is known)."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size: int | None = None


def _quote(key: str | None) -> str:
    # JSON quoting keeps a hostile key (newlines, spaces) on one parseable line.
    return "-" if key is None else json.dumps(key, ensure_ascii=False)


@contextmanager
def logged(provider: str, op: str, key: str | None) -> Iterator[OpRecord]:
    """Time the block and log one line when it ends, with the exception class name as the outcome.

    Never logs an exception's message, a URL or a credential; re-raises whatever the block raised.
    """
    record = OpRecord()
    start = time.perf_counter()
    outcome, level = "ok", logging.INFO
    try:
        yield record
    except GeneratorExit:
        outcome = "closed"  # a listing the caller stopped reading early
        raise
    except BaseException as exc:
        outcome = type(exc).__name__
        # A missing key is an everyday answer (exists(), delete of a gone file), not a warning; nor is
        # a client that closed its tab mid-upload (its stream breaks under save()).
        if not isinstance(exc, (ObjectNotFound, *CLIENT_GONE)):
            level = logging.WARNING if isinstance(exc, StorageError) else logging.ERROR
        raise
    finally:
        ms = (time.perf_counter() - start) * 1000
        size = "-" if record.size is None else str(record.size)
        logger.log(
            level,
            "storage op=%s provider=%s key=%s size=%s ms=%.1f outcome=%s",
            op, provider, _quote(key), size, ms, outcome,
            extra={"storage": {"op": op, "provider": provider, "key": key, "size": record.size,
                               "ms": round(ms, 1), "outcome": outcome}},
        )


# S3 sends user metadata as x-amz-meta-* headers, so every provider holds to what headers can carry.
_META_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_META_TOTAL = 2048


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of ``metadata`` after checking it: lowercase names, printable ASCII values, 2 KiB in all.

    Raises ValueError naming the offending entry.
    """
    clean: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not isinstance(name, str) or not _META_NAME.fullmatch(name):
            raise ValueError(f"metadata name {name!r} must be lowercase letters, digits or '-'")
        if not isinstance(value, str) or not all(" " <= char <= "~" for char in value):
            raise ValueError(f"metadata {name!r} must be a printable ASCII string")
        clean[name] = value
    if sum(len(name) + len(value) for name, value in clean.items()) > _META_TOTAL:
        raise ValueError(f"metadata is larger than {_META_TOTAL} bytes")
    return clean


def check_sha256(value: str | None) -> str | None:
    """``value`` as lowercase hex, or None; raises ValueError when it is not 64 hex digits."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise ValueError("expected_sha256 must be 64 hexadecimal digits")
    return value.lower()


def byte_span(byte_range: tuple[int, int] | None, size: int) -> tuple[int, int]:
    """(offset, length) of the inclusive ``byte_range`` clipped to an object of ``size`` bytes.

    Raises ValueError for a negative or reversed range; a range past the end is empty.
    """
    if byte_range is None:
        return 0, size
    first, last = byte_range
    if first < 0 or last < first:
        raise ValueError(f"byte_range {byte_range!r} must be (first, last) with 0 <= first <= last")
    if first >= size:
        return size, 0
    return first, min(last, size - 1) - first + 1


def check_key(key: str) -> str:
    """``key`` when it is a plain relative key: no control characters, backslash, absolute or drive
    path, empty, ``.``, ``..`` or dot-prefixed component, at most 1024 bytes.

    Raises StorageMisconfigured saying which rule it breaks. Providers apply it to every key; the local
    provider's resolve_key adds the filesystem check on top.
    """
    if not isinstance(key, str) or not key:
        raise StorageMisconfigured("unsafe storage key: empty")
    shown = repr(key[:200])
    if any(ord(char) < 32 or ord(char) == 127 for char in key) or "\\" in key:
        raise StorageMisconfigured(f"unsafe storage key {shown}: control character or backslash")
    if PurePosixPath(key).is_absolute() or PureWindowsPath(key).drive:
        raise StorageMisconfigured(f"unsafe storage key {shown}: absolute path")
    # A dot prefix also reserves every hidden name for the providers' own files (sidecars, temp files).
    if any(part == "" or part.startswith(".") for part in key.split("/")):
        raise StorageMisconfigured(f"unsafe storage key {shown}: empty, '..' or dot-prefixed component")
    if len(key.encode("utf-8", "surrogatepass")) > 1024:
        raise StorageMisconfigured(f"unsafe storage key {shown}: longer than 1024 bytes")
    return key


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
                raise StorageIntegrityError(f"the stream ended after {self.count + got} bytes; "
                                            f"{self.size} were promised")
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
            buffer[filled:filled + len(chunk)] = chunk
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
