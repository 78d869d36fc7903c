"""CleanupOutboxEntry: one object deletion still owed to a store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models import utcnow


class CleanupOutboxEntry(db.Model):
    """An object to delete from ``storage_type`` under ``key``, retried with backoff by `flask storage maintain`."""

    __tablename__ = "cleanup_outbox"
    __table_args__ = (
        Index("ix_cleanup_outbox_next_attempt_at", "next_attempt_at"),
        Index("ix_cleanup_outbox_storage_type_key", "storage_type", "key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    storage_type: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(String(500))
    # why the object is owed a deletion: 'discard' (never got a row), 'unrecorded' (its row failed), 'removed' ...
    reason: Mapped[str] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    last_error: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, server_default=func.now())
