"""The processes working on a run: which are alive (heartbeat, and on this host a live, non-zombie pid)."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from portal.migration.models import WORKER, aware, utcnow

#: seconds between a worker's heartbeats
HEARTBEAT_SECONDS = 2.0
#: a worker silent for this long is taken for dead, its claims released and its run shown as stalled
STALE_AFTER = timedelta(seconds=30)
HOST = socket.gethostname()


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


def unstopped_workers(engine: Engine, run_id: int) -> list:
    """The worker rows of a run not marked stopped (some may be dead)."""
    with engine.connect() as conn:
        return conn.execute(select(WORKER).where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_(None))).all()


def live_workers(engine: Engine, run_id: int) -> list:
    """The worker rows of a run whose process is alive."""
    now = utcnow()
    return [row for row in unstopped_workers(engine, run_id) if worker_alive(row, now)]
