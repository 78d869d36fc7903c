"""One lease row per job: a job runs on one host at a time, and a spaced job at most once per interval.

A claim is one conditional UPDATE: only a process that finds the job unleased (or its lease run out) and
due wins it; every database serializes two such UPDATEs of one row (PostgreSQL re-checks the WHERE of the
second after the first commits; SQLite has one writer), so two hosts can never both win.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from portal.models import aware
from portal.upkeep.models import MaintenanceJob

JOBS = MaintenanceJob.__table__
SUMMARY_MAX = 2000


def holder_name() -> str:
    """This process, as the dashboard shows who holds a lease: host, pid and a random tag (threads differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: ``won``, or why not ('running' elsewhere, 'not due'), and the row as it was read."""

    won: bool
    reason: str
    holder: str = ""
    last_started_at: datetime | None = None


def _ensure_row(engine: Engine, name: str) -> None:
    with engine.connect() as conn:
        if conn.execute(select(JOBS.c.name).where(JOBS.c.name == name)).first() is not None:
            return
    try:
        with engine.begin() as conn:
            conn.execute(insert(JOBS).values(name=name))
    except IntegrityError:
        pass  # another process inserted it first


def claim(engine: Engine, name: str, holder: str, *, now: datetime, lease: timedelta, every: timedelta) -> Claim:
    """Take job ``name`` for ``lease`` when nobody holds it and it last started at least ``every`` ago."""
    _ensure_row(engine, name)
    with engine.begin() as conn:
        won = conn.execute(
            update(JOBS)
            .where(
                JOBS.c.name == name,
                or_(JOBS.c.lease_until.is_(None), JOBS.c.lease_until < now),
                or_(JOBS.c.last_started_at.is_(None), JOBS.c.last_started_at <= now - every),
            )
            .values(lease_until=now + lease, holder=holder, last_started_at=now, last_outcome="running")
        ).rowcount
        if won:
            return Claim(True, "claimed", holder, now)
        row = conn.execute(select(JOBS).where(JOBS.c.name == name)).one()
    lease_until = aware(row.lease_until)
    if lease_until is not None and lease_until >= now:
        return Claim(False, "running", row.holder, aware(row.last_started_at))
    return Claim(False, "not due", row.holder, aware(row.last_started_at))


def finish(
    engine: Engine,
    name: str,
    holder: str,
    *,
    now: datetime,
    ok: bool,
    summary: str,
    items: int = 0,
    size: int = 0,
    problems: int = 0,
) -> None:
    """Record how the run of ``name`` that ``holder`` claimed ended, and release the lease."""
    with engine.begin() as conn:
        conn.execute(
            update(JOBS)
            .where(and_(JOBS.c.name == name, JOBS.c.holder == holder))
            .values(
                lease_until=None,
                last_finished_at=now,
                last_outcome="ok" if ok else "failed",
                last_summary=summary[:SUMMARY_MAX],
                items=items,
                bytes=size,
                problems=problems,
            )
        )


def jobs(engine: Engine) -> dict[str, MaintenanceJob]:
    """Every job row by name (detached snapshots for pages and metrics)."""
    with engine.connect() as conn:
        rows = conn.execute(select(JOBS)).all()
    return {row.name: MaintenanceJob(**row._mapping) for row in rows}
