"""The start-up retry: a served portal works off a small batch of owed deletions in the background when it starts."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from portal.cleanup.drain import DrainReport, drain
from portal.extensions import db, storage

log = logging.getLogger("portal.cleanup")


def retry_owed_deletions(app: Flask) -> DrainReport | None:
    """Retry at most CLEANUP_STARTUP_LIMIT due entries of the cleanup outbox, taking no new one after
    CLEANUP_STARTUP_SECONDS; returns what it did, or None when it is turned off or the database failed.

    Never raises: a start-up must not fail because a store or the database is still coming up.
    """
    limit = app.config.get("CLEANUP_STARTUP_LIMIT")
    if not limit:
        return None
    with app.app_context():
        try:
            report = drain(db.engine, storage.get, limit=limit, budget=app.config["CLEANUP_STARTUP_SECONDS"])
        except Exception as exc:  # the database is not there yet: `flask storage maintain` does it later
            log.warning("start-up retry of owed deletions skipped: %s", exc)
            return None
    if report.deleted or report.dropped or report.failed:
        log.info(
            "start-up retry of owed deletions: %d deleted, %d dropped (in use again), %d still refused",
            report.deleted,
            report.dropped,
            report.failed,
        )
    return report


def start_retry(app: Flask) -> threading.Thread | None:
    """Run retry_owed_deletions in a daemon thread, so serving never waits for it (gunicorn.conf.py calls this
    in the first worker). Returns the thread, or None when CLEANUP_STARTUP_LIMIT is 0."""
    if not app.config.get("CLEANUP_STARTUP_LIMIT"):
        return None
    thread = threading.Thread(target=retry_owed_deletions, args=(app,), name="cleanup-startup-retry", daemon=True)
    thread.start()
    return thread
