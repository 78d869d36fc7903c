"""The cleanup outbox table: recording an owed object deletion, withdrawing one, and the retry backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.engine import Connection

from portal.cleanup.models import CleanupOutboxEntry

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
) -> int:
    """Add one pending deletion in ``conn``'s transaction (the transaction that decides it, where there is one);
    returns its id.

    It is due at once: the caller tries it straight after its commit (drain.settle), and the next
    `flask storage maintain` retries it if the store refused; backoff starts with the failures.
    """
    now = now or datetime.now(UTC)
    result = conn.execute(
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
    return result.inserted_primary_key[0]


def forget(conn: Connection, storage_type: str, key: str) -> int:
    """Withdraw the pending deletions of ``key`` in ``conn``'s transaction, for a row that is about to point at it
    again (a restore, a re-upload under the same key); returns how many there were.

    A drain deleting that key right now holds its entry locked (PostgreSQL: the row lock; SQLite: the write
    lock) until the delete is settled, so this waits for it: afterwards the object is either still there
    with no deletion owed, or already gone (and a re-upload written after this call is not touched).
    """
    return conn.execute(delete(OUTBOX).where(OUTBOX.c.storage_type == storage_type, OUTBOX.c.key == key)).rowcount
