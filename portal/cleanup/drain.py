"""Working through the cleanup outbox: claim an entry, drop it if a row points at its key again, else delete and settle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Table, delete, exists, func, select, update

from portal.cleanup.outbox import OUTBOX, backoff, describe
from portal.models import Attachment, AttachmentStaging
from portal.storage.base import StorageProvider

log = logging.getLogger("portal.cleanup")

#: tables whose rows point at objects by (storage_type, storage_path): an entry for a key one of them
#: references is dropped, never deleted (a later feature that keeps rows elsewhere adds its table here)
REFERENCING_TABLES: list[Table] = [Attachment.__table__, AttachmentStaging.__table__]
#: a claimed entry is not handed out again for this long; a worker that dies mid-delete loses it after that
LEASE = timedelta(minutes=10)


@dataclass
class DrainReport:
    """What one pass did: objects deleted, entries dropped because a row points at their key, deletes that failed."""

    deleted: int = 0
    dropped: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def referenced(conn, storage_type: str, key: str) -> bool:
    """True when an attachment or staging row (or another REFERENCING_TABLES row) points at (storage_type, key)."""
    return any(
        conn.execute(select(exists().where(table.c.storage_type == storage_type, table.c.storage_path == key))).scalar()
        for table in REFERENCING_TABLES
    )


def _claim(engine: Engine, now: datetime, skip: set[int]):
    """The next due entry, claimed for LEASE, or None; an entry a row points at again is dropped here.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so hosts never wait on each other's entry. SQLite (one
    writer): the lease is taken with a conditional UPDATE that only one process can win.
    Returns (entry, 'claimed' | 'dropped') or None when nothing is due.
    """
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        while True:
            query = select(OUTBOX).where(OUTBOX.c.next_attempt_at <= now)
            if skip:
                query = query.where(OUTBOX.c.id.not_in(skip))
            query = query.order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(1)
            if postgres:
                query = query.with_for_update(skip_locked=True)
            entry = conn.execute(query).first()
            if entry is None:
                return None
            won = conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == entry.id, OUTBOX.c.next_attempt_at <= now)
                .values(next_attempt_at=now + LEASE)
            ).rowcount
            if not won:
                skip.add(entry.id)
                continue
            if referenced(conn, entry.storage_type, entry.key):
                conn.execute(delete(OUTBOX).where(OUTBOX.c.id == entry.id))
                return entry, "dropped"
            return entry, "claimed"


def _settle(engine: Engine, entry, error: str | None, now: datetime) -> None:
    with engine.begin() as conn:
        if error is None:
            conn.execute(delete(OUTBOX).where(OUTBOX.c.id == entry.id))
            return
        attempts = entry.attempts + 1
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == entry.id)
            .values(attempts=attempts, last_error=error, next_attempt_at=now + backoff(attempts))
        )


def drain(
    engine: Engine,
    provider_for: Callable[[str], StorageProvider],
    *,
    limit: int | None = None,
    clock: Callable[[], datetime] | None = None,
) -> DrainReport:
    """Retry every due entry once (at most ``limit``): deleted -> entry removed; refused -> retried later with
    exponential backoff; a key a row points at again -> entry dropped, object kept.

    Safe to run in several processes at once: each entry is claimed by one of them.
    """
    clock = clock or (lambda: datetime.now(UTC))
    report, skip = DrainReport(), set()
    while limit is None or report.deleted + report.dropped + report.failed < limit:
        claimed = _claim(engine, clock(), skip)
        if claimed is None:
            return report
        entry, outcome = claimed
        if outcome == "dropped":
            report.dropped += 1
            log.info("cleanup outbox: %s/%s is referenced by a row again; entry dropped", entry.storage_type, entry.key)
            continue
        try:
            provider_for(entry.storage_type).delete(entry.key)
            error = None
        except Exception as exc:  # the store still refuses: try again later
            error = describe(exc)
        _settle(engine, entry, error, clock())
        if error is None:
            report.deleted += 1
        else:
            report.failed += 1
            skip.add(entry.id)
            report.errors.append(f"{entry.storage_type}:{entry.key}: {error}")
    return report


def pending(engine: Engine) -> tuple[int, datetime | None]:
    """(entries waiting, when the oldest was recorded)."""
    with engine.connect() as conn:
        count, oldest = conn.execute(select(func.count(), func.min(OUTBOX.c.created_at))).one()
    return count, oldest
