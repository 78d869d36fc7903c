"""The cleanup outbox as a test reads it: its entries, and the backoff passed at once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from portal.cleanup.models import CleanupOutboxEntry
from portal.cleanup.outbox import OUTBOX
from portal.extensions import db


def outbox() -> list[CleanupOutboxEntry]:
    db.session.expire_all()
    return list(db.session.scalars(select(CleanupOutboxEntry).order_by(CleanupOutboxEntry.id)))


def make_due() -> None:
    """Let the backoff pass: every entry is due now."""
    db.session.execute(OUTBOX.update().values(next_attempt_at=datetime.now(UTC)))
    db.session.commit()
