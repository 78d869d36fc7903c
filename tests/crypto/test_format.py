"""Round trips, sizes, reader semantics and range decryption of the streaming format."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.storage import crypto
from portal.storage.crypto import (
    HEADER_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    DecryptionError,
    EncryptingReader,
    ciphertext_size,
    decrypt_chunks,
    decrypt_range,
    plaintext_size,
)
from portal.storage.keys import KeyRing, generate_keypair

PAIR = generate_keypair()
RING = KeyRing([PAIR.private])
SMALL = 16  # segment size for the property tests: many segments from few bytes
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def encrypt(plaintext: bytes, segment_size: int = SMALL, read_size: int = -1):
    """(ciphertext, envelope) of ``plaintext`` read through EncryptingReader in ``read_size`` pieces."""
    reader = EncryptingReader(io.BytesIO(plaintext), PAIR.public, segment_size=segment_size)
    if read_size < 0:
        return reader.read(), reader.envelope
    pieces = []
    while piece := reader.read(read_size):
        pieces.append(piece)
    return b"".join(pieces), reader.envelope


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` cut into pieces of the given sizes (cycled), as a store would yield it."""
    pieces, pos, i = [], 0, 0
    while pos < len(data):
        step = sizes[i % len(sizes)] if sizes else len(data)
        pieces.append(data[pos : pos + step])
        pos += step
        i += 1
    return pieces


def boundary_sizes(segment: int) -> list[int]:
    return [0, 1, segment - 1, segment, segment + 1, 2 * segment, 3 * segment - 1, 5 * segment + 7]


@pytest.mark.parametrize("size", boundary_sizes(SMALL) + boundary_sizes(17))
def test_round_trip_around_segment_boundaries(size):
    plaintext = os.urandom(size)
    for segment_size in (SMALL, 17):
        ciphertext, envelope = encrypt(plaintext, segment_size)
        assert len(ciphertext) == ciphertext_size(size, segment_size)
        assert plaintext_size(len(ciphertext), segment_size) == size
        assert b"".join(decrypt_chunks([ciphertext], envelope, RING)) == plaintext


@pytest.mark.parametrize("size", boundary_sizes(SEGMENT_SIZE))
def test_round_trip_with_real_64k_segments(size):
    plaintext = os.urandom(size)
    ciphertext, envelope = encrypt(plaintext, SEGMENT_SIZE, read_size=100_000)
    assert len(ciphertext) == ciphertext_size(size)
    assert plaintext_size(len(ciphertext)) == size
    assert b"".join(decrypt_chunks(split(ciphertext, [65_000, 3, 70_000]), envelope, RING)) == plaintext


def test_empty_plaintext_is_one_final_empty_segment():
    ciphertext, envelope = encrypt(b"")
    assert len(ciphertext) == HEADER_SIZE + TAG_SIZE
    assert list(decrypt_chunks([ciphertext], envelope, RING)) == []


@FAST
@given(
    plaintext=st.binary(max_size=8 * SMALL + 3),
    segment_size=st.sampled_from([SMALL, 17, 64]),
    read_size=st.integers(min_value=1, max_value=200),
    chunk_sizes=st.lists(st.integers(min_value=1, max_value=150), max_size=5),
)
def test_round_trip_any_read_and_chunk_sizes(plaintext, segment_size, read_size, chunk_sizes):
    ciphertext, envelope = encrypt(plaintext, segment_size, read_size)
    assert len(ciphertext) == ciphertext_size(len(plaintext), segment_size)
    chunks = split(ciphertext, chunk_sizes)
    assert b"".join(decrypt_chunks(chunks, envelope, RING)) == plaintext


@FAST
@given(data=st.data(), plaintext=st.binary(min_size=1, max_size=10 * SMALL))
def test_range_decrypt_yields_exactly_the_range(data, plaintext):
    ciphertext, envelope = encrypt(plaintext)
    first = data.draw(st.integers(0, len(plaintext) - 1))
    last = data.draw(st.integers(first, len(plaintext) - 1))
    fetched = []

    def read_range(start, end):
        fetched.append((start, end))
        return split(ciphertext[start : end + 1], [7])

    out = b"".join(decrypt_range(read_range, envelope, RING, first, last, len(ciphertext)))
    assert out == plaintext[first : last + 1]
    # the header, then only the segments covering [first, last]
    stride = SMALL + TAG_SIZE
    assert fetched[0] == (0, HEADER_SIZE - 1)
    start, end = fetched[1]
    assert start == HEADER_SIZE + (first // SMALL) * stride
    assert end == min(HEADER_SIZE + (last // SMALL + 1) * stride, len(ciphertext)) - 1


def test_range_of_a_large_object_fetches_two_segments():
    plaintext = os.urandom(5 * SEGMENT_SIZE + 123)
    ciphertext, envelope = encrypt(plaintext, SEGMENT_SIZE)
    fetched = []

    def read_range(start, end):
        fetched.append(end - start + 1)
        yield ciphertext[start : end + 1]

    first, last = 2 * SEGMENT_SIZE + 10, 3 * SEGMENT_SIZE + 5
    out = b"".join(decrypt_range(read_range, envelope, RING, first, last, len(ciphertext)))
    assert out == plaintext[first : last + 1]
    assert fetched == [HEADER_SIZE, 2 * (SEGMENT_SIZE + TAG_SIZE)]
    tail = b"".join(decrypt_range(read_range, envelope, RING, len(plaintext) - 1, len(plaintext) - 1, len(ciphertext)))
    assert tail == plaintext[-1:]


@pytest.mark.parametrize("first,last", [(-1, 3), (5, 4), (0, 40), (40, 40)])
def test_range_outside_the_plaintext_is_refused(first, last):
    ciphertext, envelope = encrypt(os.urandom(40))
    with pytest.raises(ValueError, match="outside the plaintext"):
        decrypt_range(lambda s, e: [ciphertext[s : e + 1]], envelope, RING, first, last, len(ciphertext))


def test_reader_returns_exactly_what_is_asked_until_the_end():
    # S3 multipart needs every part but the last at full size, so read(n) must not come back short.
    plaintext = os.urandom(10 * SMALL + 5)
    reader = EncryptingReader(io.BytesIO(plaintext), PAIR.public, segment_size=SMALL)
    total = ciphertext_size(len(plaintext), SMALL)
    sizes = []
    while piece := reader.read(50):
        sizes.append(len(piece))
    assert sizes == [50] * (total // 50) + ([total % 50] if total % 50 else [])
    assert reader.read(50) == b"" and reader.plaintext_size == len(plaintext)


class Trickle(io.RawIOBase):
    """A source that answers every read with at most 3 bytes, like a slow socket."""

    def __init__(self, data: bytes):
        self.data = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self.data.read(min(n, 3) if n >= 0 else 3)


def test_short_reads_from_the_source_are_not_the_end():
    plaintext = os.urandom(4 * SMALL)
    reader = EncryptingReader(Trickle(plaintext), PAIR.public, segment_size=SMALL)
    ciphertext = reader.read()
    assert len(ciphertext) == ciphertext_size(len(plaintext), SMALL)
    assert b"".join(decrypt_chunks([ciphertext], reader.envelope, RING)) == plaintext


def test_envelope_is_ready_before_any_read_and_readinto_works():
    plaintext = os.urandom(3 * SMALL)
    reader = EncryptingReader(io.BytesIO(plaintext), PAIR.public, segment_size=SMALL)
    envelope = reader.envelope
    assert reader.readable() and not reader.seekable()
    buffer, out = bytearray(33), bytearray()
    while count := reader.readinto(buffer):
        out += buffer[:count]
    assert b"".join(decrypt_chunks([bytes(out)], envelope, RING)) == plaintext
    reader.close()
    with pytest.raises(ValueError):
        reader.read(1)


def test_each_object_gets_its_own_data_key_and_object_id():
    (c1, e1), (c2, e2) = encrypt(b"same"), encrypt(b"same")
    assert c1 != c2 and e1.object_id != e2.object_id and e1.wrapped_key != e2.wrapped_key


@pytest.mark.parametrize("size", [0, 1, 15, HEADER_SIZE + 15, HEADER_SIZE + SMALL + TAG_SIZE + TAG_SIZE])
def test_impossible_ciphertext_sizes_are_refused(size):
    with pytest.raises(DecryptionError, match="not a possible ciphertext size"):
        plaintext_size(size, SMALL)


@FAST
@given(st.integers(0, 10**12), st.sampled_from([SMALL, 17, SEGMENT_SIZE]))
def test_size_functions_are_inverse(size, segment_size):
    assert plaintext_size(ciphertext_size(size, segment_size), segment_size) == size


def test_memory_stays_bounded_for_a_large_stream():
    # a 32 MiB stream through small reads never holds more than a few segments
    import tracemalloc

    class Zeros(io.RawIOBase):
        def __init__(self, size):
            self.left = size

        def readable(self):
            return True

        def read(self, n=-1):
            n = min(n, self.left)
            self.left -= n
            return bytes(n)

    size = 32 * 1024 * 1024
    reader = EncryptingReader(Zeros(size), PAIR.public)
    envelope = reader.envelope

    def chunks():
        while piece := reader.read(1024 * 1024):
            yield piece

    tracemalloc.start()
    try:
        total = sum(len(p) for p in decrypt_chunks(chunks(), envelope, RING))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 * 1024 * 1024


def test_segment_size_limits():
    with pytest.raises(ValueError):
        EncryptingReader(io.BytesIO(b""), PAIR.public, segment_size=crypto.MIN_SEGMENT_SIZE - 1)
    with pytest.raises(ValueError):
        EncryptingReader(io.BytesIO(b""), PAIR.public, segment_size=crypto.MAX_SEGMENT_SIZE + 1)


def test_a_huge_read_size_is_only_a_hint():
    reader = EncryptingReader(io.BytesIO(b"x" * 100), PAIR.public, segment_size=SMALL)
    assert len(reader.read(10**12)) == ciphertext_size(100, SMALL)
    assert reader.read(10**12) == b""
