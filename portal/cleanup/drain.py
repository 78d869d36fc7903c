"""Working through the cleanup outbox: lock an entry, drop it if a row points at its key, else delete and settle."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, Table, delete, exists, func, select, update

from portal.cleanup.outbox import OUTBOX, backoff, describe, record
from portal.models import Attachment, AttachmentStaging
from portal.storage.base import StorageProvider

log = logging.getLogger("portal.cleanup")

#: tables whose rows point at objects by (storage_type, storage_path), trashed rows included: an entry for a
#: key one of them references is dropped, never deleted (a later feature that keeps rows elsewhere adds its table)
REFERENCING_TABLES: list[Table] = [Attachment.__table__, AttachmentStaging.__table__]

ProviderFor = Callable[[str], StorageProvider]


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


def _attempt(
    engine: Engine,
    provider_for: ProviderFor,
    clock: Callable[[], datetime],
    *,
    entry_id: int | None = None,
    skip: set[int] | None = None,
    before_delete: Callable[[object], None] | None = None,
):
    """Take one entry (``entry_id``, or the next due one not in ``skip``) and settle it, all in ONE transaction.

    The entry stays locked from the reference check through the store's delete to the settlement
    (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so other drains pass it by; SQLite: the conditional
    UPDATE takes the database's single write lock). outbox.forget(), which a restore or re-upload calls
    before it points a row at the key, waits on that lock: the key cannot come into use between the
    check and the delete. A process that dies mid-way rolls back and the entry is simply due again.
    Returns (entry, 'deleted' | 'dropped' | 'failed', error) or None when there is nothing (left) to take.
    """
    postgres = engine.dialect.name == "postgresql"
    skip = skip if skip is not None else set()
    now = clock()
    with engine.begin() as conn:
        while True:
            query = select(OUTBOX)
            if entry_id is not None:
                query = query.where(OUTBOX.c.id == entry_id)
            else:
                query = query.where(OUTBOX.c.next_attempt_at <= now)
                if skip:
                    query = query.where(OUTBOX.c.id.not_in(skip))
                query = query.order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id).limit(1)
            if postgres:
                query = query.with_for_update(skip_locked=True)
            entry = conn.execute(query).first()
            if entry is None:
                return None
            # Unchanged since it was read, else another process settled it first (SQLite reads outside the lock).
            won = conn.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == entry.id, OUTBOX.c.attempts == entry.attempts)
                .values(attempts=entry.attempts)
            ).rowcount
            if not won:
                if entry_id is not None:
                    return None
                skip.add(entry.id)
                continue
            break
        if referenced(conn, entry.storage_type, entry.key):
            conn.execute(delete(OUTBOX).where(OUTBOX.c.id == entry.id))
            return entry, "dropped", None
        if before_delete is not None:
            before_delete(entry)
        try:
            provider_for(entry.storage_type).delete(entry.key)
            error = None
        except Exception as exc:  # StorageError, or an OSError from a failing disk: the store did not confirm
            error = describe(exc)
        if error is None:
            conn.execute(delete(OUTBOX).where(OUTBOX.c.id == entry.id))
            return entry, "deleted", None
        attempts = entry.attempts + 1
        conn.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == entry.id)
            .values(attempts=attempts, last_error=error, next_attempt_at=clock() + backoff(attempts))
        )
        return entry, "failed", error


def drain(
    engine: Engine,
    provider_for: ProviderFor,
    *,
    limit: int | None = None,
    budget: float | None = None,
    clock: Callable[[], datetime] | None = None,
    before_delete: Callable[[object], None] | None = None,
) -> DrainReport:
    """Retry every due entry once (at most ``limit``, and no new one after ``budget`` seconds): deleted -> entry
    removed; refused -> retried later with exponential backoff; a key a row points at -> entry dropped, object kept.

    Safe to run in several processes at once: each entry is taken by one of them. ``before_delete(entry)``
    is called between the reference check and the store's delete (a seam for tests of that window).
    """
    clock = clock or (lambda: datetime.now(UTC))
    stop = None if budget is None else time.monotonic() + budget
    report, skip = DrainReport(), set()
    while limit is None or report.deleted + report.dropped + report.failed < limit:
        if stop is not None and time.monotonic() >= stop:
            break
        taken = _attempt(engine, provider_for, clock, skip=skip, before_delete=before_delete)
        if taken is None:
            break
        entry, outcome, error = taken
        if outcome == "dropped":
            report.dropped += 1
            log.info("cleanup outbox: %s/%s is referenced by a row; entry dropped", entry.storage_type, entry.key)
        elif outcome == "deleted":
            report.deleted += 1
        else:
            report.failed += 1
            skip.add(entry.id)  # not again in this pass, whatever the clock says
            report.errors.append(f"{entry.storage_type}:{entry.key}: {error}")
    return report


def settle(engine: Engine, provider_for: ProviderFor, ids: Iterable[int]) -> dict[int, str | None]:
    """Try now the entries ``ids`` just recorded (after the commit that recorded them); returns, for each one
    still owed, the store's error (None when another process holds it right now). Gone ones are not listed.

    Never raises for the store; an entry the store refused waits for `flask storage maintain`.
    """
    owed: dict[int, str | None] = {}
    clock = lambda: datetime.now(UTC)  # noqa: E731
    for entry_id in ids:
        taken = _attempt(engine, provider_for, clock, entry_id=entry_id)
        if taken is None:
            with engine.connect() as conn:
                if conn.execute(select(exists().where(OUTBOX.c.id == entry_id))).scalar():
                    owed[entry_id] = None
            continue
        entry, outcome, error = taken
        if outcome == "failed":
            owed[entry_id] = error
            log.warning(
                "could not delete %s/%s (%s); recorded for `flask storage maintain`",
                entry.storage_type,
                entry.key,
                error,
            )
    return owed


def discard_unrecorded(
    engine: Engine,
    provider_for: ProviderFor,
    objects: Iterable[tuple[str, str]],
    reason: str,
    *,
    delete_unrecorded: bool = True,
) -> None:
    """Delete objects written for rows that will not exist: first recorded in the outbox in a fresh transaction,
    then deleted through it (so the reference check guards a row that exists after all), one the store
    refuses left for `flask storage maintain`.

    When even the outbox cannot be written (the database is down) the object cannot be recorded. With
    ``delete_unrecorded`` (no commit that could name it was attempted: an upload that failed before its
    commit) it is deleted directly; without it (after a failed commit, whose lost answer may have been a
    success) it is left alone, and `flask storage orphans`, which weighs objects against rows, finds it.
    Never raises.
    """
    objects = list(objects)
    if not objects:
        return
    try:
        with engine.begin() as conn:
            ids = [record(conn, storage_type, key, reason) for storage_type, key in objects]
    except Exception as exc:  # the database refuses even the outbox
        for storage_type, key in objects:
            if not delete_unrecorded:
                log.error(
                    "could not record %s/%s for deletion (%s); left in place (`flask storage orphans` finds it)",
                    storage_type,
                    key,
                    exc,
                )
                continue
            try:
                provider_for(storage_type).delete(key)
            except Exception as store_exc:
                log.error(
                    "could not delete %s/%s nor record it for `flask storage maintain` (%s; %s): now an orphan, "
                    "`flask storage orphans` finds it",
                    storage_type,
                    key,
                    store_exc,
                    exc,
                )
        return
    try:
        settle(engine, provider_for, ids)
    except Exception as exc:  # recorded: `flask storage maintain` finishes it
        log.error("could not settle %d recorded deletion(s) now: %s", len(ids), exc)


def pending(engine: Engine) -> tuple[int, datetime | None]:
    """(entries waiting, when the oldest was recorded)."""
    with engine.connect() as conn:
        count, oldest = conn.execute(select(func.count(), func.min(OUTBOX.c.created_at))).one()
    return count, oldest


def oldest(engine: Engine, count: int = 5) -> list:
    """The ``count`` longest-owed entries (for the dashboard), oldest first."""
    with engine.connect() as conn:
        return conn.execute(select(OUTBOX).order_by(OUTBOX.c.created_at, OUTBOX.c.id).limit(count)).all()
