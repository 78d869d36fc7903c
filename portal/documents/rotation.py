"""Key rotation: re-wrap every encrypted object's data key to the current public key, never touching content."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from portal import audit
from portal.documents.service import DocumentStorageService
from portal.extensions import db, storage
from portal.models import Attachment, AttachmentStaging
from portal.storage.base import StorageError
from portal.storage.encryption import ENVELOPE_METADATA

log = logging.getLogger("portal.documents")

BATCH_SIZE = 200


@dataclass
class RotationReport:
    """What a rotation did: rows re-wrapped, rows already current, and failures by row."""

    rewrapped: int = 0
    current: int = 0
    failures: list[str] = field(default_factory=list)
    #: rows still under an old key when the pass ended (promoted or added meanwhile): run it again
    remaining: int = 0


class KeyRotationService:
    """Re-wraps envelopes (rows and the object metadata that mirrors them) to STORAGE_ENCRYPTION_PUBLIC_KEY.

    Needs the old private keys in STORAGE_ENCRYPTION_PRIVATE_KEYS. Resumable: rows already under the
    new key id are skipped, so running it again after a stop finishes the job. The keys are the ones
    the app loaded when it started (`flask storage rotate-key` starts one per run).
    """

    def __init__(self, config=None):
        self.config = config if config is not None else current_app.config
        self.encryption = storage.encryption
        self.public_key = self.encryption.public_key
        self.files = DocumentStorageService(self.config)

    def pending(self) -> int:
        """How many encrypted rows are not yet wrapped to the current key."""
        return sum(
            db.session.scalar(select(func.count()).select_from(model).where(*self._stale(model)))
            for model in (Attachment, AttachmentStaging)
        )

    def _stale(self, model):
        return (model.encryption.is_not(None), ~model.encryption.contains(f".{self.public_key.key_id}."))

    def rotate(self, progress: Callable[[int], None] = lambda n: None) -> RotationReport:
        """Re-wrap every stale row, in batches by id; each row commits on its own. Ends with a
        ``storage.rotate_key`` audit event: the key id and the counts."""
        report = RotationReport()
        for model in (Attachment, AttachmentStaging):
            last_id = 0
            while True:
                ids = db.session.scalars(
                    select(model.id).where(model.id > last_id, *self._stale(model)).order_by(model.id).limit(BATCH_SIZE)
                ).all()
                if not ids:
                    break
                for row_id in ids:
                    last_id = row_id
                    row = db.session.get(model, row_id)
                    if row is not None:  # deleted meanwhile: nothing left to re-wrap
                        self._rotate_row(row, report)
                    progress(1)
        report.remaining = self.pending()
        audit.record(
            "storage.rotate_key",
            outcome="failure" if report.failures or report.remaining else "success",
            detail={
                "key_id": self.public_key.key_id,
                "rewrapped": report.rewrapped,
                "current": report.current,
                "failed": len(report.failures),
                "remaining": report.remaining,
            },
        )
        return report

    def _rotate_row(self, row, report: RotationReport) -> None:
        label = f"{row.__tablename__} {row.id} ({row.filename})"
        try:
            text = self.encryption.rewrap(row.encryption)
            if text is None:
                report.current += 1
                return
            # The object's mirror first: if the row update then fails, both envelopes still open it.
            if row.storage_path:
                provider, key = self.files.locate(row)
                provider.set_metadata(key, {ENVELOPE_METADATA: text})
            row.encryption = text
            db.session.commit()
            report.rewrapped += 1
        except StorageError as exc:
            db.session.rollback()
            report.failures.append(f"{label}: {exc}")
            log.error("key rotation failed for %s: %s", label, exc)
