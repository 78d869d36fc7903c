"""`flask storage migrate|verify|cancel|purge-quarantine|orphans` (COMMANDS), their output, a run process's heap."""

from __future__ import annotations

import gc
import sys
import time

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from portal import audit
from portal.cli_options import duration
from portal.formatting import format_duration, format_size
from portal.migration.errors import MigrationError, RunConflict
from portal.migration.models import MigrationRun
from portal.migration.options import STORES, TARGETS, VERIFY_MODES, MigrationOptions
from portal.migration.reports import Progress
from portal.migration.service import DocumentMigrationService
from portal.storage.base import StorageError

#: how often a progress line is written when stderr is not a terminal (logs, CI)
LOG_EVERY = 5.0
FAILURES_SHOWN = 20


def progress_line(progress: Progress, width: int = 24) -> str:
    """`` 42% [##########..............] 840/2000 files, 13.1 MiB/31.3 MiB, 412 files/s, 6.4 MiB/s, 2 failed, ETA 3 s``"""
    filled = int(width * progress.percent / 100)
    handled = progress.items_done + progress.items_failed + progress.items_skipped
    unit = "objects" if progress.kind == "verify" else "files"
    parts = [
        f"{progress.percent:3d}% [{'#' * filled}{'.' * (width - filled)}] {handled}/{progress.items_total} {unit}",
        f"{format_size(progress.bytes_done)}/{format_size(progress.bytes_total)}",
        f"{progress.items_per_second:.0f} {unit}/s",
        f"{format_size(progress.bytes_per_second)}/s",
    ]
    if progress.items_failed:
        parts.append(f"{progress.items_failed} {'mismatched' if progress.kind == 'verify' else 'failed'}")
    parts.append(f"ETA {format_duration(progress.eta_seconds)}")
    return ", ".join(parts)


def settle_heap() -> None:
    """In a process that exists for one run, once the app is built: move everything alive now out of the
    garbage collector's reach. Its full collections, which stop every copying thread, then walk only what
    the run allocates, and the interpreter's exit does not walk the whole heap again (about 0.4 s for the
    ~150,000 objects of the libraries). Never in a shared process (a web worker, the tests' runner)."""
    gc.freeze()


class ProgressPrinter:
    """One progress line, redrawn in place on a terminal, or written every LOG_EVERY seconds to a log."""

    def __init__(self, stream=None, service: DocumentMigrationService | None = None):
        self.stream = stream or sys.stderr
        self.service = service or DocumentMigrationService()
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._last = 0.0
        self._drawn = False
        self._line = ""

    def update(self, run: MigrationRun) -> None:
        line = progress_line(self.service.progress(run, ask_workers=False))
        now = time.monotonic()
        if line == self._line:
            return
        if self.tty:
            self.stream.write("\r" + line.ljust(110))
            self._drawn = True
        elif now - self._last >= LOG_EVERY or not run.is_active:
            self.stream.write(line + "\n")
        else:
            return
        self._last, self._line = now, line
        self.stream.flush()

    def finish(self, run: MigrationRun) -> None:
        self.update(run)
        if self._drawn:
            self._drawn = False
            self.stream.write("\n")


def _fail(message: str, code: int = 1):
    click.echo(f"Error: {message}", err=True)
    raise SystemExit(code)


def _database_error(exc: SQLAlchemyError) -> str:
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return f"the database refused ({type(exc).__name__}: {detail}); is it reachable and at head (`flask db upgrade`)?"


def _choose_run(
    service: DocumentMigrationService, options: MigrationOptions, run_id: int | None, join: bool
) -> MigrationRun:
    """The run this process works on (see DocumentMigrationService.choose_run), announced."""
    choice = service.choose_run(options, run_id=run_id, join=join)
    run = choice.run
    if choice.how == "resumed":
        click.echo(f"Resuming run #{run.id} ({run.label}), which no process was working on; it keeps its own options.")
    elif choice.how == "joined":
        click.echo(f"Joining run #{run.id} ({run.label}); it keeps its own options.")
    elif choice.how == "joined-new":
        click.echo(f"Joining run #{run.id} ({run.label}).")
    return run


def _print_dry_run(report, source: str = "local") -> None:
    what = "local file" if source == "local" else f"object in {source}"
    click.echo("Dry run: nothing was copied, switched or deleted.")
    for table, files in report.files.items():
        click.echo(f"  {table}: {files} file(s), {format_size(report.bytes[table])} would move")
    click.echo(f"  total: {report.total_files} file(s), {format_size(report.total_bytes)} ({report.total_bytes} bytes)")
    if report.missing_count:
        click.echo(f"{report.missing_count} row(s) would fail because their {what} is missing:")
        for table, row_id, source, reason in report.missing:
            click.echo(f"  {table} #{row_id}: {source} ({reason})")
    else:
        click.echo(f"No row has lost its {what}.")


def _summary(service: DocumentMigrationService, run: MigrationRun) -> None:
    progress = service.progress(run, ask_workers=False)
    click.echo(
        f"Run #{run.id} {run.status}: {run.items_done} moved ({format_size(run.bytes_done)}), "
        f"{run.items_failed} failed, {run.items_skipped} skipped in {format_duration(progress.elapsed_seconds)} "
        f"({progress.items_per_second:.0f} files/s, {format_size(progress.bytes_per_second)}/s)."
    )
    if run.message and run.message != "finished":
        click.echo(f"  {run.message}")
    shown = service.failures(run.id, FAILURES_SHOWN)
    for item in shown:
        click.echo(
            f"  {item.status}: {item.table_name} #{item.row_id} ({item.source or item.object_key}): {item.error}"
        )
    more = run.items_failed + run.items_skipped - len(shown)
    if more > 0:
        click.echo(f"  ... and {more} more: see /admin/storage/runs/{run.id}")


@click.command("migrate")
@click.argument("target", type=click.Choice(TARGETS))
@click.option(
    "--from",
    "source",
    type=click.Choice(STORES),
    help="The store to move files from (default: the local disk, legacy paths and the local store).",
)
@click.option(
    "--batch-size", default=100, show_default=True, type=click.IntRange(1, 10_000), help="Rows claimed at a time."
)
@click.option("--workers", default=4, show_default=True, type=click.IntRange(1, 64), help="Files copied at once.")
@click.option("--dry-run", is_flag=True, help="Report what would move (and missing files); change nothing.")
@click.option(
    "--delete-source",
    is_flag=True,
    help="Move each source file (or object) to the quarantine once its copy is verified and its row switched.",
)
@click.option("--no-staging", is_flag=True, help="Leave staged uploads where they are.")
@click.option("--limit", type=click.IntRange(1), help="Move at most this many rows.")
@click.option(
    "--verify",
    "verify_mode",
    type=click.Choice(VERIFY_MODES),
    default="auto",
    show_default=True,
    help="auto: the store's SHA-256 checksum where it keeps one, else read back; readback: always read back.",
)
@click.option("--join", is_flag=True, help="Work on the active run alongside its other processes (PostgreSQL).")
@click.option("--run-id", type=int, help="Work on this run (the dashboard's worker processes use it).")
@click.option("--retry-failed", "retry_of", type=int, metavar="RUN_ID", help="Retry the failed rows of a finished run.")
@with_appcontext
def migrate_command(
    target, source, batch_size, workers, dry_run, delete_source, no_staging, limit, verify_mode, join, run_id, retry_of
) -> None:
    """Move files to TARGET (local, s3, minio) from --from (default: the local disk), verified; exit 1 if any
    item failed."""
    service = DocumentMigrationService()
    run = None
    again = f"flask storage migrate {target}" + (f" --from {source}" if source else "")
    try:
        options = MigrationOptions(
            target=target,
            source=source,
            batch_size=batch_size,
            workers=workers,
            delete_source=delete_source,
            include_staging=not no_staging,
            limit=limit,
            verify=verify_mode,
        )
        if dry_run:
            _print_dry_run(service.dry_run(options), options.source_store)
            return
        if retry_of is not None:
            options = service.retry_options(retry_of, workers=workers, batch_size=batch_size)
        run = _choose_run(service, options, run_id, join)
        click.echo(f"Run #{run.id}: {run.label}, {run.items_total} file(s), {format_size(run.bytes_total)}.")
        printer = ProgressPrinter(service=service)
        settle_heap()
        run = service.migrate_all_attachments(run, on_progress=printer.update)
        printer.finish(run)
    except KeyboardInterrupt:
        where = f"run #{run.id} stays active and " if run is not None else ""
        _fail(f"interrupted; {where}`{again}` resumes it", 130)
    except (MigrationError, StorageError) as exc:
        _fail(str(exc))
    except SQLAlchemyError as exc:
        _fail(_database_error(exc))
    if getattr(run, "interrupted", False):
        _fail(f"interrupted after {run.items_done} moved; run #{run.id} stays active and `{again}` resumes it")
    _summary(service, run)
    checked = getattr(run, "checked_by", {})
    click.echo(
        f"  verified here: {checked.get('checksum', 0)} by the store's SHA-256 checksum, "
        f"{checked.get('readback', 0)} read back and re-hashed"
    )
    if run.is_active:
        click.echo(f"Other processes are still working on run #{run.id}.")
    if run.items_failed or run.status not in ("completed", "running"):
        raise SystemExit(1)


@click.command("verify")
@click.option("--deep", is_flag=True, help="Also read every object back and compare its SHA-256.")
@click.option("--workers", default=8, show_default=True, type=click.IntRange(1, 64), help="Objects checked at once.")
@click.option("--run-id", type=int, help="Record into this verification run (the dashboard uses it).")
@with_appcontext
def verify_command(deep: bool, workers: int, run_id: int | None) -> None:
    """Check that every row kept in a store (local or object storage) has its object with the right size (and SHA-256); exit 1 on a mismatch."""
    service = DocumentMigrationService()
    if run_id is not None:
        run = service.get_run(run_id)
        if run is None or run.kind != "verify" or not run.is_active:
            _fail(f"run #{run_id} is not an active verification run")
        printer = ProgressPrinter(service=service)
        settle_heap()
        try:
            run = service.verify_run(run, on_progress=printer.update)
        except RunConflict as exc:
            _fail(str(exc))
        printer.finish(run)
        _summary(service, run)
        raise SystemExit(1 if run.items_failed or run.status != "completed" else 0)
    started, counted = time.monotonic(), [0]

    def on_row(row, problem) -> None:
        counted[0] += 1
        if problem is not None:
            click.echo(f"MISMATCH {problem.table} #{problem.row_id} {row.storage_type}:{problem.key}: {problem.reason}")
        if counted[0] % 1000 == 0:
            click.echo(f"  ... {counted[0]} checked", err=True)

    try:
        audit.record("verification.start", detail={"deep": deep})
        report = service.verify_migration(deep, workers=workers, on_row=on_row)
        audit.record(
            "verification.finish",
            outcome="success" if report.passed else "failure",
            detail={"deep": deep, "checked": report.checked, "ok": report.ok, "mismatched": report.problem_count},
        )
    except SQLAlchemyError as exc:
        _fail(_database_error(exc))
    kind = "deep" if deep else "size"
    click.echo(
        f"Verified ({kind}) {report.checked} object(s) in {format_duration(time.monotonic() - started)}: "
        f"{report.ok} ok, {report.problem_count} mismatched."
    )
    if not report.passed:
        raise SystemExit(1)


@click.command("cancel")
@click.argument("run_id", type=int)
@with_appcontext
def cancel_command(run_id: int) -> None:
    """Stop a run after the files in flight; rows not reached stay in their store."""
    try:
        run = DocumentMigrationService().cancel(run_id)
    except MigrationError as exc:
        _fail(str(exc))
    click.echo(f"Run #{run_id} is {run.status}.")


@click.command("purge-quarantine")
@click.option("--older-than", required=True, help="Age, e.g. 7d, 12h, 1w: files quarantined before that go for good.")
@click.option("--dry-run", is_flag=True, help="Only report what would be deleted.")
@with_appcontext
def purge_quarantine_command(older_than: str, dry_run: bool) -> None:
    """Delete migrated local files that have waited in the quarantine longer than --older-than."""
    age = duration(older_than, "--older-than", allow_zero=True)
    report = DocumentMigrationService().purge_quarantine(age, dry_run=dry_run, source="cli")
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} {report.files} quarantined file(s), {format_size(report.bytes)}, older than {older_than}.")
    for error in report.errors:
        click.echo(f"Not purged: {error}", err=True)
    if report.errors:
        raise SystemExit(1)


@click.command("orphans")
@click.option(
    "--delete",
    is_flag=True,
    help="Delete objects no row points at and abort incomplete uploads (rows are never deleted).",
)
@click.option(
    "--min-age", default="1h", show_default=True, help="Only delete objects (and abort uploads) at least this old."
)
@with_appcontext
def orphans_command(delete: bool, min_age: str) -> None:
    """Report objects with no row, incomplete multipart uploads and rows with no object; exit 1 when any remain."""
    age = duration(min_age, "--min-age", allow_zero=True)
    service = DocumentMigrationService()
    if delete and (active := service.active_run()) is not None:
        _fail(f"run #{active.id} is active and writes objects before their rows; delete orphans after it ends")
    remaining = 0
    for store in service.object_stores():
        try:
            for item in service.unreferenced_objects(store):
                outcome = service.delete_orphan(store, item.key, age) if delete else "kept"
                remaining += outcome != "deleted"
                click.echo(f"object without row: {store.name}:{item.key} ({format_size(item.size)}) [{outcome}]")
            for upload in service.incomplete_uploads(store):
                outcome = service.abort_incomplete(store, upload, age) if delete else "kept"
                remaining += outcome != "aborted"
                started = upload.started.strftime("%Y-%m-%d %H:%M:%S UTC") if upload.started else "unknown"
                click.echo(
                    f"incomplete upload: {store.name}:{upload.key} started {started}, {upload.parts} part(s), "
                    f"{format_size(upload.size)} [{outcome}]"
                )
            for missing in service.rows_without_object(store):
                remaining += 1
                click.echo(
                    f"row without object: {missing.table} #{missing.row_id} -> {missing.storage_type}:{missing.key}"
                )
        except StorageError as exc:
            _fail(f"{store.name}: {exc}")
    click.echo("No orphans." if not remaining else f"{remaining} orphan(s) remain.")
    if remaining:
        raise SystemExit(1)


#: added to the `storage` group by the app factory (portal.register_commands)
COMMANDS = (migrate_command, verify_command, cancel_command, purge_quarantine_command, orphans_command)
