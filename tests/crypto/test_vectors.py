"""Known-answer vectors: the format in tests/crypto/vectors/v1.json must never drift silently."""

from __future__ import annotations

import hashlib
import io
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.storage.crypto import HEADER_SIZE, TAG_SIZE, PayloadEncryptor, decrypt_chunks, decrypt_payload
from portal.storage.keys import Envelope, KeyRing, load_private_key, load_public_key, unwrap_data_key
from tests.support.stream_keys import derive_segment_keys

VECTORS = json.loads((Path(__file__).parent / "vectors" / "v1.json").read_text())["vectors"]


def counter_plaintext(size: int) -> bytes:
    blocks = (hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(-(-size // 32)))
    return b"".join(blocks)[:size]


def plaintext_of(vector: dict) -> bytes:
    if "plaintext" in vector:
        return bytes.fromhex(vector["plaintext"])
    return counter_plaintext(vector["plaintext_sha256_counter"])


def reference_encrypt(plaintext: bytes, vector: dict) -> bytes:
    """The format built from the documentation with bare AES-GCM, independent of crypto.py."""
    segment_size, object_id = vector["segment_size"], bytes.fromhex(vector["object_id"])
    prefix = b"DPSE" + struct.pack(">BBI", 1, 1, segment_size) + object_id
    payload_key, nonce_prefix, commitment = derive_segment_keys(bytes.fromhex(vector["data_key"]), prefix, object_id)
    header = prefix + commitment
    aead = AESGCM(payload_key)
    pieces = [plaintext[i : i + segment_size] for i in range(0, len(plaintext), segment_size)] or [b""]
    out = [header]
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        out.append(aead.encrypt(nonce_prefix + struct.pack(">IB", index, last), piece, header))
    return b"".join(out)


@pytest.fixture(params=VECTORS, ids=[v["name"] for v in VECTORS])
def vector(request, tmp_path):
    key_file = tmp_path / "vector.key.pem"
    key_file.write_text(request.param["private_key_pem"])
    public_file = tmp_path / "vector.pub.pem"
    public_file.write_text(request.param["public_key_pem"])
    return dict(request.param, key_file=key_file, public_file=public_file)


def test_stored_envelope_opens_to_the_stored_data_key(vector):
    ring = KeyRing.from_files([vector["key_file"]])
    envelope = Envelope.from_text(vector["envelope"])
    assert envelope.to_text() == vector["envelope"]
    assert envelope.key_id == vector["key_id"] == load_public_key(vector["public_file"]).key_id
    assert load_private_key(vector["key_file"]).key_id == vector["key_id"]
    assert envelope.object_id.hex() == vector["object_id"]
    assert unwrap_data_key(envelope, ring).hex() == vector["data_key"]


def test_derived_values_match_the_documented_derivation(vector):
    header = bytes.fromhex(vector["header"])
    assert len(header) == HEADER_SIZE
    assert header[:4] == b"DPSE" and header[4:6] == b"\x01\x01"
    assert int.from_bytes(header[6:10], "big") == vector["segment_size"]
    assert header[10:42].hex() == vector["object_id"]
    payload_key, nonce_prefix, commitment = derive_segment_keys(
        bytes.fromhex(vector["data_key"]), header[:42], bytes.fromhex(vector["object_id"])
    )
    assert (payload_key.hex(), nonce_prefix.hex(), commitment.hex()) == (
        vector["payload_key"],
        vector["nonce_prefix"],
        vector["commitment"],
    )
    assert header[42:] == commitment


def test_deterministic_reencryption_gives_the_exact_stored_ciphertext(vector):
    plaintext = plaintext_of(vector)
    data_key, object_id = bytes.fromhex(vector["data_key"]), bytes.fromhex(vector["object_id"])
    ours = PayloadEncryptor(io.BytesIO(plaintext), data_key, object_id, segment_size=vector["segment_size"]).read()
    assert len(ours) == vector["ciphertext_size"]
    assert hashlib.sha256(ours).hexdigest() == vector["ciphertext_sha256"]
    assert ours == reference_encrypt(plaintext, vector)
    if "ciphertext" in vector:
        assert ours.hex() == vector["ciphertext"]
    assert b"".join(decrypt_payload([ours], data_key, object_id)) == plaintext


def test_stored_ciphertext_decrypts_with_the_stored_private_key(vector):
    plaintext = plaintext_of(vector)
    ciphertext = bytes.fromhex(vector["ciphertext"]) if "ciphertext" in vector else reference_encrypt(plaintext, vector)
    ring = KeyRing.from_files([vector["key_file"]])
    out = b"".join(decrypt_chunks([ciphertext], Envelope.from_text(vector["envelope"]), ring))
    assert out == plaintext
    assert len(ciphertext) == len(plaintext) + HEADER_SIZE + TAG_SIZE * max(
        1, -(-len(plaintext) // vector["segment_size"])
    )
