"""Reading a run's state: the run itself, the active one, and the status and percent to show for it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from portal.migration.models import MigrationRun, aware, utcnow
from portal.migration.processes import HEARTBEAT_SECONDS, STALE_AFTER, live_workers

#: how long an active run without a live worker still counts as starting rather than stalled
STARTING_GRACE = timedelta(seconds=3 * HEARTBEAT_SECONDS)


def fetch_run(engine: Engine, run_id: int) -> MigrationRun | None:
    """A detached, fully loaded copy of run ``run_id`` read in its own short session."""
    with Session(engine, expire_on_commit=False) as session:
        return session.get(MigrationRun, run_id)


def active_run(engine: Engine) -> MigrationRun | None:
    """The run holding the active slot, if any."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(select(MigrationRun).where(MigrationRun.active.is_not(None))).first()


def run_state(run: MigrationRun, engine: Engine | None = None) -> str:
    """The status to show: the stored one, or 'stalled' for an active run that no live process works on.

    Without ``engine`` the run's own heartbeat decides; with it, its workers' processes do, and a run
    just created gets STARTING_GRACE for its process to start before it counts as stalled.
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
    """How far the run is, 0 to 100 (100 once completed)."""
    finished = run.items_done + run.items_failed + run.items_skipped
    if run.status == "completed":
        return 100
    if not run.items_total:
        return 0
    return min(100, int(finished * 100 / run.items_total))
