"""A run's life in the database: created in the active slot, worked on by registered processes, ended once."""

from __future__ import annotations

import os

from sqlalchemy import Engine, delete, exists, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from portal import audit, metrics
from portal.migration.errors import MigrationError, RunConflict
from portal.migration.models import ITEM, RUN, WORKER, MigrationRun, utcnow
from portal.migration.options import MigrationOptions
from portal.migration.processes import HOST, live_workers, unstopped_workers, worker_alive
from portal.migration.run_state import active_run, fetch_run
from portal.migration.transactions import writing


def create_run(
    engine: Engine,
    kind: str,
    options: MigrationOptions,
    *,
    items_total: int = 0,
    bytes_total: int = 0,
    created_by: int | None = None,
    created_from: str = "cli",
) -> MigrationRun:
    """Insert a run holding the active slot. Raises RunConflict naming the active run when there is one."""
    now = utcnow()
    values = dict(
        kind=kind,
        target=options.target if kind == "migrate" else "",
        source=options.source_store if kind == "migrate" else "",
        status="running",
        active=1,
        options=options.to_json(),
        retry_of=options.retry_of,
        items_total=items_total,
        bytes_total=bytes_total,
        items_claimed=0,
        items_done=0,
        bytes_done=0,
        items_failed=0,
        items_skipped=0,
        created_by=created_by,
        created_from=created_from,
        created_at=now,
        started_at=now,
        heartbeat_at=now,
    )
    try:
        with writing(engine) as conn:
            run_id = conn.execute(insert(RUN).values(**values)).inserted_primary_key[0]
            _audit(conn, kind, "start", run_id, target=values["target"], items=items_total, bytes=bytes_total)
    except IntegrityError:
        raise RunConflict(active_run(engine)) from None
    return fetch_run(engine, run_id)


def attach_worker(engine: Engine, run_id: int, *, exclusive: bool) -> int:
    """Register this process as a worker of the run; returns its id.

    ``exclusive`` (SQLite: one process at a time) refuses with RunConflict while another live worker
    exists. Workers that died are marked stopped first, so their claims can be released.
    """
    now = utcnow()
    dead = [row.id for row in unstopped_workers(engine, run_id) if not worker_alive(row, now)]
    if dead:
        with writing(engine) as conn:
            conn.execute(update(WORKER).where(WORKER.c.id.in_(dead)).values(stopped_at=now))
    if not exclusive:
        with writing(engine) as conn:
            return conn.execute(
                insert(WORKER).values(run_id=run_id, host=HOST, pid=os.getpid(), started_at=now, heartbeat_at=now)
            ).inserted_primary_key[0]
    # One statement, so two processes cannot both see "nobody" and both insert.
    others = exists().where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_(None))
    source = select(*[literal(value) for value in (run_id, HOST, os.getpid(), now, now)]).where(~others)
    with writing(engine) as conn:
        worker_id = conn.execute(
            insert(WORKER)
            .from_select(["run_id", "host", "pid", "started_at", "heartbeat_at"], source)
            .returning(WORKER.c.id)
        ).scalar()
    if worker_id is None:
        busy = live_workers(engine, run_id)
        where = f" by process {busy[0].pid} on {busy[0].host}" if busy else ""
        raise RunConflict(
            fetch_run(engine, run_id), f"it is being worked on{where}; SQLite allows one migration process at a time"
        )
    return worker_id


def release_dead_claims(engine: Engine, run_id: int) -> int:
    """Forget the unfinished claims of stopped or dead workers so their rows can be claimed again."""
    now = utcnow()
    dead = [row.id for row in unstopped_workers(engine, run_id) if not worker_alive(row, now)]
    with writing(engine) as conn:
        if dead:
            conn.execute(update(WORKER).where(WORKER.c.id.in_(dead)).values(stopped_at=now))
        stopped = select(WORKER.c.id).where(WORKER.c.run_id == run_id, WORKER.c.stopped_at.is_not(None))
        released = conn.execute(
            delete(ITEM).where(
                ITEM.c.run_id == run_id,
                ITEM.c.status == "claimed",
                (ITEM.c.worker_id.in_(stopped)) | ITEM.c.worker_id.is_(None),
            )
        ).rowcount
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
    """Mark the worker stopped (its unfinished claims may then be released)."""
    with writing(engine) as conn:
        conn.execute(update(WORKER).where(WORKER.c.id == worker_id).values(stopped_at=utcnow()))


def fail_run(engine: Engine, run_id: int, message: str) -> None:
    """Set an active run 'failing' with ``message``: every worker of it stops after its current items."""
    with writing(engine) as conn:
        conn.execute(
            update(RUN)
            .where(RUN.c.id == run_id, RUN.c.active.is_not(None))
            .values(status="failing", message=message[:2000])
        )


def finish_run(engine: Engine, run_id: int, *, status: str | None = None, message: str | None = None) -> bool:
    """Release the active slot once no live worker is left; returns True when this call finished the run.

    The status is ``status`` when given (e.g. 'failed'), 'cancelled' after a cancel, else 'completed'.
    """
    if live_workers(engine, run_id):
        return False
    now = utcnow()
    with writing(engine) as conn:
        current = conn.execute(
            select(
                RUN.c.kind, RUN.c.status, RUN.c.message, RUN.c.source, *[RUN.c[name] for name in AUDITED_COUNTS]
            ).where(RUN.c.id == run_id)
        ).one()
        final = status or {"cancelling": "cancelled", "failing": "failed"}.get(current.status, "completed")
        if final == "completed" and current.kind == "migrate" and current.items_failed and not current.items_done:
            final = "failed"  # every file it tried failed: calling that "completed" would be untrue
        conn.execute(delete(ITEM).where(ITEM.c.run_id == run_id, ITEM.c.status == "claimed"))
        done = conn.execute(
            update(RUN)
            .where(RUN.c.id == run_id, RUN.c.active.is_not(None))
            .values(
                status=final,
                active=None,
                finished_at=now,
                heartbeat_at=now,
                message=message
                or current.message
                or _default_message(current.kind, current.source, final, current.items_failed),
            )
        ).rowcount
        if done == 1:
            counts = {name: current._mapping[name] for name in AUDITED_COUNTS}
            _audit(conn, current.kind, "finish", run_id, _outcome(final, current.items_failed), status=final, **counts)
    if done == 1:
        metrics.run_finished(current.kind, final)
    return done == 1


#: the counters a run's "finish" audit event carries
AUDITED_COUNTS = ("target", "items_total", "items_done", "items_failed", "items_skipped", "bytes_done")


def _audit(conn, kind: str, verb: str, run_id: int, outcome: str = "success", **detail) -> None:
    """The run's audit event (migration.start, verification.finish, ...), in the caller's transaction."""
    event = f"{'migration' if kind == 'migrate' else 'verification'}.{verb}"
    audit.record(event, outcome=outcome, object_type="migration_run", object_id=run_id, detail=detail, connection=conn)


def _outcome(status: str, failed: int) -> str:
    if status == "cancelled":
        return "cancelled"
    return "failure" if status == "failed" or failed else "success"


def _default_message(kind: str, source: str | None, status: str, failed: int) -> str:
    if status == "cancelled":
        return "cancelled; rows not reached stay where they were and a new run picks them up"
    if kind != "migrate":
        return f"finished with {failed} problem(s) found" if failed else "finished"
    where = "on the local disk" if source in (None, "local") else f"in {source}"
    if status == "failed" and failed:
        return f"all {failed} file(s) failed, nothing was moved; their rows were left as they were, pointing {where}"
    if failed:
        return f"finished with {failed} failed file(s); their rows were left as they were, pointing {where}"
    return "finished"


def request_cancel(engine: Engine, run_id: int) -> MigrationRun:
    """Ask the run's workers to stop after their current items; a run nobody works on ends at once.

    Raises MigrationError when the run is not active.
    """
    with writing(engine) as conn:
        changed = conn.execute(
            update(RUN).where(RUN.c.id == run_id, RUN.c.status == "running").values(status="cancelling")
        ).rowcount
        if changed:
            _audit(conn, conn.execute(select(RUN.c.kind).where(RUN.c.id == run_id)).scalar_one(), "cancel", run_id)
    if not changed:
        raise MigrationError(f"run #{run_id} is not running (or is already stopping), so there is nothing to cancel")
    release_dead_claims(engine, run_id)
    finish_run(engine, run_id)
    return fetch_run(engine, run_id)


def add_counts(conn, run_id: int, **deltas: int) -> None:
    """Add to the run's counters inside the caller's transaction."""
    conn.execute(
        update(RUN)
        .where(RUN.c.id == run_id)
        .values({name: getattr(RUN.c, name) + value for name, value in deltas.items() if value})
    )
