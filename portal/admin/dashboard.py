"""The storage dashboard (/admin/storage): where files are, migration and verification runs, live progress."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import abort, current_app, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField
from wtforms.validators import NumberRange, Optional

from portal.admin.failures import failure_rows
from portal.admin.missing_views import missing_count
from portal.admin.names import PICKED_STORES, run_state_label, run_tone
from portal.admin.purge_views import QUARANTINE_AGE, trash_due
from portal.cleanup.drain import oldest, pending
from portal.confirmation import Question, ask, confirmed
from portal.extensions import db
from portal.formatting import format_size
from portal.migration.errors import MigrationError, RunConflict, WorkerNotStarted
from portal.migration.options import MigrationOptions
from portal.migration.service import DocumentMigrationService
from portal.storage.base import StorageError
from portal.upkeep.status import upkeep

FAILURES_SHOWN = 200
OWED_SHOWN = 5  # the longest-owed deletions listed on the dashboard
#: failures the live JSON carries (the page shows FAILURES_SHOWN once the run has ended)
FAILURES_LIVE = 50
CANCEL_NOTE = (
    "Files being copied now finish; the rest stay where they are, and a later run picks them up. Nothing is lost."
)


class MigrationForm(FlaskForm):
    """The options of `flask storage migrate`, as a form."""

    source = SelectField("Move from", choices=[], default="local")
    target = SelectField("Move to", choices=[])
    batch_size = IntegerField("Batch size", default=100, validators=[NumberRange(1, 10_000)])
    workers = IntegerField("Files copied at once", default=4, validators=[NumberRange(1, 64)])
    limit = IntegerField("At most this many files (empty: all)", validators=[Optional(), NumberRange(min=1)])
    verify = SelectField(
        "Verification",
        default="auto",
        choices=[
            ("auto", "The store's SHA-256 checksum where it keeps one, else read back"),
            ("readback", "Always read every object back and hash it"),
        ],
    )
    include_staging = BooleanField("Include staged uploads", default=True)
    delete_source = BooleanField("Move each source file (or object) to the quarantine once its copy is verified")
    dry_run = BooleanField("Dry run: only report what would move")

    def options(self) -> MigrationOptions:
        return MigrationOptions(
            target=self.target.data,
            source=self.source.data,
            batch_size=self.batch_size.data,
            workers=self.workers.data,
            limit=self.limit.data,
            verify=self.verify.data,
            include_staging=self.include_staging.data,
            delete_source=self.delete_source.data,
        )


class VerifyForm(FlaskForm):
    """The option of `flask storage verify`, as a form."""

    deep = BooleanField("Deep: read every file back and compare its SHA-256")


#: how the pickers name each store
def _object_stores() -> list[tuple[str, str]]:
    return [(name, PICKED_STORES[name]) for name in DocumentMigrationService().targets() if name != "local"]


def _store_choices(totals: dict[str, tuple[int, int]]) -> list[tuple[str, str]]:
    """Every configured store with the files and bytes it holds, e.g. ('s3', 'S3: 120 files, 4.2 MiB')."""
    return [
        (name, f"{PICKED_STORES[name]}: {files} file{'s' if files != 1 else ''}, {format_size(size)}")
        for name, (files, size) in totals.items()
    ]


def _migration_form(totals: dict[str, tuple[int, int]] | None = None) -> MigrationForm:
    form = MigrationForm()
    totals = DocumentMigrationService().store_totals() if totals is None else totals
    choices = _store_choices(totals)
    form.source.choices = choices
    # Leaving the disk is what most runs do: the first object store is the target offered first.
    form.target.choices = [choice for choice in choices if choice[0] != "local"] + [
        choice for choice in choices if choice[0] == "local"
    ]
    if not form.is_submitted():
        # Offered first: to where new uploads go (STORAGE_TYPE, else the first object store), from the other
        # store holding the most files; never a move away from where the portal stores.
        targets = [name for name, _ in form.target.choices]
        default = current_app.config.get("STORAGE_TYPE")
        form.target.data = default if default in targets and default != "local" else next(iter(targets), None)
        others = [name for name in totals if name != form.target.data]
        form.source.data = max(others, key=lambda name: totals[name][0], default="local")
    return form


def _run_or_404(run_id: int):
    run = DocumentMigrationService().get_run(run_id)
    if run is None:
        abort(404)
    return run


def _start_worker(run) -> bool:
    """Launch the detached process for ``run``; if it cannot start, the run has ended as failed."""
    try:
        DocumentMigrationService().launch_worker(run)
    except WorkerNotStarted as exc:
        flash(f"Run #{run.id} could not start its worker process: {exc}", "error")
        return False
    return True


def storage_dashboard():
    """Files and bytes per table and location, the run form, the active run and the history."""
    service = DocumentMigrationService()
    active = service.active_run()
    history = service.recent_runs()
    location_stats = service.location_stats()
    owed, owed_since = pending(db.engine)
    integrity, jobs = upkeep(db.engine, datetime.now(UTC), current_app.config["SCRUB_INTERVAL_DAYS"])
    return render_template(
        "admin/storage.html",
        owed=owed,
        owed_since=owed_since,
        owed_oldest=oldest(db.engine, OWED_SHOWN) if owed else [],
        stats=with_shares(location_stats),
        form=_migration_form(service.store_totals(location_stats)),
        verify_form=VerifyForm(),
        active=active,
        active_progress=service.progress(active) if active else None,
        history=history,
        states={run.id: service.state_of(run) for run in history},
        stores=_object_stores(),
        integrity=integrity,
        jobs=jobs,
        cancel_note=CANCEL_NOTE,
        active_failures=failure_rows(service.failures(active.id, FAILURES_LIVE)) if active else [],
        live_shown=FAILURES_LIVE,
        missing=missing_count(),
        trash_due=trash_due(),
        quarantine_age=QUARANTINE_AGE,
    )


def with_shares(stats: list[dict]) -> list[dict]:
    """Each location's share of its table's files and bytes, in whole percent (rounded down, so 100 means all)."""
    totals: dict[str, list[int]] = {}
    for row in stats:
        files, size = totals.setdefault(row["table"], [0, 0])
        totals[row["table"]] = [files + row["files"], size + row["bytes"]]
    shared = []
    for row in stats:
        files, size = totals[row["table"]]
        bytes_share = _share(row["bytes"], size) if size else ("100" if row["files"] == files else "0")
        shared.append({**row, "files_share": _share(row["files"], files), "bytes_share": bytes_share})
    return shared


def _share(part: int, whole: int) -> str:
    """``part`` of ``whole`` in whole percent, rounded down, with '<1' for a share too small to show as 1."""
    if not whole:
        return "0"
    percent = part * 100 // whole
    return "<1" if part and not percent else str(percent)


def start_migration():
    """Start a run in a detached worker process (or show a dry run); a second run is refused."""
    form = _migration_form()
    if not form.validate_on_submit():
        for field, errors in form.errors.items():
            flash(f"{getattr(form, field).label.text}: {errors[0]}", "error")
        return redirect(url_for("admin.storage"))
    service = DocumentMigrationService()
    try:
        options = form.options()
        if form.dry_run.data:
            return render_template("admin/storage_dry_run.html", report=service.dry_run(options), options=options)
        run = service.start_run(options, created_by=current_user.id, created_from="dashboard")
    except RunConflict as exc:
        flash(f"Not started: {exc}", "error")
        if exc.run is not None:
            return redirect(url_for("admin.storage_run", run_id=exc.run.id))
        return redirect(url_for("admin.storage"))
    except (MigrationError, StorageError) as exc:
        flash(f"Not started: {exc}", "error")
        return redirect(url_for("admin.storage"))
    if _start_worker(run):
        flash(f"Run #{run.id} started: {run.items_total} file(s) to move.", "success")
    return redirect(url_for("admin.storage_run", run_id=run.id))


def start_verification():
    """Start a verification run (sizes, or with deep the SHA-256 of every object) in a worker process."""
    form = VerifyForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        run = DocumentMigrationService().start_verify_run(
            form.deep.data, created_by=current_user.id, created_from="dashboard"
        )
    except RunConflict as exc:
        flash(f"Not started: {exc}", "error")
        return redirect(url_for("admin.storage_run", run_id=exc.run.id) if exc.run else url_for("admin.storage"))
    if _start_worker(run):
        flash(f"Verification run #{run.id} started: {run.items_total} object(s) to check.", "success")
    return redirect(url_for("admin.storage_run", run_id=run.id))


def storage_run(run_id: int):
    """One run: live progress while it is active, its failures with their reasons, what can be done next."""
    run = _run_or_404(run_id)
    service = DocumentMigrationService()
    return render_template(
        "admin/storage_run.html",
        run=run,
        progress=service.progress(run),
        failures=failure_rows(service.failures(run.id, FAILURES_SHOWN)),
        shown=FAILURES_SHOWN,
        options=run.option_values,
        log=service.log_path(run.id),
        cancel_note=CANCEL_NOTE,
    )


def storage_run_progress(run_id: int):
    """JSON for static/migration.js: counts, bytes, percent, rate, time left, state."""
    run = _run_or_404(run_id)
    service = DocumentMigrationService()
    progress = service.progress(run)
    body = progress.to_dict()
    body["state_label"] = run_state_label(progress.state, run.kind, progress.items_failed)
    body["tone"] = run_tone(progress.state, progress.items_failed)
    body["bytes_percent"] = bytes_percent(progress)
    body["failures"] = failure_rows(service.failures(run.id, FAILURES_LIVE))
    return jsonify(body)


def bytes_percent(progress) -> int:
    """How much of the run's bytes are done, 0 to 100 (its files' share is ``progress.percent``)."""
    if not progress.bytes_total:
        return 100 if progress.state == "completed" and not progress.items_failed else 0
    return min(100, int(progress.bytes_done * 100 / progress.bytes_total))


def cancel_run(run_id: int):
    """Ask the run's processes to stop after the files in flight (once confirmed)."""
    run = _run_or_404(run_id)
    if not confirmed():
        return ask(
            Question(
                question=f"Cancel run #{run.id} ({run.label})?",
                note=CANCEL_NOTE,
                button="Cancel run",
                label=f"Cancel run #{run.id}",
                action=url_for("admin.cancel_run", run_id=run.id),
                cancel=url_for("admin.storage_run", run_id=run.id),
                keep="Keep it running",
            )
        )
    try:
        run = DocumentMigrationService().cancel(run_id)
    except MigrationError as exc:
        flash(str(exc), "error")
    else:
        flash(f"Run #{run_id} is {run.status}: files in flight finish, the rest stay where they are.", "success")
    return redirect(url_for("admin.storage_run", run_id=run_id))


def retry_run(run_id: int):
    """A new run over the failed rows of a finished run, with its options."""
    previous = _run_or_404(run_id)
    if previous.kind != "migrate" or previous.is_active or not previous.items_failed:
        flash(f"Run #{run_id} has no failed files to retry.", "error")
        return redirect(url_for("admin.storage_run", run_id=run_id))
    service = DocumentMigrationService()
    try:
        run = service.start_run(
            service.retry_options(run_id, limit=None), created_by=current_user.id, created_from="dashboard"
        )
    except (MigrationError, StorageError) as exc:
        flash(f"Not started: {exc}", "error")
        return redirect(url_for("admin.storage_run", run_id=run_id))
    if _start_worker(run):
        flash(f"Run #{run.id} retries the {run.items_total} failed file(s) of run #{run_id}.", "success")
    return redirect(url_for("admin.storage_run", run_id=run.id))


def resume_run(run_id: int):
    """Start a worker for an active run that no process works on any more (its worker died)."""
    run = _run_or_404(run_id)
    if not run.is_active or DocumentMigrationService().is_worked_on(run):
        flash(f"Run #{run_id} is not stalled, so there is nothing to resume.", "error")
    elif _start_worker(run):
        flash(f"Run #{run_id} resumes: rows already moved stay moved, the rest follow.", "success")
    return redirect(url_for("admin.storage_run", run_id=run_id))
