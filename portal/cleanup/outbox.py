"""Deleting an object now, or recording the deletion in the cleanup outbox when the store refuses it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert
from sqlalchemy.engine import Connection

from portal.cleanup.models import CleanupOutboxEntry
from portal.storage.base import StorageProvider

log = logging.getLogger("portal.cleanup")

OUTBOX = CleanupOutboxEntry.__table__
#: the first retry waits this long, each later one twice as long, up to BACKOFF_MAX
BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=6)
ERROR_MAX = 500


def backoff(attempts: int) -> timedelta:
    """The wait before attempt ``attempts + 1``: 30 s, 1 min, 2 min, ... at most 6 h."""
    return min(BACKOFF_FIRST * (2 ** min(max(attempts - 1, 0), 20)), BACKOFF_MAX)


def describe(exc: BaseException) -> str:
    """The error as stored in last_error: class name and message, one line, bounded."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text[:ERROR_MAX]


def record(
    conn: Connection,
    storage_type: str,
    key: str,
    reason: str,
    error: str = "",
    *,
    attempts: int = 0,
    now: datetime | None = None,
) -> None:
    """Add one pending deletion in ``conn``'s transaction (the transaction that decides it, where there is one).

    It is due at once: the next `flask storage maintain` tries it; backoff starts with maintain's own failures.
    """
    now = now or datetime.now(UTC)
    conn.execute(
        insert(OUTBOX).values(
            storage_type=storage_type,
            key=key,
            reason=reason,
            attempts=attempts,
            next_attempt_at=now,
            last_error=error[:ERROR_MAX],
            created_at=now,
        )
    )


def delete_or_record(
    engine: Engine, provider_for: Callable[[str], StorageProvider], storage_type: str, key: str, reason: str
) -> bool:
    """Delete ``key`` from the store named ``storage_type``; when that fails, record it in the outbox in its own
    short transaction. Returns True when the object is gone now, False when it waits in the outbox.

    Never raises for the store's failure (the caller is usually cleaning up after another failure); raises
    the database's error when even the outbox cannot be written, after logging the key it was for.
    """
    try:
        provider_for(storage_type).delete(key)
        return True
    except Exception as exc:  # StorageError or an OSError from a failing disk: the store did not confirm
        error = describe(exc)
    try:
        with engine.begin() as conn:
            record(conn, storage_type, key, reason, error, attempts=1)
    except Exception:
        log.error(
            "could not delete %s/%s nor record it for `flask storage maintain` (%s); "
            "`flask storage orphans` will find it",
            storage_type,
            key,
            error,
        )
        raise
    log.warning("could not delete %s/%s (%s); recorded for `flask storage maintain`", storage_type, key, error)
    return False
