"""Rows in the trash still hold real bytes: migration moves them, verify checks them, orphans leaves them alone."""

from __future__ import annotations

from datetime import UTC, datetime

from portal.extensions import db
from portal.models import Attachment, Document
from tests.migration.factory import payload
from tests.support.buckets import object_keys
from tests.support.migration import migrate_everything


def _trash(row: Attachment) -> None:
    when = datetime.now(UTC)
    row.deleted_at = when
    document = db.session.get(Document, row.document_id)
    document.deleted_at = when
    db.session.commit()


def test_a_trashed_row_is_migrated_verified_and_not_an_orphan(runner, files, store):
    trashed = files.legacy(payload(300))
    _trash(trashed)
    run = migrate_everything()
    assert (run.items_done, run.items_failed) == (1, 0)
    db.session.expire_all()
    row = db.session.get(Attachment, trashed.id)
    assert row.storage_type == "s3" and row.storage_path in object_keys(store)
    assert row.deleted_at is not None  # still in the trash, now in the new store
    verify = runner.invoke(args=["storage", "verify"])
    assert verify.exit_code == 0, verify.output
    orphans = runner.invoke(args=["storage", "orphans", "--delete", "--min-age", "0s"])
    assert orphans.exit_code == 0 and "No orphans." in orphans.output
    assert row.storage_path in object_keys(store)
