"""The cleanup jobs of `flask storage maintain`: owed deletions retried, incomplete uploads aborted, expired staging purged.

portal.upkeep.cli runs them, each under its lease, with the trash, quarantine and scrub jobs.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app

from portal.cleanup.drain import drain
from portal.cleanup.staging import purge_expired_staging
from portal.extensions import db, storage
from portal.migration import orphans
from portal.migration.service import DocumentMigrationService
from portal.storage.base import StorageError
from portal.upkeep.result import JobResult


def outbox_job(options: dict) -> JobResult:
    """Retry at most ``options['limit']`` owed deletions (the cleanup outbox's drain)."""
    report = drain(db.engine, storage.get, limit=options.get("limit"))
    result = JobResult(ok=not report.failed, items=report.deleted + report.dropped, problems=report.failed)
    result.lines.append(
        f"Cleanup outbox: {report.deleted} deleted, {report.dropped} dropped (a row points at the key again), "
        f"{report.failed} still refused."
    )
    result.errors.extend(report.errors[:20])
    return result


def uploads_job(options: dict) -> JobResult:
    """Abort multipart uploads left incomplete longer than ``options['upload_age']`` in every object store."""
    result = JobResult()
    for store in DocumentMigrationService().object_stores():
        aborted = 0
        try:
            for upload in orphans.incomplete_uploads(store.provider):
                aborted += orphans.abort_incomplete(store.provider, upload, options["upload_age"]) == "aborted"
        except StorageError as exc:
            result.ok = False
            result.errors.append(f"{store.name}: incomplete uploads not checked: {exc}")
        else:
            result.lines.append(f"{store.name}: {aborted} incomplete upload(s) aborted.")
        result.items += aborted
    if not result.lines and not result.errors:
        result.lines.append("Incomplete uploads: no object store is configured.")
    return result


def staging_job(options: dict) -> JobResult:
    """Remove staged uploads older than STAGING_MAX_AGE_HOURS (their objects through the cleanup outbox)."""
    hours = current_app.config["STAGING_MAX_AGE_HOURS"]
    removed = purge_expired_staging(db.engine, storage.get, timedelta(hours=hours))
    return JobResult(lines=[f"Staging: {removed} upload(s) older than {hours} h removed."], items=removed)
