"""Write v1.json, the known-answer vectors of the stream format; run once, the output is then frozen.

Usage: .venv/bin/python tests/crypto/vectors/make_vectors.py [--force]
Regenerating changes every key and envelope, so only do it for a new format version.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand  # noqa: E402

from portal.storage.crypto import _PREFIX, HEADER_SIZE, PayloadEncryptor, _SegmentKeys  # noqa: E402
from portal.storage.keys import generate_keypair, wrap_data_key  # noqa: E402

OUT = Path(__file__).with_name("v1.json")


def counter_plaintext(size: int) -> bytes:
    """The 'sha256-counter' plaintext: SHA-256 of 0, 1, 2, ... (4-byte big-endian), cut to size."""
    blocks = (hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(-(-size // 32)))
    return b"".join(blocks)[:size]


def payload_key(data_key: bytes, prefix: bytes, object_id: bytes) -> bytes:
    """The AES-256-GCM key of the segments (kept out of _SegmentKeys, which holds only the AESGCM object)."""
    prk = HKDF.extract(hashes.SHA256(), object_id, data_key)
    return HKDFExpand(hashes.SHA256(), 39, b"document-portal stream v1 payload\x00" + prefix).derive(prk)[:32]


def vector(name: str, pq: bool, segment_size: int, plaintext: bytes, full: bool) -> dict:
    pair = generate_keypair(pq=pq)
    data_key, object_id = os.urandom(32), os.urandom(32)
    envelope = wrap_data_key(data_key, pair.public, object_id)
    ciphertext = PayloadEncryptor(io.BytesIO(plaintext), data_key, object_id, segment_size=segment_size).read()
    keys = _SegmentKeys(data_key, ciphertext[: _PREFIX.size], object_id)
    entry = {
        "name": name,
        "segment_size": segment_size,
        "private_key_pem": pair.private.to_pem().decode(),
        "public_key_pem": pair.public.to_pem().decode(),
        "key_id": pair.public.key_id,
        "envelope": envelope.to_text(),
        "data_key": data_key.hex(),
        "object_id": object_id.hex(),
        "payload_key": payload_key(data_key, ciphertext[: _PREFIX.size], object_id).hex(),
        "nonce_prefix": keys.nonce_prefix.hex(),
        "commitment": keys.commitment.hex(),
        "header": ciphertext[:HEADER_SIZE].hex(),
        "ciphertext_size": len(ciphertext),
        "ciphertext_sha256": hashlib.sha256(ciphertext).hexdigest(),
    }
    if full:
        entry.update(plaintext=plaintext.hex(), ciphertext=ciphertext.hex())
    else:
        entry.update(plaintext_sha256_counter=len(plaintext))
    return entry


def main() -> int:
    if OUT.exists() and "--force" not in sys.argv:
        print(f"{OUT} exists; the vectors are frozen (pass --force only for a new format version)")
        return 1
    text = b"Document Portal known-answer vector; segments of 32 bytes.\n"
    vectors = [
        vector("x25519-three-segments", False, 32, text, True),
        vector("x25519-empty", False, 32, b"", True),
        vector("mlkem768x25519-two-full-segments", True, 32, counter_plaintext(64), True),
        vector("x25519-64k-segments", False, 65536, counter_plaintext(3 * 65536 + 1000), False),
    ]
    document = {"format": "document-portal stream v1, envelope dpe1", "vectors": vectors}
    OUT.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
