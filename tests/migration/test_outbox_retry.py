"""A migration attempt whose copy failed owes its key a deletion; the retry, which writes the same deterministic
key, withdraws that deletion before it writes, so no drain can delete the copy its row is about to point at."""

from __future__ import annotations

import hashlib

from portal.extensions import db
from portal.migration import items
from portal.migration.service import DocumentMigrationService
from portal.models import Attachment
from portal.object_keys import migrated_key
from portal.storage.base import StorageIntegrityError
from tests.migration.factory import payload
from tests.support.buckets import object_keys
from tests.support.files import owed_keys
from tests.support.store_faults import refusing


def test_a_retry_withdraws_the_deletion_its_failed_attempt_left(app, files, store, runner, monkeypatch):
    data = payload(20_000)
    row = files.legacy(data)
    key = migrated_key("attachment", row.id, hashlib.sha256(data).hexdigest())

    def mismatch(*args, **kwargs):
        raise StorageIntegrityError("checksum mismatch: the store holds other bytes")

    monkeypatch.setattr(items, "verify_copy", mismatch)
    deletes = refusing(store, "DeleteObject")
    first = DocumentMigrationService().migrate_attachment(row)
    assert first.status == "failed" and deletes.refused >= 1
    assert owed_keys() == [key] and key in object_keys(store)  # written, its cleanup refused: owed
    monkeypatch.undo()
    deletes.down = False

    second = DocumentMigrationService().migrate_attachment(db.session.get(Attachment, row.id))
    assert second.status == "done" and second.key == key, second.error
    assert owed_keys() == []  # withdrawn before the write, not left for a drain to weigh
    result = runner.invoke(args=["storage", "maintain"])
    assert "0 deleted, 0 dropped" in result.output, result.output
    db.session.expire_all()
    assert db.session.get(Attachment, row.id).storage_path == key
    assert b"".join(store.open(key)) == data
