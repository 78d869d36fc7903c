"""A run's Progress (percent, rate, time left, state): what the CLI's bar and the dashboard's JSON show."""

from __future__ import annotations

from portal.migration.models import MigrationRun, aware, utcnow
from portal.migration.reports import Progress
from portal.migration.run_state import progress_percent, run_state


def progress_of(run: MigrationRun, engine=None) -> Progress:
    """The numbers for ``run``; the rate is averaged over the run so far, time left follows from it.

    ``engine`` lets the state ask whether the run's processes are alive (see run_state).
    """
    end = aware(run.finished_at) or utcnow()
    elapsed = max((end - aware(run.started_at or run.created_at)).total_seconds(), 0.0)
    handled = run.items_done + run.items_failed + run.items_skipped
    items_rate = handled / elapsed if elapsed > 0 else 0.0
    bytes_rate = run.bytes_done / elapsed if elapsed > 0 else 0.0
    left = max(run.items_total - handled, 0)
    eta = None
    if run.is_active and items_rate > 0:
        eta = left / items_rate
    elif not run.is_active:
        eta = 0.0
    return Progress(
        run.id,
        run.kind,
        run.label,
        run.status,
        run_state(run, engine),
        not run.is_active,
        progress_percent(run),
        run.items_total,
        run.items_done,
        run.items_failed,
        run.items_skipped,
        run.bytes_total,
        run.bytes_done,
        round(elapsed, 3),
        round(items_rate, 2),
        round(bytes_rate, 1),
        None if eta is None else round(eta, 1),
        run.message,
    )
