"""Purging expired staged uploads so that two hosts never purge one twice and no object outlives its row unrecorded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select

from portal.cleanup.drain import settle
from portal.cleanup.outbox import record
from portal.models import AttachmentStaging
from portal.storage.base import StorageProvider

STAGING = AttachmentStaging.__table__
BATCH = 200


def purge_expired_staging(engine: Engine, provider_for: Callable[[str], StorageProvider], older_than: timedelta) -> int:
    """Remove staged uploads older than ``older_than``; returns how many rows this process removed.

    Each row is deleted in the same transaction that records its object in the cleanup outbox (a row
    another process removed first matches nothing and is skipped); each recorded object is then deleted
    through the outbox, so one the store refuses stays recorded for the next `flask storage maintain`.
    """
    cutoff = datetime.now(UTC) - older_than
    removed, last = 0, 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(STAGING.c.id, STAGING.c.storage_type, STAGING.c.storage_path)
                .where(STAGING.c.created_at < cutoff, STAGING.c.id > last)
                .order_by(STAGING.c.id)
                .limit(BATCH)
            ).all()
        if not rows:
            break
        for row in rows:
            ids = []
            with engine.begin() as conn:
                if not conn.execute(delete(STAGING).where(STAGING.c.id == row.id)).rowcount:
                    continue
                if row.storage_path:
                    ids.append(record(conn, row.storage_type, row.storage_path, "expired staging"))
            removed += 1
            settle(engine, provider_for, ids)
        last = rows[-1].id
    return removed
