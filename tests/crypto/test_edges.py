"""The encrypting reader and range decryption at their edges: exact messages, boundaries, and a source
read no further than its end."""

from __future__ import annotations

import io
import os

import pytest

from portal.storage import crypto
from portal.storage.crypto import (
    HEADER_SIZE,
    TAG_SIZE,
    DecryptionError,
    PayloadEncryptor,
    ciphertext_size,
    decrypt_payload,
    decrypt_range,
)
from portal.storage.keys import DATA_KEY_SIZE, OBJECT_ID_SIZE, KeyRing, generate_keypair, wrap_data_key

PAIR = generate_keypair()
RING = KeyRing([PAIR.private])
KEY, OBJECT_ID = os.urandom(DATA_KEY_SIZE), os.urandom(OBJECT_ID_SIZE)


class EndsOnce:
    """A source that hands out ``data`` in pieces of at most ``step`` and fails if read again after
    saying it has ended (as a terminal or socket may block, or hand out more, after an empty read)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._step, self._ended = data, step, False

    def read(self, amount: int = -1) -> bytes:
        assert not self._ended, "read again after the end"
        piece, self._data = self._data[: min(amount, self._step)], self._data[min(amount, self._step) :]
        self._ended = not piece
        return piece


def sealed(plaintext: bytes, segment_size: int = 16) -> bytes:
    with PayloadEncryptor(io.BytesIO(plaintext), KEY, OBJECT_ID, segment_size=segment_size) as reader:
        return reader.read()


def test_a_negative_plaintext_size_is_refused():
    with pytest.raises(ValueError) as caught:
        ciphertext_size(-1)
    assert str(caught.value) == "plaintext size cannot be negative"


@pytest.mark.parametrize("size", [0, 5, 16, 32, 40])
@pytest.mark.parametrize("step", [1, 7, 100])
def test_the_source_is_not_read_after_its_end(size, step):
    plaintext = os.urandom(size)
    reader = PayloadEncryptor(EndsOnce(plaintext, step), KEY, OBJECT_ID, segment_size=16)
    ciphertext = reader.read()
    assert len(ciphertext) == ciphertext_size(size, 16)
    assert b"".join(decrypt_payload([ciphertext], KEY, OBJECT_ID)) == plaintext
    assert reader.plaintext_size == size
    reader.close()


def test_more_segments_than_the_counter_allows_are_refused(monkeypatch):
    monkeypatch.setattr(crypto, "MAX_SEGMENTS", 2)
    assert len(sealed(os.urandom(32))) == ciphertext_size(32, 16)  # two segments: indexes 0 and 1
    with pytest.raises(ValueError) as caught:
        sealed(os.urandom(33))  # a third segment would reuse a nonce
    assert str(caught.value) == "plaintext is too large for this segment size"


def test_a_closed_reader_refuses_to_read():
    reader = PayloadEncryptor(io.BytesIO(b"abc"), KEY, OBJECT_ID, segment_size=16)
    reader.close()
    for attempt in (lambda: reader.read(4), lambda: reader.readinto(bytearray(4))):
        with pytest.raises(ValueError) as caught:
            attempt()
        assert str(caught.value) == "read from a closed EncryptingReader"


def test_a_zero_byte_read_reads_nothing():
    plaintext = os.urandom(40)
    reader = PayloadEncryptor(io.BytesIO(plaintext), KEY, OBJECT_ID, segment_size=16)
    assert reader.read(0) == b""
    assert reader.plaintext_size == 0
    assert reader.read() == sealed(plaintext)
    reader.close()


def test_a_read_larger_than_the_buffer_limit_is_still_exactly_its_size(monkeypatch):
    monkeypatch.setattr(crypto, "_MAX_READ_BUFFER", 100)
    plaintext = os.urandom(1000)
    whole = sealed(plaintext)
    reader = PayloadEncryptor(io.BytesIO(plaintext), KEY, OBJECT_ID, segment_size=16)
    assert reader.read(250) == whole[:250]
    assert reader.read(250) == whole[250:500]
    assert reader.read(10_000) == whole[500:]
    assert reader.read(250) == b""
    reader.close()


def test_read_all_over_a_megabyte_is_the_same_ciphertext_as_small_reads():
    plaintext = os.urandom(3 * 1024 * 1024 // 2)
    reader = PayloadEncryptor(io.BytesIO(plaintext), KEY, OBJECT_ID)
    pieces = []
    while piece := reader.read(65536):
        pieces.append(piece)
    with PayloadEncryptor(io.BytesIO(plaintext), KEY, OBJECT_ID) as again:
        whole = again.readall()
    reader.close()
    assert whole == b"".join(pieces)
    assert b"".join(decrypt_payload([whole], KEY, OBJECT_ID)) == plaintext


def encrypted(plaintext: bytes, object_id: bytes = OBJECT_ID) -> tuple[bytes, object]:
    """(ciphertext, envelope) under KEY, the envelope naming ``object_id``."""
    return sealed(plaintext), wrap_data_key(KEY, PAIR.public, object_id)


def reader_of(ciphertext: bytes, calls: list | None = None, extra: bytes = b""):
    def read_range(start: int, end: int):
        if calls is not None:
            calls.append((start, end))
        yield ciphertext[start : end + 1] + (extra if start else b"")

    return read_range


def test_an_empty_object_has_no_range_to_read():
    ciphertext, envelope = encrypted(b"")
    assert len(ciphertext) == HEADER_SIZE + TAG_SIZE
    with pytest.raises(ValueError) as caught:
        decrypt_range(reader_of(ciphertext), envelope, RING, 0, 0, len(ciphertext))
    assert str(caught.value) == "byte range 0-0 is outside the plaintext of 0 bytes"


@pytest.mark.parametrize("size", [0, 10, HEADER_SIZE - TAG_SIZE, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1])
def test_a_size_too_small_for_any_ciphertext_fails_before_anything_is_read(size):
    ciphertext, envelope = encrypted(b"abc")
    calls: list = []
    with pytest.raises(DecryptionError) as caught:
        decrypt_range(reader_of(ciphertext, calls), envelope, RING, 0, 0, size)
    assert str(caught.value) == f"{size} bytes is not a possible ciphertext size (truncated?)"
    assert calls == []


def test_a_range_read_with_another_objects_envelope_fails():
    ciphertext, _ = encrypted(b"the plaintext")
    _, other = encrypted(b"", object_id=os.urandom(OBJECT_ID_SIZE))  # the same data key, another object
    with pytest.raises(DecryptionError) as caught:
        decrypt_range(reader_of(ciphertext), other, RING, 0, 3, len(ciphertext))
    assert "header object id does not match the envelope" in str(caught.value)


def test_a_store_that_returns_more_than_the_range_fails():
    ciphertext, envelope = encrypted(os.urandom(40))
    plain = decrypt_range(reader_of(ciphertext, extra=b"junk"), envelope, RING, 0, 39, len(ciphertext))
    with pytest.raises(DecryptionError) as caught:
        b"".join(plain)
    assert str(caught.value) == "store returned more ciphertext than the requested range"


def test_a_segment_past_the_counters_limit_is_refused_on_decryption(monkeypatch):
    ciphertext = sealed(os.urandom(40))  # three segments: indexes 0, 1 and 2
    monkeypatch.setattr(crypto, "MAX_SEGMENTS", 3)
    assert len(b"".join(decrypt_payload([ciphertext], KEY, OBJECT_ID))) == 40
    monkeypatch.setattr(crypto, "MAX_SEGMENTS", 2)
    with pytest.raises(DecryptionError) as caught:
        b"".join(decrypt_payload([ciphertext], KEY, OBJECT_ID))
    assert str(caught.value) == "ciphertext has more segments than the format allows"


def test_segment_sizes_outside_the_format_are_refused():
    PayloadEncryptor(io.BytesIO(b""), KEY, OBJECT_ID, segment_size=crypto.MIN_SEGMENT_SIZE).close()
    PayloadEncryptor(io.BytesIO(b""), KEY, OBJECT_ID, segment_size=crypto.MAX_SEGMENT_SIZE).close()
    for size in (crypto.MIN_SEGMENT_SIZE - 1, crypto.MAX_SEGMENT_SIZE + 1):
        with pytest.raises(ValueError) as caught:
            PayloadEncryptor(io.BytesIO(b""), KEY, OBJECT_ID, segment_size=size)
        assert str(caught.value) == "segment size must be between 16 and 16777216 bytes"


@pytest.mark.parametrize(
    "data_key, object_id",
    [(KEY[:-1], OBJECT_ID), (KEY, OBJECT_ID[:-1]), (KEY + b"x", OBJECT_ID), (KEY, OBJECT_ID + b"x")],
)
def test_a_data_key_or_object_id_of_the_wrong_length_is_refused(data_key, object_id):
    with pytest.raises(ValueError) as caught:
        PayloadEncryptor(io.BytesIO(b""), data_key, object_id)
    assert str(caught.value) == f"data key and object id must be {DATA_KEY_SIZE} and {OBJECT_ID_SIZE} bytes"


@pytest.mark.parametrize("kept", [HEADER_SIZE + 32 + TAG_SIZE, HEADER_SIZE + 32 + TAG_SIZE - 1, HEADER_SIZE + 32 + 1])
def test_a_final_segment_cut_to_its_tag_or_less_is_called_truncated(kept):
    ciphertext = sealed(os.urandom(20))  # a full segment and a final one of 4 bytes
    with pytest.raises(DecryptionError) as caught:
        b"".join(decrypt_payload([ciphertext[:kept]], KEY, OBJECT_ID))
    assert str(caught.value) == "ciphertext truncated: final segment 1 is missing or incomplete"


def test_the_header_is_checked_as_soon_as_its_bytes_are_there():
    ciphertext = sealed(b"secret")

    def store():
        yield ciphertext[:HEADER_SIZE]
        raise AssertionError("read past the header before checking it")

    with pytest.raises(DecryptionError) as caught:
        decrypt_payload(store(), os.urandom(DATA_KEY_SIZE), OBJECT_ID)
    assert "key commitment mismatch" in str(caught.value)


def test_each_header_failure_says_what_it_is():
    ciphertext = sealed(b"secret")
    cases = [
        ([ciphertext[: HEADER_SIZE - 1]], KEY, "ciphertext truncated inside its header"),
        (
            [ciphertext],
            os.urandom(DATA_KEY_SIZE),
            "key commitment mismatch: the data key does not belong to this ciphertext header",
        ),
    ]
    for chunks, key, message in cases:
        with pytest.raises(DecryptionError) as caught:
            decrypt_payload(chunks, key, OBJECT_ID)
        assert str(caught.value) == message
    with pytest.raises(DecryptionError) as caught:
        decrypt_payload([ciphertext], KEY, os.urandom(OBJECT_ID_SIZE))
    assert str(caught.value) == "header object id does not match the envelope (another object's envelope?)"


def test_the_largest_segment_size_is_a_valid_header():
    with PayloadEncryptor(io.BytesIO(b"small"), KEY, OBJECT_ID, segment_size=crypto.MAX_SEGMENT_SIZE) as reader:
        ciphertext = reader.read()
    assert b"".join(decrypt_payload([ciphertext], KEY, OBJECT_ID)) == b"small"


def test_a_failing_segment_is_named_final_only_when_it_is():
    ciphertext = bytearray(sealed(os.urandom(40)))  # segments 0 and 1 of 16 bytes, final segment 2
    first = bytearray(ciphertext)
    first[HEADER_SIZE] ^= 1
    with pytest.raises(DecryptionError) as caught:
        b"".join(decrypt_payload([bytes(first)], KEY, OBJECT_ID))
    assert str(caught.value) == "segment 0 failed authentication (tampered, truncated, reordered or wrong key)"
    ciphertext[-1] ^= 1
    with pytest.raises(DecryptionError) as caught:
        b"".join(decrypt_payload([bytes(ciphertext)], KEY, OBJECT_ID))
    assert str(caught.value) == "final segment 2 failed authentication (tampered, truncated, reordered or wrong key)"


def test_bytes_that_are_not_this_format_are_named_so():
    ciphertext = bytearray(sealed(b"secret"))
    ciphertext[0] ^= 1
    with pytest.raises(DecryptionError) as caught:
        decrypt_payload([bytes(ciphertext)], KEY, OBJECT_ID)
    assert str(caught.value) == "not an encrypted portal object (bad magic in header)"
