"""`flask storage maintain`: owed deletions retried, incomplete uploads aborted, expired staging purged."""

from __future__ import annotations

from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.cleanup.drain import drain, pending
from portal.cleanup.staging import purge_expired_staging
from portal.extensions import db, storage
from portal.formatting import parse_duration
from portal.migration import orphans
from portal.migration.service import DocumentMigrationService
from portal.storage.base import StorageError


@click.command("maintain")
@click.option(
    "--limit",
    default=10_000,
    show_default=True,
    type=click.IntRange(1),
    help="Retry at most this many owed deletions in this run.",
)
@click.option(
    "--upload-age", default="1d", show_default=True, help="Abort multipart uploads left incomplete at least this long."
)
@with_appcontext
def maintain_command(limit: int, upload_age: str) -> None:
    """Retry owed deletions (the cleanup outbox), abort old incomplete uploads, purge expired staging.

    Safe to run from several hosts at once; exit 1 when a deletion is still owed or a store failed.
    """
    try:
        age = parse_duration(upload_age)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--upload-age") from None
    engine, failed = db.engine, False
    report = drain(engine, storage.get, limit=limit)
    click.echo(
        f"Cleanup outbox: {report.deleted} deleted, {report.dropped} dropped (a row points at the key again), "
        f"{report.failed} still refused."
    )
    for error in report.errors[:20]:
        click.echo(f"  {error}", err=True)
    for store in DocumentMigrationService().object_stores():
        aborted = 0
        try:
            for upload in orphans.incomplete_uploads(store.provider):
                aborted += orphans.abort_incomplete(store.provider, upload, age) == "aborted"
        except StorageError as exc:
            failed = True
            click.echo(f"{store.name}: incomplete uploads not checked: {exc}", err=True)
        else:
            click.echo(f"{store.name}: {aborted} incomplete upload(s) aborted.")
    hours = current_app.config["STAGING_MAX_AGE_HOURS"]
    removed = purge_expired_staging(engine, storage.get, timedelta(hours=hours))
    click.echo(f"Staging: {removed} upload(s) older than {hours} h removed.")
    waiting, _ = pending(engine)
    if waiting:
        click.echo(f"{waiting} deletion(s) still owed; they are retried with backoff by the next run.")
    if failed or waiting:
        raise SystemExit(1)
