"""What the dashboard and the CLI count and list: files per location, stored totals, run history, failures."""

from __future__ import annotations

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.orm import Session

from portal.migration.claims import TABLES, stored
from portal.migration.models import MigrationItem, MigrationRun

#: the item statuses listed as a run's failures
FAILURE_STATUSES = ("failed", "skipped", "mismatch")


def location_stats(engine: Engine) -> list[dict]:
    """Files and bytes per table and location ('legacy', 'local', 's3', 'minio') for the dashboard."""
    stats = []
    with engine.connect() as conn:
        for name, table in TABLES.items():
            legacy = conn.execute(
                select(func.count(), func.coalesce(func.sum(table.c.size), 0)).where(table.c.storage_path.is_(None))
            ).one()
            if legacy[0]:
                stats.append({"table": name, "location": "legacy", "files": legacy[0], "bytes": int(legacy[1])})
            grouped = conn.execute(
                select(table.c.storage_type, func.count(), func.coalesce(func.sum(table.c.size), 0))
                .where(table.c.storage_path.is_not(None))
                .group_by(table.c.storage_type)
                .order_by(table.c.storage_type)
            ).all()
            stats.extend(
                {"table": name, "location": kind, "files": count, "bytes": int(total)} for kind, count, total in grouped
            )
    return stats


def stored_totals(engine: Engine) -> tuple[int, int]:
    """(rows, bytes recorded in their size column) kept in a store under a key: what a verification checks."""
    items = size = 0
    with engine.connect() as conn:
        for table in TABLES.values():
            count, total = conn.execute(
                select(func.count(), func.coalesce(func.sum(table.c.size), 0)).where(stored(table))
            ).one()
            items, size = items + count, size + int(total)
    return items, size


def recent_runs(engine: Engine, limit: int = 20) -> list[MigrationRun]:
    """The latest runs, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(MigrationRun).order_by(MigrationRun.id.desc()).limit(limit)))


def run_items(engine: Engine, run_id: int, statuses: tuple[str, ...], limit: int = 200) -> list[MigrationItem]:
    """The first ``limit`` items of a run with one of ``statuses``, in the order they were claimed."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(MigrationItem)
                .where(and_(MigrationItem.run_id == run_id, MigrationItem.status.in_(statuses)))
                .order_by(MigrationItem.id)
                .limit(limit)
            )
        )
