"""Run state in the database: the single active run, the processes working on it, heartbeats and cancel."""
from __future__ import annotations

import json
import os
import socket
import threading
import weakref
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.migration.models import MigrationItem, MigrationRun, MigrationWorker, aware, utcnow

RUN = MigrationRun.__table__
WORKER = MigrationWorker.__table__
ITEM = MigrationItem.__table__

#: seconds between a worker's heartbeats
HEARTBEAT_SECONDS = 2.0
#: a worker silent for this long is taken for dead, its claims released and its run shown as stalled
STALE_AFTER = timedelta(seconds=30)
#: how long an active run without a live worker still counts as starting rather than stalled
STARTING_GRACE = timedelta(seconds=3 * HEARTBEAT_SECONDS)
HOST = socket.gethostname()
TARGETS = ("s3", "minio")
VERIFY_MODES = ("auto", "readback")


class MigrationError(Exception):
    """A run cannot start or go on; the message says why and what to do."""


class RunConflict(MigrationError):
    """Another run is active; ``run`` is that run (the message points at it)."""

    def __init__(self, run: MigrationRun | None, detail: str = ""):
        self.run = run
        if run is None:
            message = "another run started at the same moment; try again"
        else:
            message = (f"run #{run.id} ({run.label}, {progress_percent(run)}% done, {run_state(run)}) is already "
                       f"active; follow it at /admin/storage/runs/{run.id}")
        super().__init__(f"{message}{'; ' + detail if detail else ''}")


@dataclass(frozen=True)
class MigrationOptions:
    """What a run does; stored with the run so that every process working on it does the same."""

    target: str = "s3"
    batch_size: int = 100
    workers: int = 4
    delete_source: bool = False
    include_staging: bool = True
    limit: int | None = None
    verify: str = "auto"
    deep: bool = False
    retry_of: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise MigrationError(f"target {self.target!r} is not an object store; use one of {', '.join(TARGETS)}")
        if not 1 <= self.batch_size <= 10_000:
            raise MigrationError("batch size must be from 1 to 10000")
        if not 1 <= self.workers <= 64:
            raise MigrationError("workers must be from 1 to 64")
        if self.limit is not None and self.limit < 1:
            raise MigrationError("limit must be at least 1")
        if self.verify not in VERIFY_MODES:
            raise MigrationError(f"verify must be one of {', '.join(VERIFY_MODES)}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "MigrationOptions":
        values = json.loads(text or "{}")
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        return cls(**known)


# -- writing ---------------------------------------------------------------------------------------

_SQLITE_WRITERS: "weakref.WeakKeyDictionary[Engine, threading.Lock]" = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


@contextmanager
def writing(engine: Engine):
    """``engine.begin()``; on SQLite this process's writers first queue on one lock.

    SQLite admits one writer at a time and makes the others retry with growing sleeps (up to 100 ms
    each), which would idle every copying thread; a lock hands the database over at once instead.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn


# -- reading --------------------------------------------------------------------------------------


def fetch_run(engine: Engine, run_id: int) -> MigrationRun | None:
    """A detached, fully loaded copy of run ``run_id`` read in its own short session."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(MigrationRun, run_id)


def active_run(engine: Engine) -> MigrationRun | None:
    """The run holding the active slot, if any."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(MigrationRun).where(MigrationRun.active.is_not(None))).first()


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def worker_alive(worker, now: datetime | None = None) -> bool:
    """Not stopped, heard from within STALE_AFTER, and (on this host) its process still exists."""
    if worker.stopped_at is not None:
        return False
    if aware(worker.heartbeat_at) < (now or utcnow()) - STALE_AFTER:
        return False
    return worker.host != HOST or pid_alive(worker.pid)


def live_workers(engine: Engine, run_id: int) -> list:
    with engine.connect() as conn:
        rows = conn.execute(select(WORKER).where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_(None))).all()
    now = utcnow()
    return [row for row in rows if worker_alive(row, now)]


def run_state(run: MigrationRun, engine: Engine | None = None) -> str:
    """The status to show: the stored one, or 'stalled' for an active run that no live process works on.

    A run just created gets STARTING_GRACE for its process to start before it counts as stalled.
    """
    if not run.is_active:
        return run.status
    heartbeat = aware(run.heartbeat_at or run.created_at)
    if engine is None:
        return run.status if heartbeat >= utcnow() - STALE_AFTER else "stalled"
    if live_workers(engine, run.id) or heartbeat >= utcnow() - STARTING_GRACE:
        return run.status
    return "stalled"


def progress_percent(run: MigrationRun) -> int:
    finished = run.items_done + run.items_failed + run.items_skipped
    if run.status == "completed":
        return 100
    if not run.items_total:
        return 0
    return min(100, int(finished * 100 / run.items_total))


# -- starting, joining, ending ------------------------------------------------------------------


def create_run(engine: Engine, kind: str, options: MigrationOptions, *, items_total: int = 0, bytes_total: int = 0,
               created_by: int | None = None, created_from: str = "cli") -> MigrationRun:
    """Insert a run holding the active slot. Raises RunConflict naming the active run when there is one."""
    now = utcnow()
    values = dict(kind=kind, target=options.target if kind == "migrate" else "", status="running", active=1,
                  options=options.to_json(), retry_of=options.retry_of, items_total=items_total,
                  bytes_total=bytes_total, items_claimed=0, items_done=0, bytes_done=0, items_failed=0,
                  items_skipped=0, created_by=created_by, created_from=created_from, created_at=now,
                  started_at=now, heartbeat_at=now)
    try:
        with writing(engine) as conn:
            run_id = conn.execute(insert(RUN).values(**values)).inserted_primary_key[0]
    except IntegrityError:
        raise RunConflict(active_run(engine)) from None
    return fetch_run(engine, run_id)


def attach_worker(engine: Engine, run_id: int, *, exclusive: bool) -> int:
    """Register this process as a worker of the run; returns its id.

    ``exclusive`` (SQLite: one process at a time) refuses with RunConflict while another live worker
    exists. Workers that died are marked stopped first, so their claims can be released.
    """
    now = utcnow()
    dead = [row.id for row in _unstopped(engine, run_id) if not worker_alive(row, now)]
    if dead:
        with writing(engine) as conn:
            conn.execute(update(WORKER).where(WORKER.c.id.in_(dead)).values(stopped_at=now))
    if not exclusive:
        with writing(engine) as conn:
            return conn.execute(insert(WORKER).values(run_id=run_id, host=HOST, pid=os.getpid(), started_at=now,
                                                      heartbeat_at=now)).inserted_primary_key[0]
    # One statement, so two processes cannot both see "nobody" and both insert.
    others = exists().where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_(None))
    source = select(*[literal(value) for value in (run_id, HOST, os.getpid(), now, now)]).where(~others)
    with writing(engine) as conn:
        worker_id = conn.execute(insert(WORKER).from_select(
            ["run_id", "host", "pid", "started_at", "heartbeat_at"], source).returning(WORKER.c.id)).scalar()
    if worker_id is None:
        busy = live_workers(engine, run_id)
        where = f" by process {busy[0].pid} on {busy[0].host}" if busy else ""
        raise RunConflict(fetch_run(engine, run_id), f"it is being worked on{where}; SQLite allows one "
                          "migration process at a time")
    return worker_id


def _unstopped(engine: Engine, run_id: int) -> list:
    with engine.connect() as conn:
        return conn.execute(select(WORKER).where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_(None))).all()


def release_dead_claims(engine: Engine, run_id: int) -> int:
    """Forget the unfinished claims of stopped or dead workers so their rows can be claimed again."""
    now = utcnow()
    dead = [row.id for row in _unstopped(engine, run_id) if not worker_alive(row, now)]
    with writing(engine) as conn:
        if dead:
            conn.execute(update(WORKER).where(WORKER.c.id.in_(dead)).values(stopped_at=now))
        stopped = select(WORKER.c.id).where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_not(None))
        released = conn.execute(delete(ITEM).where(
            ITEM.c.run_id == run_id, ITEM.c.status == "claimed",
            (ITEM.c.worker_id.in_(stopped)) | ITEM.c.worker_id.is_(None))).rowcount
        if released:
            conn.execute(update(RUN).where(RUN.c.id == run_id).values(items_claimed=RUN.c.items_claimed - released))
    return released


def heartbeat(engine: Engine, run_id: int, worker_id: int) -> str:
    """Record that the worker lives; returns the run's status (a worker stops on 'cancelling')."""
    now = utcnow()
    with writing(engine) as conn:
        conn.execute(update(WORKER).where(WORKER.c.id == worker_id).values(heartbeat_at=now))
        conn.execute(update(RUN).where(RUN.c.id == run_id, RUN.c.active.is_not(None)).values(heartbeat_at=now))
        return conn.execute(select(RUN.c.status).where(RUN.c.id == run_id)).scalar_one()


def stop_worker(engine: Engine, worker_id: int) -> None:
    with writing(engine) as conn:
        conn.execute(update(WORKER).where(WORKER.c.id == worker_id).values(stopped_at=utcnow()))


def finish_run(engine: Engine, run_id: int, *, status: str | None = None, message: str | None = None) -> bool:
    """Release the active slot once no live worker is left; returns True when this call finished the run.

    The status is ``status`` when given (e.g. 'failed'), 'cancelled' after a cancel, else 'completed'.
    """
    if live_workers(engine, run_id):
        return False
    now = utcnow()
    with writing(engine) as conn:
        current = conn.execute(select(RUN.c.status, RUN.c.items_failed, RUN.c.message).where(RUN.c.id == run_id)).one()
        final = status or {"cancelling": "cancelled", "failing": "failed"}.get(current.status, "completed")
        conn.execute(delete(ITEM).where(ITEM.c.run_id == run_id, ITEM.c.status == "claimed"))
        done = conn.execute(update(RUN).where(RUN.c.id == run_id, RUN.c.active.is_not(None)).values(
            status=final, active=None, finished_at=now, heartbeat_at=now,
            message=message or current.message or _default_message(final, current.items_failed))).rowcount
    return done == 1


def _default_message(status: str, failed: int) -> str:
    if status == "cancelled":
        return "cancelled; rows not reached stay where they were and a new run picks them up"
    if failed:
        return f"finished with {failed} failed item(s); their rows still read from their local files"
    return "finished"


def request_cancel(engine: Engine, run_id: int) -> MigrationRun:
    """Ask the run's workers to stop after their current items; a run nobody works on ends at once.

    Raises MigrationError when the run is not active.
    """
    with writing(engine) as conn:
        changed = conn.execute(update(RUN).where(RUN.c.id == run_id, RUN.c.status == "running")
                               .values(status="cancelling")).rowcount
    if not changed:
        raise MigrationError(f"run #{run_id} is not running (or is already stopping), so there is nothing to cancel")
    release_dead_claims(engine, run_id)
    finish_run(engine, run_id)
    return fetch_run(engine, run_id)


def add_counts(conn, run_id: int, **deltas: int) -> None:
    """Add to the run's counters inside the caller's transaction."""
    conn.execute(update(RUN).where(RUN.c.id == run_id).values(
        {name: getattr(RUN.c, name) + value for name, value in deltas.items() if value}))


def item_counts(engine: Engine, run_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(ITEM.c.status, func.count()).where(ITEM.c.run_id == run_id)
                            .group_by(ITEM.c.status)).all()
    return {status: count for status, count in rows}


def recent_runs(engine: Engine, limit: int = 20) -> list[MigrationRun]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(MigrationRun).order_by(MigrationRun.id.desc()).limit(limit)))


def run_items(engine: Engine, run_id: int, statuses: tuple[str, ...], limit: int = 200) -> list[MigrationItem]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(MigrationItem).where(
            and_(MigrationItem.run_id == run_id, MigrationItem.status.in_(statuses)))
            .order_by(MigrationItem.id).limit(limit)))
