"""StorageEncryption: keys loaded once, encrypt-on-write, decrypt (whole and ranges), decrypt-and-hash, re-wrap."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from portal.storage import Storage, StorageEncryption
from portal.storage.base import StorageIntegrityError, StorageMisconfigured
from portal.storage.crypto import ciphertext_size
from portal.storage.encryption import CIPHERTEXT_TYPE, ENVELOPE_METADATA
from portal.storage.keys import DecryptionError, Envelope, KeyRing, MissingPrivateKey, generate_keypair, write_keypair
from tests.support.storage_apps import make_storage_app
from tests.support.watched import Watched

PAYLOAD = os.urandom(150_000)  # three 64 KiB segments


@pytest.fixture
def local(tmp_path):
    app = make_storage_app(tmp_path)
    with app.app_context():
        provider = app.extensions["storage"].providers["local"]
        provider.ensure_ready()
        yield provider


def test_the_extension_holds_the_configured_keys(tmp_path):
    key_id = write_keypair(tmp_path / "keys")
    app = make_storage_app(
        tmp_path,
        STORAGE_ENCRYPTION="hybrid",
        STORAGE_ENCRYPTION_PUBLIC_KEY=str(tmp_path / "keys" / f"{key_id}.pub.pem"),
        STORAGE_ENCRYPTION_PRIVATE_KEYS=[str(tmp_path / "keys" / f"{key_id}.key.pem")],
    )
    with app.app_context():
        encryption = Storage().encryption
    assert encryption is app.extensions["storage"].encryption
    assert encryption.enabled and encryption.key_id == key_id and encryption.keyring.key_ids == [key_id]
    plain = make_storage_app(tmp_path / "plain").extensions["storage"].encryption
    assert (plain.enabled, plain.public_key, len(plain.keyring)) == (False, None, 0)


def test_a_round_trip_through_a_store(local):
    pair = generate_keypair()
    encryption = StorageEncryption(enabled=True, public_key=pair.public, keyring=KeyRing([pair.private]))
    sealed = encryption.save(
        local, "attachments/sealed", io.BytesIO(PAYLOAD), size=len(PAYLOAD), metadata={"origin": "test"}
    )
    assert (sealed.size, sealed.sha256) == (len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    assert sealed.stored.size == ciphertext_size(len(PAYLOAD))
    found = local.stat("attachments/sealed")
    assert found.metadata == {"origin": "test", ENVELOPE_METADATA: sealed.envelope}
    assert found.content_type == CIPHERTEXT_TYPE
    assert b"".join(encryption.open(local, "attachments/sealed", sealed.envelope)) == PAYLOAD
    part = encryption.open(local, "attachments/sealed", sealed.envelope, (70_000, 140_000), plaintext_size=len(PAYLOAD))
    assert b"".join(part) == PAYLOAD[70_000:140_001]
    assert encryption.read_back(local, "attachments/sealed", sealed.envelope) == (sealed.size, sealed.sha256)


def test_a_range_needs_the_plaintext_size(local):
    pair = generate_keypair()
    encryption = StorageEncryption(enabled=True, public_key=pair.public, keyring=KeyRing([pair.private]))
    sealed = encryption.save(local, "attachments/sealed", io.BytesIO(PAYLOAD))
    with pytest.raises(ValueError, match="plaintext size"):
        encryption.open(local, "attachments/sealed", sealed.envelope, (0, 10))


def test_rewrap_moves_old_envelopes_to_the_current_key_and_leaves_current_ones(local):
    old, new = generate_keypair(), generate_keypair(pq=True)
    before = StorageEncryption(enabled=True, public_key=old.public, keyring=KeyRing([old.private]))
    sealed = before.save(local, "attachments/sealed", io.BytesIO(PAYLOAD))
    after = StorageEncryption(enabled=True, public_key=new.public, keyring=KeyRing([old.private, new.private]))
    text = after.rewrap(sealed.envelope)
    assert Envelope.from_text(text).key_id == new.public.key_id
    assert after.rewrap(text) is None
    retired = StorageEncryption(enabled=True, public_key=new.public, keyring=KeyRing([new.private]))
    assert retired.read_back(local, "attachments/sealed", text) == (sealed.size, sealed.sha256)
    with pytest.raises(MissingPrivateKey):
        retired.rewrap(sealed.envelope)


def test_without_a_public_key_nothing_is_encrypted_or_rewrapped(local):
    pair = generate_keypair()
    with pytest.raises(StorageMisconfigured, match="needs STORAGE_ENCRYPTION_PUBLIC_KEY"):
        StorageEncryption(enabled=True, public_key=None, keyring=KeyRing())
    reader_only = StorageEncryption(enabled=False, public_key=None, keyring=KeyRing([pair.private]))
    assert reader_only.key_id is None
    with pytest.raises(StorageMisconfigured, match="no STORAGE_ENCRYPTION_PUBLIC_KEY"):
        reader_only.save(local, "attachments/never", io.BytesIO(b"plain"))
    assert not local.exists("attachments/never")
    envelope = (
        StorageEncryption(enabled=True, public_key=pair.public, keyring=KeyRing())
        .save(local, "attachments/sealed", io.BytesIO(b"x"))
        .envelope
    )
    with pytest.raises(StorageMisconfigured, match="no STORAGE_ENCRYPTION_PUBLIC_KEY"):
        reader_only.rewrap(envelope)


def test_each_missing_piece_is_named():
    with pytest.raises(StorageMisconfigured) as caught:
        StorageEncryption(enabled=True, public_key=None, keyring=KeyRing())
    assert str(caught.value) == "STORAGE_ENCRYPTION=hybrid needs STORAGE_ENCRYPTION_PUBLIC_KEY"
    read_only = StorageEncryption(enabled=False, public_key=None, keyring=KeyRing())
    with pytest.raises(StorageMisconfigured) as caught:
        read_only.save(None, "attachments/x", io.BytesIO(b"abc"))
    assert str(caught.value) == "no STORAGE_ENCRYPTION_PUBLIC_KEY is configured to encrypt to"


def test_a_declared_size_the_stream_does_not_hold_stores_nothing(local):
    pair = generate_keypair()
    encryption = StorageEncryption(enabled=True, public_key=pair.public, keyring=KeyRing([pair.private]))
    for declared in (len(PAYLOAD) - 1, len(PAYLOAD) + 1):
        with pytest.raises(StorageIntegrityError):
            encryption.save(local, "attachments/declared", io.BytesIO(PAYLOAD), size=declared)
        assert list(local.list("attachments/")) == []
    saved = encryption.save(local, "attachments/declared", io.BytesIO(PAYLOAD), size=len(PAYLOAD))
    assert saved.stored.size == ciphertext_size(len(PAYLOAD))


def test_a_byte_range_needs_the_plaintext_size(local):
    pair = generate_keypair()
    encryption = StorageEncryption(enabled=True, public_key=pair.public, keyring=KeyRing([pair.private]))
    saved = encryption.save(local, "attachments/ranged", io.BytesIO(PAYLOAD))
    with pytest.raises(ValueError) as caught:
        encryption.open(local, "attachments/ranged", saved.envelope, (0, 9))
    assert str(caught.value) == "decrypting a byte range needs the plaintext size"


class _WatchedStore:
    """A store whose streams are kept here, so that only an explicit close() (not garbage collection) closes them."""

    def __init__(self, provider):
        self.provider = provider
        self.streams: list[Watched] = []

    def open(self, key, byte_range=None):
        stream = Watched(self.provider.open(key, byte_range))
        self.streams.append(stream)
        return stream


@pytest.fixture
def sealed(local):
    pair = generate_keypair()
    encryption = StorageEncryption(enabled=True, public_key=pair.public, keyring=KeyRing([pair.private]))
    return encryption, encryption.save(local, "attachments/watched", io.BytesIO(PAYLOAD)).envelope


def test_the_store_stream_is_closed_after_a_whole_read_and_after_a_reader_stops_early(local, sealed):
    encryption, envelope = sealed
    store = _WatchedStore(local)
    assert b"".join(encryption.open(store, "attachments/watched", envelope)) == PAYLOAD
    plain = encryption.open(store, "attachments/watched", envelope)
    first = next(plain)
    assert first and PAYLOAD.startswith(first) and len(first) < len(PAYLOAD)
    plain.close()
    ranged = encryption.open(store, "attachments/watched", envelope, (70_000, 140_000), plaintext_size=len(PAYLOAD))
    assert b"".join(ranged) == PAYLOAD[70_000:140_001]
    assert len(store.streams) >= 3
    assert [stream.closed for stream in store.streams] == [True] * len(store.streams)


def test_the_store_stream_is_closed_when_the_key_is_missing_or_a_segment_fails(local, sealed):
    encryption, envelope = sealed
    store = _WatchedStore(local)
    stranger = StorageEncryption(enabled=False, public_key=None, keyring=KeyRing([generate_keypair().private]))
    with pytest.raises(MissingPrivateKey):
        stranger.open(store, "attachments/watched", envelope)
    assert [stream.closed for stream in store.streams] == [True]

    stored = b"".join(local.open("attachments/watched"))
    tampered = stored[:-100] + bytes([stored[-100] ^ 1]) + stored[-99:]
    local.save("attachments/watched", io.BytesIO(tampered))
    plain = encryption.open(store, "attachments/watched", envelope)
    with pytest.raises(DecryptionError):
        b"".join(plain)
    assert [stream.closed for stream in store.streams] == [True, True]
