"""What counts as proof that a store holds the right bytes (portal/migration/verify.py), against the local
store and the S3 store (moto): each way of checking, each mismatch and its message."""

from __future__ import annotations

import hashlib
import io

import pytest

from portal.extensions import storage
from portal.migration.claims import RowSnapshot
from portal.migration.verify import UNPROVABLE, Problem, RowChecker, verify_copy
from portal.storage.base import ObjectNotFound, StorageIntegrityError, StorageUnavailable

BODY = b"the bytes that were sent"
SHA = hashlib.sha256(BODY).hexdigest()
OTHER_SHA = hashlib.sha256(b"other bytes").hexdigest()
KEY = "attachments/2026/11/verify-me"


@pytest.fixture
def local(app):
    provider = storage.get("local")
    provider.save(KEY, io.BytesIO(BODY))
    return provider


def mismatch(call, *args, **kwargs) -> str:
    with pytest.raises(StorageIntegrityError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


def test_the_stores_answer_to_the_put_is_proof_enough(local):
    local.delete(KEY)  # nothing is read: the store checked the bytes when it took them
    assert verify_copy(local, KEY, len(BODY), SHA, store_sha256=SHA) == "checksum"
    message = mismatch(verify_copy, local, KEY, len(BODY), SHA, store_sha256=OTHER_SHA)
    assert message == "checksum mismatch: the store's SHA-256 differs from the bytes sent"


def test_a_store_without_a_checksum_is_read_back(local):
    assert verify_copy(local, KEY, len(BODY), SHA) == "readback"
    assert verify_copy(local, KEY, len(BODY), SHA, mode="readback") == "readback"


def test_auto_refuses_a_wrong_size_from_the_stat(local):
    message = mismatch(verify_copy, local, KEY, len(BODY) + 1, SHA)
    assert message == f"checksum mismatch: the store holds {len(BODY)} bytes, {len(BODY) + 1} were sent"


def test_a_read_back_of_the_wrong_size_or_content_is_refused(local):
    message = mismatch(verify_copy, local, KEY, len(BODY) - 1, SHA, mode="readback")
    assert message == f"checksum mismatch: read back {len(BODY)} bytes, {len(BODY) - 1} were sent"
    message = mismatch(verify_copy, local, KEY, len(BODY), OTHER_SHA)
    assert message == "checksum mismatch: the bytes read back hash differently from the bytes sent"


def test_readback_mode_ignores_the_stores_answer(local):
    message = mismatch(verify_copy, local, KEY, len(BODY), OTHER_SHA, mode="readback", store_sha256=OTHER_SHA)
    assert message == "checksum mismatch: the bytes read back hash differently from the bytes sent"


def test_a_missing_object_is_not_found(local):
    local.delete(KEY)
    with pytest.raises(ObjectNotFound):
        verify_copy(local, KEY, len(BODY), SHA)
    with pytest.raises(ObjectNotFound):
        verify_copy(local, KEY, len(BODY), SHA, mode="readback")


@pytest.mark.moto  # RGW keeps no SHA-256 of its own (docs/storage.md): its objects are read back, as above
def test_an_s3_objects_own_checksum_is_proof_without_reading_it(store, monkeypatch):
    saved = store.save(KEY, io.BytesIO(BODY))
    assert store.stat(KEY).store_sha256 == SHA

    def no_read(key):
        raise AssertionError("read back although the store's checksum was there")

    monkeypatch.setattr(store, "read_back", no_read)
    assert verify_copy(store, KEY, len(BODY), SHA) == "checksum"
    message = mismatch(verify_copy, store, KEY, len(BODY), OTHER_SHA)
    assert message == "checksum mismatch: the store's SHA-256 differs from the bytes sent"
    assert saved.size == len(BODY)


def row(storage_type: str = "local", size: int = len(BODY), sha256: str | None = SHA, key: str = KEY) -> RowSnapshot:
    return RowSnapshot(
        table="attachment",
        id=7,
        filename="a.pdf",
        content_type="application/pdf",
        size=size,
        sha256=sha256,
        filepath=None,
        storage_path=key,
        storage_type=storage_type,
        encryption=None,
    )


def checker(deep: bool) -> RowChecker:
    return RowChecker(storage.get, deep=deep, encryption=storage.encryption)


def test_a_row_that_matches_its_object_has_no_problem(local):
    assert checker(deep=False).check(row()) is None
    assert checker(deep=True).check(row()) is None


def test_a_missing_object_is_a_problem(local):
    local.delete(KEY)
    assert checker(deep=False).check(row()) == Problem("attachment", 7, KEY, "object missing from the store")


def test_a_store_that_cannot_be_asked_is_a_problem(local):
    problem = checker(deep=False).check(row(storage_type="nowhere"))
    assert problem.reason == "could not be checked: unknown storage type 'nowhere'; expected one of local, s3, minio"


def test_a_size_mismatch_is_found_without_reading(local):
    problem = checker(deep=False).check(row(size=len(BODY) + 2))
    assert problem.reason == f"size mismatch: the store holds {len(BODY)} bytes, the row expects {len(BODY) + 2}"


def test_only_a_deep_check_reads_the_content(local):
    assert checker(deep=False).check(row(sha256=OTHER_SHA)) is None
    problem = checker(deep=True).check(row(sha256=OTHER_SHA))
    assert problem.reason == "SHA-256 mismatch: the bytes read back differ from the row's checksum"


def test_a_deep_check_needs_a_recorded_sha256(local):
    assert checker(deep=False).check(row(sha256=None)) is None
    problem = checker(deep=True).check(row(sha256=None))
    assert problem.reason == "no SHA-256 is recorded for this row, so its content cannot be proven"


def test_an_object_changed_between_its_stat_and_its_read_is_a_problem(local, monkeypatch):
    stat = local.stat

    def stat_then_overwrite(key):
        found = stat(key)
        local.save(key, io.BytesIO(BODY + b"!"))
        return found

    monkeypatch.setattr(local, "stat", stat_then_overwrite)
    problem = checker(deep=True).check(row())
    assert problem.reason == f"size mismatch: read {len(BODY) + 1} bytes, the row expects {len(BODY)}"


@pytest.mark.moto  # RGW keeps no SHA-256 of its own
def test_the_s3_stores_checksum_shows_a_wrong_row_without_reading(store):
    store.save(KEY, io.BytesIO(BODY))
    problem = checker(deep=False).check(row(storage_type="s3", sha256=OTHER_SHA))
    assert problem.reason == "SHA-256 mismatch: the store's checksum differs from the row's"
    assert checker(deep=False).check(row(storage_type="s3")) is None
    assert checker(deep=False).check(row(storage_type="s3", sha256=None)) is None


def test_the_outcome_of_a_check_names_what_is_wrong_and_why(local, monkeypatch):
    """What the scrubber records for a row (portal/upkeep/scrub.py): ok, missing, mismatch or unreadable."""
    assert checker(deep=True).outcome(row()) == ("ok", None)
    size = f"size mismatch: the store holds {len(BODY)} bytes, the row expects {len(BODY) + 2}"
    assert checker(deep=False).outcome(row(size=len(BODY) + 2)) == ("mismatch", size)
    assert checker(deep=True).outcome(row(sha256=OTHER_SHA)) == (
        "mismatch",
        "SHA-256 mismatch: the bytes read back differ from the row's checksum",
    )
    assert checker(deep=True).outcome(row(sha256=None)) == ("unreadable", UNPROVABLE)
    assert checker(deep=False).outcome(row(storage_type="nowhere")) == (
        "unreadable",
        "could not be checked: unknown storage type 'nowhere'; expected one of local, s3, minio",
    )
    stat = local.stat

    def stat_then_overwrite(key):
        found = stat(key)
        local.save(key, io.BytesIO(BODY + b"!"))
        return found

    with monkeypatch.context() as patched:
        patched.setattr(local, "stat", stat_then_overwrite)
        assert checker(deep=True).outcome(row()) == (
            "mismatch",
            f"size mismatch: read {len(BODY) + 1} bytes, the row expects {len(BODY)}",
        )
    local.save(KEY, io.BytesIO(BODY))

    def failed_read(key):  # as a ciphertext segment that fails its authentication does
        raise StorageIntegrityError("decryption failed: segment 0 is not authentic")

    with monkeypatch.context() as patched:
        patched.setattr(local, "read_back", failed_read)
        assert checker(deep=True).outcome(row()) == ("mismatch", "decryption failed: segment 0 is not authentic")

    def unreachable(key):
        raise StorageUnavailable("the store at http://127.0.0.1:9 cannot be reached")

    with monkeypatch.context() as patched:
        patched.setattr(local, "stat", unreachable)
        with pytest.raises(StorageUnavailable, match="cannot be reached"):
            checker(deep=False).outcome(row())
    local.delete(KEY)
    assert checker(deep=False).outcome(row()) == ("missing", "object missing from the store")
