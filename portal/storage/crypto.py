"""Streaming envelope encryption: the segmented AES-256-GCM format, its sizes, and range decryption."""

from __future__ import annotations

import hmac
import io
import itertools
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from .keys import (
    DATA_KEY_SIZE,
    OBJECT_ID_SIZE,
    DecryptionError,
    Envelope,
    KeyRing,
    PublicKey,
    unwrap_data_key,
    wrap_data_key,
)

__all__ = [
    "DecryptionError",
    "EncryptingReader",
    "PayloadEncryptor",
    "SEGMENT_SIZE",
    "ciphertext_size",
    "decrypt_chunks",
    "decrypt_payload",
    "decrypt_range",
    "plaintext_size",
]

MAGIC = b"DPSE"
FORMAT_VERSION = 1
SUITE_AES256GCM_HKDF_SHA256 = 1
SEGMENT_SIZE = 64 * 1024
MIN_SEGMENT_SIZE = 16
MAX_SEGMENT_SIZE = 16 * 1024 * 1024
TAG_SIZE = 16
NONCE_PREFIX_SIZE = 7
MAX_SEGMENTS = 2**32
_PREFIX = struct.Struct(">4sBBI32s")  # magic, version, suite, segment size, object id
COMMITMENT_SIZE = 32
HEADER_SIZE = _PREFIX.size + COMMITMENT_SIZE  # 74
_LAST = (b"\x00", b"\x01")
_MAX_READ_BUFFER = 16 * 1024 * 1024


class _SegmentKeys:
    """Payload key, nonce prefix and key commitment derived from a data key and a header prefix."""

    def __init__(self, data_key: bytes, prefix: bytes, object_id: bytes):
        prk = HKDF.extract(hashes.SHA256(), object_id, data_key)
        okm = HKDFExpand(hashes.SHA256(), 32 + NONCE_PREFIX_SIZE, b"document-portal stream v1 payload\x00" + prefix)
        okm = okm.derive(prk)
        commit = HKDFExpand(hashes.SHA256(), COMMITMENT_SIZE, b"document-portal stream v1 commit\x00" + prefix)
        self.commitment = commit.derive(prk)
        self.aead = AESGCM(okm[:32])
        self.nonce_prefix = okm[32:]
        self.header = prefix + self.commitment  # also the AAD of every segment

    def nonce(self, index: int, last: bool) -> bytes:
        return self.nonce_prefix + index.to_bytes(4, "big") + _LAST[last]

    def open(self, index: int, sealed, last: bool) -> bytes:
        """Verify and decrypt one segment; raises DecryptionError before releasing any of it."""
        if index >= MAX_SEGMENTS:
            raise DecryptionError("ciphertext has more segments than the format allows")
        try:
            return self.aead.decrypt(self.nonce(index, last), sealed, self.header)
        except InvalidTag:
            kind = "final segment" if last else "segment"
            raise DecryptionError(
                f"{kind} {index} failed authentication (tampered, truncated, reordered or wrong key)"
            ) from None


def _check_segment_size(segment_size: int) -> None:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes")


def ciphertext_size(plaintext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Bytes of ciphertext for ``plaintext_size`` bytes of plaintext (header, data, one tag per segment)."""
    if plaintext_size < 0:
        raise ValueError("plaintext size cannot be negative")
    segments = max(1, -(-plaintext_size // segment_size))
    return HEADER_SIZE + plaintext_size + segments * TAG_SIZE


def plaintext_size(ciphertext_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Bytes of plaintext inside ``ciphertext_size`` bytes; raises DecryptionError for an impossible size."""
    body = ciphertext_size - HEADER_SIZE
    stride = segment_size + TAG_SIZE
    full, rest = divmod(body, stride)
    if body < TAG_SIZE or (rest and (rest < TAG_SIZE or (full and rest == TAG_SIZE))):
        raise DecryptionError(f"{ciphertext_size} bytes is not a possible ciphertext size (truncated?)")
    segments = full + (1 if rest else 0)
    return body - segments * TAG_SIZE


class PayloadEncryptor(io.RawIOBase):
    """Read-only file object yielding the ciphertext of ``fileobj`` under a given data key and object id.

    Holds two plaintext segments plus one reused buffer of the largest read() size; needs no seek.
    """

    def __init__(self, fileobj: BinaryIO, data_key: bytes, object_id: bytes, *, segment_size: int = SEGMENT_SIZE):
        super().__init__()
        _check_segment_size(segment_size)
        if len(data_key) != DATA_KEY_SIZE or len(object_id) != OBJECT_ID_SIZE:
            raise ValueError(f"data key and object id must be {DATA_KEY_SIZE} and {OBJECT_ID_SIZE} bytes")
        prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, SUITE_AES256GCM_HKDF_SHA256, segment_size, object_id)
        self._keys = _SegmentKeys(data_key, prefix, object_id)
        self._source = fileobj
        self._segment_size = segment_size
        self._spill = memoryview(self._keys.header)  # ciphertext sealed but not yet returned
        self._index = 0
        self._lookahead: bytes | None = None
        self._finished = False
        self._out = bytearray()
        #: plaintext bytes consumed so far; the object's size once read() has returned b""
        self.plaintext_size = 0

    def readable(self) -> bool:
        return True

    def _read_segment(self) -> bytes:
        size = self._segment_size
        data = self._source.read(size)
        if len(data) == size or not data:
            return data
        parts, have = [data], len(data)
        while have < size:  # a short read is not the end of the stream
            more = self._source.read(size - have)
            if not more:
                break
            parts.append(more)
            have += len(more)
        return b"".join(parts)

    def _next_plain(self) -> tuple[bytes, bytes]:
        current = self._lookahead if self._lookahead is not None else self._read_segment()
        # A full segment may still be the last one: look one segment ahead to set the flag right.
        self._lookahead = self._read_segment() if len(current) == self._segment_size else b""
        last = not self._lookahead
        if self._index >= MAX_SEGMENTS:
            raise ValueError("plaintext is too large for this segment size")
        nonce = self._keys.nonce(self._index, last)
        self._index += 1
        self.plaintext_size += len(current)
        self._finished = last
        return current, nonce

    def _fill(self, out: memoryview) -> int:
        """Write up to len(out) bytes of ciphertext into ``out``; return how many (0 at the end)."""
        size, pos = len(out), 0
        if self._spill:
            pos = min(size, len(self._spill))
            out[:pos] = self._spill[:pos]
            self._spill = self._spill[pos:]
        aead, aad = self._keys.aead, self._keys.header
        while pos < size and not self._finished:
            plain, nonce = self._next_plain()
            end = pos + len(plain) + TAG_SIZE
            if end <= size:  # seal straight into the caller's buffer: no extra copy
                aead.encrypt_into(nonce, plain, aad, out[pos:end])
                pos = end
            else:
                sealed = memoryview(aead.encrypt(nonce, plain, aad))
                out[pos:] = sealed[: size - pos]
                self._spill = sealed[size - pos :]
                pos = size
        return pos

    def read(self, size: int | None = -1) -> bytes:
        """Exactly ``size`` bytes of ciphertext, fewer only at the end (all the rest when negative); b"" at the end."""
        if self.closed:
            raise ValueError("read from a closed EncryptingReader")
        if size is None or size < 0:
            return self.readall()
        if size > _MAX_READ_BUFFER:  # a huge size may be a hint, not the object's size: allocate as it comes
            parts = []
            while size and (part := self.read(min(size, _MAX_READ_BUFFER))):
                parts.append(part)
                size -= len(part)
            return b"".join(parts)
        if len(self._out) < size:
            self._out = bytearray(size)
        with memoryview(self._out) as view:
            count = self._fill(view[:size])
            data = bytes(view[:count])
        if not count:
            self._out = bytearray()
        return data

    def readinto(self, buffer) -> int:
        """Fill ``buffer`` with ciphertext; return the count (0 at the end)."""
        if self.closed:
            raise ValueError("read from a closed EncryptingReader")
        with memoryview(buffer) as view, view.cast("B") as flat:
            return self._fill(flat)

    def readall(self) -> bytes:
        """Every remaining byte of ciphertext."""
        chunks = []
        while chunk := self.read(1024 * 1024):
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._out = bytearray()
        super().close()


class EncryptingReader(PayloadEncryptor):
    """Ciphertext of ``fileobj`` for ``public_key``; ``.envelope`` is ready at once, before any read()."""

    def __init__(self, fileobj: BinaryIO, public_key: PublicKey, *, segment_size: int = SEGMENT_SIZE):
        data_key, object_id = os.urandom(DATA_KEY_SIZE), os.urandom(OBJECT_ID_SIZE)
        #: the wrapped data key to store beside the ciphertext (row, object metadata)
        self.envelope: Envelope = wrap_data_key(data_key, public_key, object_id)
        super().__init__(fileobj, data_key, object_id, segment_size=segment_size)


def _open_header(header: bytes, data_key: bytes, object_id: bytes | None) -> tuple[_SegmentKeys, int]:
    """Check a stream header against the data key; returns the segment keys and the segment size."""
    if len(header) < HEADER_SIZE:
        raise DecryptionError("ciphertext truncated inside its header")
    magic, version, suite, segment_size, header_object_id = _PREFIX.unpack_from(header)
    if magic != MAGIC:
        raise DecryptionError("not an encrypted portal object (bad magic in header)")
    if version != FORMAT_VERSION or suite != SUITE_AES256GCM_HKDF_SHA256:
        raise DecryptionError(f"unsupported encryption format version {version} suite {suite} in header")
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise DecryptionError(f"impossible segment size {segment_size} in header")
    if object_id is not None and not hmac.compare_digest(header_object_id, object_id):
        raise DecryptionError("header object id does not match the envelope (another object's envelope?)")
    keys = _SegmentKeys(data_key, header[: _PREFIX.size], header_object_id)
    if not hmac.compare_digest(keys.commitment, header[_PREFIX.size : HEADER_SIZE]):
        raise DecryptionError("key commitment mismatch: the data key does not belong to this ciphertext header")
    return keys, segment_size


def _take_header(chunks: Iterator[bytes], buffer: bytearray) -> bytes:
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= HEADER_SIZE:
            break
    header = bytes(buffer[:HEADER_SIZE])
    del buffer[:HEADER_SIZE]
    return header


def _stream_segments(chunks: Iterator[bytes], buffer: bytearray, keys: _SegmentKeys, stride: int) -> Iterator[bytes]:
    index = 0
    for chunk in itertools.chain((b"",), chunks):  # the header's chunk may already hold segments
        buffer += chunk
        # Keep one byte past a segment before opening it: only the end of the stream marks the last one.
        count = (len(buffer) - 1) // stride
        if count <= 0:
            continue
        with memoryview(buffer) as view:
            for n in range(count):
                plain = keys.open(index, view[n * stride : (n + 1) * stride], last=False)
                index += 1
                if plain:
                    yield plain
        del buffer[: count * stride]
    if len(buffer) < TAG_SIZE or (index and len(buffer) == TAG_SIZE):
        raise DecryptionError(f"ciphertext truncated: final segment {index} is missing or incomplete")
    plain = keys.open(index, bytes(buffer), last=True)
    if plain:
        yield plain


def decrypt_payload(chunks: Iterable[bytes], data_key: bytes, object_id: bytes | None = None) -> Iterator[bytes]:
    """Plaintext of a ciphertext stream under a known data key; the header is checked before returning.

    Raises DecryptionError (now for the header, while iterating for segments); never yields unverified bytes.
    """
    chunks = iter(chunks)
    buffer = bytearray()
    keys, segment_size = _open_header(_take_header(chunks, buffer), data_key, object_id)
    return _stream_segments(chunks, buffer, keys, segment_size + TAG_SIZE)


def decrypt_chunks(chunks: Iterable[bytes], envelope: Envelope, keyring: KeyRing) -> Iterator[bytes]:
    """Plaintext of a whole stored object, as a store yields it in chunks of any size.

    The data key and header are checked before this returns (MissingPrivateKey, DecryptionError), so a
    response can still turn them into an error page; segment failures raise DecryptionError while iterating.
    """
    return decrypt_payload(chunks, unwrap_data_key(envelope, keyring), envelope.object_id)


def _range_segments(
    chunks: Iterable[bytes], keys: _SegmentKeys, sizes: Iterator[tuple[int, int, bool]]
) -> Iterator[tuple[int, bytes]]:
    buffer = bytearray()
    index, size, last = next(sizes)
    for chunk in chunks:
        buffer += chunk
        while size and len(buffer) >= size:
            yield index, keys.open(index, buffer[:size], last)
            del buffer[:size]
            index, size, last = next(sizes, (index + 1, 0, False))
    if size:
        raise DecryptionError(f"ciphertext truncated: segment {index} is missing or incomplete")
    if buffer:
        raise DecryptionError("store returned more ciphertext than the requested range")


def decrypt_range(
    read_range: Callable[[int, int], Iterable[bytes]],
    envelope: Envelope,
    keyring: KeyRing,
    first: int,
    last: int,
    ciphertext_size: int,
) -> Iterator[bytes]:
    """Exactly ``plaintext[first:last + 1]``, fetching the header and only the segments that cover it.

    ``read_range(start, end)`` yields the stored bytes ``start..end`` inclusive. The key, header and
    range are checked before this returns: ValueError for a range outside the plaintext, otherwise
    MissingPrivateKey or DecryptionError; segment failures raise DecryptionError while iterating.
    """
    data_key = unwrap_data_key(envelope, keyring)
    if ciphertext_size < HEADER_SIZE + TAG_SIZE:
        raise DecryptionError(f"{ciphertext_size} bytes is not a possible ciphertext size (truncated?)")
    keys, segment_size = _open_header(b"".join(read_range(0, HEADER_SIZE - 1)), data_key, envelope.object_id)
    total = plaintext_size(ciphertext_size, segment_size)
    if not 0 <= first <= last < total:
        raise ValueError(f"byte range {first}-{last} is outside the plaintext of {total} bytes")
    stride = segment_size + TAG_SIZE
    count = max(1, -(-total // segment_size))
    first_segment, last_segment = first // segment_size, last // segment_size

    def sizes() -> Iterator[tuple[int, int, bool]]:
        for index in range(first_segment, last_segment + 1):
            final = index == count - 1
            yield index, (ciphertext_size - HEADER_SIZE - index * stride) if final else stride, final

    start = HEADER_SIZE + first_segment * stride
    end = min(HEADER_SIZE + (last_segment + 1) * stride, ciphertext_size) - 1

    def generate() -> Iterator[bytes]:
        for index, plain in _range_segments(read_range(start, end), keys, sizes()):
            lo = first - index * segment_size if index == first_segment else 0
            hi = last - index * segment_size + 1 if index == last_segment else len(plain)
            yield plain[lo:hi] if (lo, hi) != (0, len(plain)) else plain

    return generate()
