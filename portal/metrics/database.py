"""Gauges read from the database at scrape time (staging, trash, migration runs, the scrub, upkeep jobs), with cheap count/sum queries.

A feature that keeps its state in a table adds a probe with ``@database_gauge``: a function that takes an
open connection and the current time and yields metric families. Probes run in registration order, in one
connection, on every scrape; a database failure gives ``portal_metrics_database_up 0`` instead of an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from portal.cleanup.models import CleanupOutboxEntry
from portal.migration.models import MigrationRun
from portal.models import Attachment, AttachmentStaging, aware

log = logging.getLogger("portal.metrics")

Probe = Callable[[Connection, datetime], Iterable[Metric]]
PROBES: list[Probe] = []

RUN_KINDS = ("migrate", "verify")


def database_gauge(probe: Probe) -> Probe:
    """Register ``probe`` to run on every scrape (a decorator)."""
    PROBES.append(probe)
    return probe


def _age(now: datetime, then: datetime | None) -> float:
    then = aware(then)
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


@database_gauge
def staging_gauges(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Staged uploads not (yet) saved into a document: files, bytes, and the age of the oldest."""
    table = AttachmentStaging.__table__
    rows = conn.execute(
        select(
            table.c.storage_type, func.count(), func.coalesce(func.sum(table.c.size), 0), func.min(table.c.created_at)
        ).group_by(table.c.storage_type)
    ).all()
    files = GaugeMetricFamily(
        "portal_staging_files", "Staged uploads waiting to be saved or purged, by store.", labels=("store",)
    )
    size = GaugeMetricFamily("portal_staging_bytes", "Bytes of staged uploads, by store.", labels=("store",))
    oldest = 0.0
    for store, count, total, first in rows:
        files.add_metric((store,), count)
        size.add_metric((store,), total)
        oldest = max(oldest, _age(now, first))
    yield files
    yield size
    yield GaugeMetricFamily(
        "portal_staging_oldest_age_seconds",
        "Age of the oldest staged upload (0 when none): `purge-staging` keeps it in bounds.",
        value=oldest,
    )


@database_gauge
def trash_gauges(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Attachments in the trash (their bytes are still stored until `purge-trash`): files and bytes."""
    table = Attachment.__table__
    count, total = conn.execute(
        select(func.count(), func.coalesce(func.sum(table.c.size), 0)).where(table.c.deleted_at.is_not(None))
    ).one()
    yield GaugeMetricFamily(
        "portal_trash_files", "Attachments in the trash, waiting to be restored or purged.", value=count
    )
    yield GaugeMetricFamily(
        "portal_trash_bytes", "Bytes of attachments in the trash (still held by the stores).", value=total
    )


@database_gauge
def migration_gauges(conn: Connection, now: datetime) -> Iterator[Metric]:
    """The active migration or verification run's progress and heartbeat, and when each kind last ended."""
    run = MigrationRun.__table__
    active = conn.execute(
        select(
            run.c.kind,
            run.c.items_total,
            run.c.items_done,
            run.c.items_failed,
            run.c.items_skipped,
            run.c.bytes_total,
            run.c.bytes_done,
            run.c.heartbeat_at,
            run.c.started_at,
        ).where(run.c.active.is_not(None))
    ).all()
    running = GaugeMetricFamily(
        "portal_migration_run_active", "1 while a run of this kind is active.", labels=("kind",)
    )
    items = GaugeMetricFamily(
        "portal_migration_run_items", "Rows of the active run, by state.", labels=("kind", "state")
    )
    size = GaugeMetricFamily(
        "portal_migration_run_bytes", "Bytes of the active run, by state.", labels=("kind", "state")
    )
    heartbeat = GaugeMetricFamily(
        "portal_migration_run_heartbeat_age_seconds",
        "Seconds since the active run last showed signs of life.",
        labels=("kind",),
    )
    kinds = {row.kind for row in active}
    for kind in RUN_KINDS:
        running.add_metric((kind,), 1 if kind in kinds else 0)
    for row in active:
        for state in ("total", "done", "failed", "skipped"):
            items.add_metric((row.kind, state), getattr(row, f"items_{state}") or 0)
        size.add_metric((row.kind, "total"), row.bytes_total or 0)
        size.add_metric((row.kind, "done"), row.bytes_done or 0)
        heartbeat.add_metric((row.kind,), _age(now, row.heartbeat_at or row.started_at))
    finished = GaugeMetricFamily(
        "portal_migration_run_last_finished_timestamp_seconds",
        "When a run of this kind last ended with this status (Unix time).",
        labels=("kind", "status"),
    )
    for kind, status, last in conn.execute(
        select(run.c.kind, run.c.status, func.max(run.c.finished_at))
        .where(run.c.finished_at.is_not(None))
        .group_by(run.c.kind, run.c.status)
    ).all():
        if last is not None:
            finished.add_metric((kind, status), aware(last).timestamp())
    yield from (running, items, size, heartbeat, finished)


@database_gauge
def cleanup_outbox_gauges(conn: Connection, now: datetime) -> Iterator[Metric]:
    """Object deletions the stores refused, still owed, and the age of the oldest."""
    table = CleanupOutboxEntry.__table__
    count, first = conn.execute(select(func.count(), func.min(table.c.created_at))).one()
    yield GaugeMetricFamily(
        "portal_cleanup_outbox_pending",
        "Object deletions a store refused, waiting for `flask storage maintain`.",
        value=count,
    )
    yield GaugeMetricFamily(
        "portal_cleanup_outbox_oldest_age_seconds",
        "Age of the oldest owed deletion (0 when none).",
        value=_age(now, first),
    )


@database_gauge
def upkeep_gauges(conn: Connection, now: datetime) -> Iterator[Metric]:
    """The scrub (attachments by last outcome, the oldest proof, the last pass) and each `maintain` job's last run."""
    from flask import current_app, has_app_context

    from portal.upkeep.models import MaintenanceJob
    from portal.upkeep.scrub import PROBLEM_OUTCOMES
    from portal.upkeep.status import integrity

    days = current_app.config["SCRUB_INTERVAL_DAYS"] if has_app_context() else 30
    found = integrity(conn, now, days, problems=False)
    rows = GaugeMetricFamily(
        "portal_scrub_rows", "Attachments by what the scrub last found ('never': not checked yet).", labels=("outcome",)
    )
    for outcome in ("ok", *PROBLEM_OUTCOMES):
        rows.add_metric((outcome,), found.outcomes.get(outcome, 0))
    rows.add_metric(("never",), found.never)
    yield rows
    yield GaugeMetricFamily(
        "portal_scrub_rows_proven_recently",
        "Attachments re-hashed and found right within SCRUB_INTERVAL_DAYS (all of them when the promise holds).",
        value=found.proven,
    )
    yield GaugeMetricFamily(
        "portal_scrub_oldest_proof_age_seconds",
        "Age of the oldest proof still standing: the longest-ago scrub check (a never-checked row counts from its upload).",
        value=_age(now, found.oldest),
    )
    table = MaintenanceJob.__table__
    job_rows = conn.execute(select(table)).all()
    scrub = next((row for row in job_rows if row.name == "scrub" and row.last_finished_at is not None), None)
    yield GaugeMetricFamily(
        "portal_scrub_last_finished_timestamp_seconds",
        "When the last scrub pass finished (Unix time; 0 before the first).",
        value=aware(scrub.last_finished_at).timestamp() if scrub else 0,
    )
    yield GaugeMetricFamily(
        "portal_scrub_last_problems",
        "Objects missing or wrong found by the last scrub pass.",
        value=scrub.problems if scrub else 0,
    )
    yield GaugeMetricFamily(
        "portal_scrub_last_rows_checked", "Objects the last scrub pass re-hashed.", value=scrub.items if scrub else 0
    )
    yield GaugeMetricFamily(
        "portal_scrub_last_bytes_checked", "Bytes the last scrub pass re-hashed.", value=scrub.bytes if scrub else 0
    )
    finished = GaugeMetricFamily(
        "portal_maintenance_job_last_finished_timestamp_seconds",
        "When each `flask storage maintain` job last finished (Unix time).",
        labels=("task",),
    )
    succeeded = GaugeMetricFamily(
        "portal_maintenance_job_last_ok", "1 when the job's last run went well, 0 when it failed.", labels=("task",)
    )
    running = GaugeMetricFamily(
        "portal_maintenance_job_running", "1 while a host holds the job's lease.", labels=("task",)
    )
    for row in job_rows:
        lease = aware(row.lease_until)
        running.add_metric((row.name,), 1 if lease is not None and lease > now else 0)
        if row.last_finished_at is not None:
            finished.add_metric((row.name,), aware(row.last_finished_at).timestamp())
            succeeded.add_metric((row.name,), 1 if row.last_outcome == "ok" else 0)
    yield from (finished, succeeded, running)


class DatabaseGauges(Collector):
    """Runs every probe against ``engine`` when collected (i.e. once per scrape)."""

    def __init__(self, engine: Engine, probes: Iterable[Probe] | None = None) -> None:
        self.engine = engine
        self.probes = list(PROBES if probes is None else probes)

    def collect(self) -> Iterator[Metric]:
        families: list[Metric] = []
        try:
            with self.engine.connect() as conn:
                now = datetime.now(UTC)
                for probe in self.probes:
                    families.extend(probe(conn, now))
            up = 1
        except SQLAlchemyError as exc:
            # The scrape still answers (request counters matter most when the database is down).
            log.warning("metrics: database gauges unavailable: %s", type(exc).__name__)
            families, up = [], 0
        yield from families
        yield GaugeMetricFamily(
            "portal_metrics_database_up", "1 when this scrape could read the database-backed gauges, else 0.", value=up
        )
