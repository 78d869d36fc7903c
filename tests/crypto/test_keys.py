"""Key pairs, key ids, key files, the keyring, envelopes and key rotation."""

from __future__ import annotations

import io
import os
import re
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from portal.storage.base import StorageIntegrityError, StorageMisconfigured
from portal.storage.crypto import DecryptionError, EncryptingReader, decrypt_chunks
from portal.storage.keys import (
    SUITE_MLKEM768_X25519,
    SUITE_X25519,
    Envelope,
    KeyFileError,
    KeyRing,
    MissingPrivateKey,
    generate_keypair,
    load_private_key,
    load_public_key,
    rewrap,
    save_keypair,
    write_keypair,
)
from portal.storage.local import LocalStorageProvider

X25519_PAIR = generate_keypair()
PQ_PAIR = generate_keypair(pq=True)
S3_METADATA_LIMIT = 2048


def encrypt(public_key, plaintext: bytes = b"quarterly report\n" * 100):
    reader = EncryptingReader(io.BytesIO(plaintext), public_key, segment_size=64)
    return reader.read(), reader.envelope, plaintext


def decrypt(ciphertext, envelope, ring):
    return b"".join(decrypt_chunks([ciphertext], envelope, ring))


@pytest.mark.parametrize("pq,suite", [(False, SUITE_X25519), (True, SUITE_MLKEM768_X25519)])
def test_key_ids_show_the_suite_and_come_from_the_public_key(pq, suite):
    pair = generate_keypair(pq=pq)
    assert re.fullmatch(rf"{suite}-[0-9a-f]{{16}}", pair.public.key_id)
    assert pair.private.key_id == pair.public.key_id
    assert generate_keypair(pq=pq).public.key_id != pair.public.key_id


@pytest.mark.parametrize("pq", [False, True])
def test_written_key_files_load_back_with_the_same_key_id(tmp_path, pq):
    old_umask = os.umask(0)  # the private key must be 0600 however permissive the umask
    try:
        key_id = write_keypair(tmp_path / "keys", pq=pq)
    finally:
        os.umask(old_umask)
    private_path, public_path = tmp_path / "keys" / f"{key_id}.key.pem", tmp_path / "keys" / f"{key_id}.pub.pem"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(public_path.stat().st_mode) == 0o644
    public, private = load_public_key(public_path), load_private_key(private_path)
    assert public.key_id == private.key_id == key_id  # any host computes the same id
    ciphertext, envelope, plaintext = encrypt(public)
    assert envelope.key_id == key_id
    assert decrypt(ciphertext, envelope, KeyRing.from_files(str(private_path))) == plaintext


def test_x25519_key_files_are_plain_pkcs8_and_spki(tmp_path):
    key_id = write_keypair(tmp_path)
    private = serialization.load_pem_private_key((tmp_path / f"{key_id}.key.pem").read_bytes(), None)
    public = serialization.load_pem_public_key((tmp_path / f"{key_id}.pub.pem").read_bytes())
    assert private.public_key() == public


def test_hybrid_key_files_hold_an_mlkem_block_then_an_x25519_block(tmp_path):
    key_id = write_keypair(tmp_path, pq=True)
    text = (tmp_path / f"{key_id}.key.pem").read_text()
    assert text.count("-----BEGIN PRIVATE KEY-----") == 2
    assert (tmp_path / f"{key_id}.pub.pem").read_text().count("-----BEGIN PUBLIC KEY-----") == 2


def test_key_files_are_never_overwritten(tmp_path):
    key_id = save_keypair(tmp_path, X25519_PAIR)
    private_path = tmp_path / f"{key_id}.key.pem"
    with pytest.raises(KeyFileError, match=f"refusing to overwrite existing key file .*{key_id}.key.pem"):
        save_keypair(tmp_path, X25519_PAIR)
    private_path.unlink()
    with pytest.raises(KeyFileError, match=f"refusing to overwrite existing key file .*{key_id}.pub.pem"):
        save_keypair(tmp_path, X25519_PAIR)
    assert not private_path.exists()


def _p256_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    encoding, fmt = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    return key.private_bytes(encoding, fmt, serialization.NoEncryption())


@pytest.mark.parametrize(
    "content,loader,message",
    [
        (None, load_public_key, "cannot read key file"),
        (b"", load_public_key, "holds no PEM block"),
        (b"not a key at all", load_private_key, "holds no PEM block"),
        (X25519_PAIR.private.to_pem(), load_public_key, "holds a private key"),
        (X25519_PAIR.public.to_pem(), load_private_key, "holds a public key, not an unencrypted PKCS#8"),
        (X25519_PAIR.public.to_pem().replace(b"A", b"B", 3), load_public_key, "unreadable public key"),
        (X25519_PAIR.private.to_pem()[:40] + b"\n-----END PRIVATE KEY-----\n", load_private_key, "unreadable"),
        (_p256_pem(), load_private_key, "is not an X25519 or ML-KEM-768\\+X25519 private key"),
        (
            PQ_PAIR.private.to_pem().split(b"-----END")[0] + b"-----END PRIVATE KEY-----\n",
            load_private_key,
            "is not an X25519 or ML-KEM-768",
        ),
        (X25519_PAIR.private.to_pem() * 2, load_private_key, "is not an X25519 or ML-KEM-768"),
        (b"x" * 70_000, load_private_key, "too large"),
    ],
    ids=[
        "missing",
        "empty",
        "garbage",
        "private-as-public",
        "public-as-private",
        "corrupt-public",
        "truncated-private",
        "p256",
        "mlkem-half-of-hybrid",
        "two-x25519",
        "huge",
    ],
)
def test_bad_key_files_name_the_file(tmp_path, content, loader, message):
    path = tmp_path / "bad-key.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyFileError, match=message) as info:
        loader(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, StorageMisconfigured)


def test_keyring_from_a_comma_separated_setting(tmp_path):
    first, second = write_keypair(tmp_path), write_keypair(tmp_path, pq=True)
    setting = f" {tmp_path}/{first}.key.pem , {tmp_path}/{second}.key.pem,"
    ring = KeyRing.from_files(setting)
    assert ring.key_ids == sorted([first, second]) and first in ring and len(ring) == 2
    assert KeyRing.from_files([tmp_path / f"{first}.key.pem"]).key_ids == [first]
    assert len(KeyRing.from_files("")) == 0 and len(KeyRing.from_files(None)) == 0
    with pytest.raises(KeyFileError, match="holds a public key"):
        KeyRing.from_files(f"{tmp_path}/{first}.pub.pem")


def test_a_host_with_only_the_public_key_encrypts_but_cannot_decrypt():
    ciphertext, envelope, _ = encrypt(X25519_PAIR.public)
    with pytest.raises(MissingPrivateKey) as info:
        decrypt_chunks([ciphertext], envelope, KeyRing())
    assert str(info.value) == (
        f"this portal has no private key for key id {X25519_PAIR.public.key_id}; set STORAGE_ENCRYPTION_PRIVATE_KEYS"
    )
    assert isinstance(info.value, StorageMisconfigured)


@pytest.mark.parametrize("pair", [X25519_PAIR, PQ_PAIR], ids=["x25519", "mlkem768x25519"])
def test_envelope_text_round_trip(pair):
    ciphertext, envelope, plaintext = encrypt(pair.public)
    text = envelope.to_text()
    assert text.isascii() and text.isprintable() and " " not in text
    assert text.startswith(f"dpe1.{pair.public.suite}.{pair.public.key_id}.")
    assert Envelope.from_text(text) == envelope
    assert decrypt(ciphertext, Envelope.from_text(text), KeyRing([pair.private])) == plaintext


def test_a_post_quantum_envelope_fits_in_s3_user_metadata():
    envelope = encrypt(PQ_PAIR.public)[1]
    text = envelope.to_text()
    assert len(text) == 1654  # measured: 1168-byte ML-KEM-768+X25519 wrap, base64url
    # room left in S3's 2 KB for the metadata name and a SHA-256 beside it
    beside = len("portal-envelope") + len("portal-sha256") + 64 + len("portal-plaintext-size") + 12
    assert len(text) + beside < S3_METADATA_LIMIT


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: "",
        lambda t: t.replace("dpe1.", "dpe2.", 1),
        lambda t: t + ".extra",
        lambda t: t.replace(".x25519.", ".p256.", 1),
        lambda t: t.replace("x25519-", "x25519-zz", 1),
        lambda t: t[:-4],
        lambda t: t[:-1] + "!",
        lambda t: t.rsplit(".", 2)[0] + ".AAAA." + t.rsplit(".", 1)[1],
        lambda t: t[:-1] + ("B" if t[-1] != "B" else "C"),  # non-canonical trailing bits or a different key
    ],
    ids=["empty", "version", "fields", "suite", "key-id", "short-wrap", "bad-char", "short-object-id", "last-char"],
)
def test_malformed_envelopes_are_refused(mutate):
    ciphertext, envelope, _ = encrypt(X25519_PAIR.public)
    with pytest.raises(DecryptionError) as info:
        decrypt(ciphertext, Envelope.from_text(mutate(envelope.to_text())), KeyRing([X25519_PAIR.private]))
    assert isinstance(info.value, StorageIntegrityError)


@pytest.mark.parametrize("new_pair", [generate_keypair(), PQ_PAIR], ids=["to-x25519", "to-mlkem768x25519"])
def test_rewrap_moves_the_data_key_without_the_content(new_pair):
    ciphertext, envelope, plaintext = encrypt(X25519_PAIR.public)
    rotated = rewrap(envelope, KeyRing([X25519_PAIR.private]), new_pair.public)
    assert rotated.key_id == new_pair.public.key_id and rotated.suite == new_pair.public.suite
    assert rotated.object_id == envelope.object_id and rotated.wrapped_key != envelope.wrapped_key
    # the same ciphertext, and the old private key is no longer needed
    assert decrypt(ciphertext, rotated, KeyRing([new_pair.private])) == plaintext
    with pytest.raises(MissingPrivateKey):
        decrypt_chunks([ciphertext], rotated, KeyRing([X25519_PAIR.private]))


def test_rewrap_needs_the_old_private_key():
    envelope = encrypt(X25519_PAIR.public)[1]
    with pytest.raises(MissingPrivateKey, match=X25519_PAIR.public.key_id):
        rewrap(envelope, KeyRing([PQ_PAIR.private]), PQ_PAIR.public)


def test_post_quantum_round_trip_through_files(tmp_path):
    key_id = write_keypair(tmp_path, pq=True)
    public = load_public_key(tmp_path / f"{key_id}.pub.pem")
    ciphertext, envelope, plaintext = encrypt(public, os.urandom(1000))
    assert envelope.suite == SUITE_MLKEM768_X25519
    ring = KeyRing.from_files([tmp_path / f"{key_id}.key.pem"])
    assert decrypt(ciphertext, Envelope.from_text(envelope.to_text()), ring) == plaintext


def test_a_copied_object_still_decrypts(tmp_path):
    # migration copies ciphertext and envelope to another key or store unchanged: nothing binds the storage key
    ciphertext, envelope, plaintext = encrypt(X25519_PAIR.public)
    first, second = LocalStorageProvider(tmp_path / "first"), LocalStorageProvider(tmp_path / "second")
    first.ensure_ready()
    second.ensure_ready()
    first.save("attachments/original", io.BytesIO(ciphertext), metadata={"envelope": envelope.to_text()})
    first.copy("attachments/original", "attachments/renamed")
    with open(first.local_path("attachments/renamed"), "rb") as handle:  # as the migration reads a local file
        second.save("attachments/moved", handle, metadata=first.stat("attachments/renamed").metadata)
    first.delete("attachments/original")
    ring = KeyRing([X25519_PAIR.private])
    for store, key in ((first, "attachments/renamed"), (second, "attachments/moved")):
        found = Envelope.from_text(store.stat(key).metadata["envelope"])
        assert b"".join(decrypt_chunks(store.open(key), found, ring)) == plaintext
