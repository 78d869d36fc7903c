"""Every change to a ciphertext or envelope fails with DecryptionError; never silently wrong bytes."""

from __future__ import annotations

import io
import os
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.storage.crypto import (
    HEADER_SIZE,
    MAGIC,
    TAG_SIZE,
    DecryptionError,
    EncryptingReader,
    PayloadEncryptor,
    decrypt_chunks,
    decrypt_range,
    plaintext_size,
)
from portal.storage.keys import Envelope, KeyRing, MissingPrivateKey, generate_keypair, wrap_data_key
from tests.support.stream_keys import derive_segment_keys

PAIR = generate_keypair()
OTHER = generate_keypair()
RING = KeyRing([PAIR.private])
SEG = 16
PLAINTEXT = bytes(range(40))  # three segments: 16, 16, 8
STRIDE = SEG + TAG_SIZE


def encrypt(plaintext: bytes = PLAINTEXT):
    reader = EncryptingReader(io.BytesIO(plaintext), PAIR.public, segment_size=SEG)
    return reader.read(), reader.envelope


CIPHERTEXT, ENVELOPE = encrypt()


def decrypt(ciphertext: bytes, envelope: Envelope = ENVELOPE, ring: KeyRing = RING) -> bytes:
    return b"".join(decrypt_chunks([ciphertext], envelope, ring))


def segments(ciphertext: bytes) -> list[bytes]:
    body = ciphertext[HEADER_SIZE:]
    return [body[i : i + STRIDE] for i in range(0, len(body), STRIDE)]


def test_untouched_ciphertext_decrypts():
    assert decrypt(CIPHERTEXT) == PLAINTEXT


@pytest.mark.parametrize("position", range(len(CIPHERTEXT)))
def test_flipping_any_byte_fails(position):
    tampered = bytearray(CIPHERTEXT)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptionError):
        decrypt(bytes(tampered))


@settings(max_examples=80, deadline=None, database=None)
@given(position=st.integers(0, len(CIPHERTEXT) - 1), mask=st.integers(1, 255))
def test_any_change_of_any_byte_fails(position, mask):
    tampered = bytearray(CIPHERTEXT)
    tampered[position] ^= mask
    with pytest.raises(DecryptionError):
        decrypt(bytes(tampered))


@pytest.mark.parametrize("length", range(len(CIPHERTEXT)))
def test_truncating_anywhere_fails(length):
    with pytest.raises(DecryptionError):
        decrypt(CIPHERTEXT[:length])


@pytest.mark.parametrize("extra", [b"\x00", bytes(TAG_SIZE), os.urandom(STRIDE)])
def test_appending_anything_fails(extra):
    with pytest.raises(DecryptionError):
        decrypt(CIPHERTEXT + extra)


@pytest.mark.parametrize(
    "order",
    [[1, 0, 2], [0, 2], [0, 1], [0, 0, 1, 2], [0, 1, 1, 2], [0, 1, 2, 2], [2, 0, 1], [2]],
    ids=["swap", "drop-middle", "drop-last", "repeat-first", "repeat-middle", "repeat-last", "rotate", "last-only"],
)
def test_reordering_dropping_or_repeating_segments_fails(order):
    parts = segments(CIPHERTEXT)
    tampered = CIPHERTEXT[:HEADER_SIZE] + b"".join(parts[i] for i in order)
    with pytest.raises(DecryptionError):
        decrypt(tampered)


def test_segments_of_another_object_fail():
    other, _ = encrypt()
    tampered = CIPHERTEXT[:HEADER_SIZE] + segments(CIPHERTEXT)[0] + segments(other)[1] + segments(CIPHERTEXT)[2]
    with pytest.raises(DecryptionError, match="segment 1"):
        decrypt(tampered)


def test_nothing_of_a_bad_segment_is_released():
    tampered = bytearray(CIPHERTEXT)
    tampered[HEADER_SIZE + 2 * STRIDE] ^= 0x01  # first byte of the last segment
    released = bytearray()
    with pytest.raises(DecryptionError, match="final segment 2"):
        for piece in decrypt_chunks([bytes(tampered)], ENVELOPE, RING):
            released += piece
    assert released == PLAINTEXT[: 2 * SEG]


def _with_header(**fields) -> bytes:
    magic, version, suite, segment_size, object_id = struct.unpack_from(">4sBBI32s", CIPHERTEXT)
    values = dict(magic=magic, version=version, suite=suite, segment_size=segment_size, object_id=object_id)
    values.update(fields)
    prefix = struct.pack(">4sBBI32s", *values.values())
    return prefix + CIPHERTEXT[len(prefix) :]


@pytest.mark.parametrize(
    "fields,message",
    [
        (dict(magic=b"PK\x03\x04"), "bad magic"),
        (dict(version=2), "unsupported encryption format version"),
        (dict(suite=7), "unsupported encryption format version"),
        (dict(segment_size=8), "impossible segment size"),
        (dict(segment_size=17), "key commitment"),
        (dict(segment_size=SEG * 2), "key commitment"),
        (dict(object_id=os.urandom(32)), "object id does not match"),
    ],
)
def test_header_changes_fail_with_a_clear_message(fields, message):
    with pytest.raises(DecryptionError, match=message):
        decrypt(_with_header(**fields))


def test_header_check_happens_before_streaming_starts():
    tampered = _with_header(segment_size=17)
    with pytest.raises(DecryptionError, match="key commitment"):
        decrypt_chunks(iter([tampered]), ENVELOPE, RING)  # no iteration needed


def test_plaintext_file_is_not_mistaken_for_ciphertext():
    with pytest.raises(DecryptionError, match="bad magic"):
        decrypt(b"%PDF-1.7 " + bytes(200))
    with pytest.raises(DecryptionError, match="truncated inside its header"):
        decrypt(b"")


def test_missing_private_key_is_a_configuration_error():
    with pytest.raises(MissingPrivateKey, match="no private key for key id x25519-"):
        decrypt(CIPHERTEXT, ring=KeyRing([OTHER.private]))


def test_envelope_naming_another_key_fails():
    both = KeyRing([PAIR.private, OTHER.private])
    lying = Envelope(ENVELOPE.suite, OTHER.public.key_id, ENVELOPE.object_id, ENVELOPE.wrapped_key)
    with pytest.raises(DecryptionError, match="does not open"):
        decrypt(CIPHERTEXT, lying, both)


def test_envelope_of_another_object_fails():
    _, other_envelope = encrypt()
    with pytest.raises(DecryptionError, match="object id does not match"):
        decrypt(CIPHERTEXT, other_envelope)
    # moving the other object's wrapped key over under this object's id breaks the HPKE binding
    spliced = Envelope(ENVELOPE.suite, ENVELOPE.key_id, ENVELOPE.object_id, other_envelope.wrapped_key)
    with pytest.raises(DecryptionError, match="does not open"):
        decrypt(CIPHERTEXT, spliced)


@pytest.mark.parametrize("position", range(0, 80, 3))
def test_flipping_the_wrapped_key_fails(position):
    wrapped = bytearray(ENVELOPE.wrapped_key)
    wrapped[position] ^= 0x04
    envelope = Envelope(ENVELOPE.suite, ENVELOPE.key_id, ENVELOPE.object_id, bytes(wrapped))
    with pytest.raises(DecryptionError):
        decrypt(CIPHERTEXT, Envelope.from_text(envelope.to_text()))


def test_a_different_data_key_fails_on_the_commitment():
    data_key, other_key = os.urandom(32), os.urandom(32)
    ciphertext = PayloadEncryptor(io.BytesIO(PLAINTEXT), data_key, ENVELOPE.object_id, segment_size=SEG).read()
    assert decrypt(ciphertext, wrap_data_key(data_key, PAIR.public, ENVELOPE.object_id)) == PLAINTEXT
    with pytest.raises(DecryptionError, match="key commitment mismatch"):
        decrypt(ciphertext, wrap_data_key(other_key, PAIR.public, ENVELOPE.object_id))


# --- AES-GCM is not key-committing: build one segment that opens under two keys -------------------

_R = 0xE1 << 120


def _gf_mul(x: int, y: int) -> int:
    """Multiplication in GCM's GF(2^128) (NIST SP 800-38D, algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _gf_inv(x: int) -> int:
    result, power, exponent = 1 << 127, x, 2**128 - 2  # 1 << 127 is the field's one
    while exponent:
        if exponent & 1:
            result = _gf_mul(result, power)
        power = _gf_mul(power, power)
        exponent >>= 1
    return result


def _aes(key: bytes, block: bytes) -> int:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return int.from_bytes(encryptor.update(block) + encryptor.finalize(), "big")


def _ghash(h: int, blocks: list[int]) -> int:
    acc = 0
    for block in blocks:
        acc = _gf_mul(acc ^ block, h)
    return acc


def _blocks(data: bytes) -> list[int]:
    data += bytes(-len(data) % 16)
    return [int.from_bytes(data[i : i + 16], "big") for i in range(0, len(data), 16)]


def test_a_segment_valid_under_two_keys_is_stopped_by_the_commitment():
    object_id, key_1, key_2 = os.urandom(32), os.urandom(32), os.urandom(32)
    prefix = struct.pack(">4sBBI32s", MAGIC, 1, 1, 32, object_id)
    payload_1, nonce_prefix_1, commitment_1 = derive_segment_keys(key_1, prefix, object_id)
    payload_2, nonce_prefix_2, _ = derive_segment_keys(key_2, prefix, object_id)
    header = prefix + commitment_1
    nonces = [p + bytes(4) + b"\x01" for p in (nonce_prefix_1, nonce_prefix_2)]  # segment 0, last
    hs = [_aes(k, bytes(16)) for k in (payload_1, payload_2)]
    masks = [_aes(k, n + b"\x00\x00\x00\x01") for k, n in zip((payload_1, payload_2), nonces, strict=True)]
    first_block = int.from_bytes(os.urandom(16), "big")
    lengths = (len(header) * 8) << 64 | 32 * 8
    # GHASH is linear in the free second block X, whose weight is H^2: solve tag_1(X) == tag_2(X).
    base = [_ghash(h, _blocks(header) + [first_block, 0, lengths]) for h in hs]
    rhs = base[0] ^ masks[0] ^ base[1] ^ masks[1]
    free_block = _gf_mul(rhs, _gf_inv(_gf_mul(hs[0], hs[0]) ^ _gf_mul(hs[1], hs[1])))
    tag = _ghash(hs[0], _blocks(header) + [first_block, free_block, lengths]) ^ masks[0]
    segment = b"".join(x.to_bytes(16, "big") for x in (first_block, free_block, tag))

    # without a commitment this is an "invisible salamander": two keys, two different plaintexts
    plain_1 = AESGCM(payload_1).decrypt(nonces[0], segment, header)
    plain_2 = AESGCM(payload_2).decrypt(nonces[1], segment, header)
    assert plain_1 != plain_2

    ciphertext = header + segment
    assert decrypt(ciphertext, wrap_data_key(key_1, PAIR.public, object_id)) == plain_1
    with pytest.raises(DecryptionError, match="key commitment mismatch"):
        decrypt(ciphertext, wrap_data_key(key_2, PAIR.public, object_id))


# --- range decryption ----------------------------------------------------------------------------


def _range(ciphertext: bytes, first: int, last: int, size: int | None = None) -> bytes:
    def read_range(start, end):
        return [ciphertext[start : end + 1]]

    size = len(ciphertext) if size is None else size
    return b"".join(decrypt_range(read_range, ENVELOPE, RING, first, last, size))


@pytest.mark.parametrize("position", range(HEADER_SIZE, len(CIPHERTEXT)))
def test_range_decrypt_detects_a_flipped_byte(position):
    tampered = bytearray(CIPHERTEXT)
    tampered[position] ^= 0x80
    segment = (position - HEADER_SIZE) // STRIDE
    with pytest.raises(DecryptionError):
        _range(bytes(tampered), segment * SEG, segment * SEG)


@pytest.mark.parametrize("claimed", [len(CIPHERTEXT) - STRIDE, len(CIPHERTEXT) - 1, len(CIPHERTEXT) + 5])
def test_range_decrypt_with_a_wrong_size_fails(claimed):
    # the last flag is authenticated, so a lie about the size fails wherever the final segment is read
    end = plaintext_size(claimed, SEG) - 1
    with pytest.raises(DecryptionError):
        _range(CIPHERTEXT, end - 5, end, claimed)
    # segments before the claimed end are still genuine and in place
    assert _range(CIPHERTEXT, 0, 10, claimed) == PLAINTEXT[:11]


def test_range_decrypt_of_a_truncated_store_fails():
    with pytest.raises(DecryptionError, match="truncated"):
        _range(CIPHERTEXT[:-3], 30, 39, len(CIPHERTEXT))
