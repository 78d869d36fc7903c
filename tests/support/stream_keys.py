"""The stream format's key derivation written out from docs/encryption.md with bare HMAC, independent of
portal/storage/crypto.py: what the vector and tamper tests check the implementation against."""

from __future__ import annotations

import hashlib
import hmac


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-Expand with SHA-256, written out so the vectors are checked independently."""
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def derive_segment_keys(data_key: bytes, prefix: bytes, object_id: bytes) -> tuple[bytes, bytes, bytes]:
    """(payload key, nonce prefix, commitment) exactly as docs/encryption.md describes them."""
    prk = hmac.new(object_id, data_key, hashlib.sha256).digest()  # HKDF-Extract(salt=object id)
    okm = hkdf_expand(prk, b"document-portal stream v1 payload\x00" + prefix, 39)
    commitment = hkdf_expand(prk, b"document-portal stream v1 commit\x00" + prefix, 32)
    return okm[:32], okm[32:], commitment
