"""Failed sign-in counters: a locked (account, address) pair, a growing delay for an account or an address.

Each attempt first claims a failure on its counters (compare-and-set on the row's version, so
concurrent attempts on SQLite and PostgreSQL never count past a limit), then the password is
checked, then the claim is settled: a success gives the claim back, a failure keeps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.extensions import db
from portal.models import LoginThrottle, aware, utcnow

#: the first delay of an account or address over its threshold; each further failure doubles it
FIRST_DELAY_SECONDS = 2
# Compare-and-set rounds before an attempt is turned away as "busy" (each round, one contender wins).
MAX_ROUNDS = 200
# Plain statements: no ORM bookkeeping of the rows in the session (they are read afresh each time).
_CORE = {"execution_options": {"synchronize_session": False}}


class Throttled(Exception):
    """Raised when a counter refuses an attempt; ``seconds`` is the real time left."""

    def __init__(self, seconds: float, locked: bool):
        super().__init__(f"refused for {seconds:.0f} s")
        self.seconds = max(1, math.ceil(seconds))
        self.locked = locked


@dataclass(frozen=True)
class Rule:
    """A counter's rule: ``limit`` failures, counted until ``window`` passes without one.

    With ``lock`` the key is then refused for that long (an account and address pair); without, each
    failure from the limit on makes the next attempt wait a delay that doubles, up to ``max_delay``.
    """

    key: str
    limit: int
    window: timedelta
    lock: timedelta | None = None
    max_delay: timedelta = timedelta(minutes=2)

    def delay(self, failures: int) -> timedelta:
        steps = min(failures - self.limit, 30)
        return min(timedelta(seconds=FIRST_DELAY_SECONDS * 2**steps), self.max_delay)


def claim(rule: Rule) -> None:
    """Count one failure on ``rule.key`` before the password is checked, and commit.

    Raises Throttled while the pair is locked, or its limit is taken by attempts still being
    checked, or an account or address is inside its delay.
    """
    for _ in range(MAX_ROUNDS):
        row = db.session.execute(
            select(LoginThrottle).where(LoginThrottle.key == rule.key).execution_options(populate_existing=True)
        ).scalar_one_or_none()
        now = utcnow()
        if row is None:
            if _insert_first(rule, now):
                return
            continue
        blocked_until, last = aware(row.blocked_until), aware(row.last_failure_at)
        if blocked_until is not None and blocked_until > now:
            raise Throttled((blocked_until - now).total_seconds(), locked=rule.lock is not None)
        fresh = last is None or last <= now - rule.window
        failures = 1 if fresh else row.failures + 1
        if rule.lock is not None and failures > rule.limit:
            # The limit is taken by attempts still being checked: refuse as if locked already.
            raise Throttled(rule.lock.total_seconds(), locked=True)
        values = {
            "failures": failures,
            "version": row.version + 1,
            "last_failure_at": now,
            "first_failure_at": now if fresh else row.first_failure_at,
            "blocked_until": None,
        }
        if rule.lock is None and failures >= rule.limit:
            values["blocked_until"] = now + rule.delay(failures)
        done = db.session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == rule.key, LoginThrottle.version == row.version)
            .values(**values),
            **_CORE,
        )
        db.session.commit()
        if done.rowcount == 1:
            return
    raise Throttled(FIRST_DELAY_SECONDS, locked=False)


def _insert_first(rule: Rule, now: datetime) -> bool:
    """Insert the key's row with its first failure; False when another attempt inserted it first."""
    insert = postgresql_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    blocked = now + rule.delay(1) if rule.lock is None and rule.limit <= 1 else None
    done = db.session.execute(
        insert(LoginThrottle.__table__)
        .values(
            key=rule.key,
            failures=1,
            version=1,
            first_failure_at=now,
            last_failure_at=now,
            blocked_until=blocked,
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(LoginThrottle.__table__.c.key)
    ).first()
    db.session.commit()
    return done is not None  # (psycopg reports no rowcount for ON CONFLICT DO NOTHING)


def give_back(rule: Rule) -> None:
    """Undo a claim (the password was right, or another counter refused the attempt); commits."""
    db.session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key == rule.key, LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1, version=LoginThrottle.version + 1),
        **_CORE,
    )
    db.session.commit()


def lock_if_full(rule: Rule) -> bool:
    """After a failure: lock a pair that has reached its limit (commits); True when this locked it."""
    if rule.lock is None:
        return False
    now = utcnow()
    done = db.session.execute(
        update(LoginThrottle)
        .where(
            LoginThrottle.key == rule.key,
            LoginThrottle.failures >= rule.limit,
            (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until <= now),
        )
        .values(blocked_until=now + rule.lock, version=LoginThrottle.version + 1),
        **_CORE,
    )
    db.session.commit()
    return done.rowcount == 1


def clear(*keys: str, prefix: str | None = None) -> int:
    """Forget the counters of ``keys`` (and of keys starting with ``prefix``); commits; returns how many."""
    condition = LoginThrottle.key.in_(keys)
    if prefix:
        condition = condition | LoginThrottle.key.startswith(prefix, autoescape=True)
    done = db.session.execute(delete(LoginThrottle).where(condition), **_CORE)
    db.session.commit()
    return done.rowcount


def blocked(*keys: str, prefix: str | None = None) -> int:
    """How many of these counters refuse attempts right now."""
    condition = LoginThrottle.key.in_(keys)
    if prefix:
        condition = condition | LoginThrottle.key.startswith(prefix, autoescape=True)
    return len(
        db.session.scalars(select(LoginThrottle.key).where(condition, LoginThrottle.blocked_until > utcnow())).all()
    )


def purge(older_than: timedelta) -> None:
    """Drop counters with no failure for ``older_than`` and no block left (the caller commits)."""
    now = utcnow()
    db.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - older_than,
            (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < now),
        ),
        **_CORE,
    )
