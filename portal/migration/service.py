"""DocumentMigrationService: all that the migration's CLI commands and the storage dashboard call in the package."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from flask import current_app

from portal.documents.service import DocumentStorageService
from portal.extensions import db, storage
from portal.migration import lifecycle, orphans, stats
from portal.migration.checks import check_stored_rows
from portal.migration.claims import RowSnapshot, count_pending, iter_pending, snapshot, tables_for
from portal.migration.errors import MigrationError, RunConflict, WorkerNotStarted
from portal.migration.items import ItemMigrator, ItemResult
from portal.migration.launch import launch, log_path
from portal.migration.models import MigrationItem, MigrationRun
from portal.migration.options import OBJECT_STORES, TARGETS, MigrationOptions
from portal.migration.processes import live_workers
from portal.migration.progress import progress_of
from portal.migration.quarantine import ObjectQuarantine, PurgeReport, Quarantine, record_purge
from portal.migration.reports import DryRunReport, Progress, RunChoice, VerifyReport
from portal.migration.run_state import active_run, fetch_run, run_state
from portal.migration.verify import Problem, RowChecker
from portal.migration.worker import RunWorker
from portal.storage.base import IncompleteUpload, ObjectNotFound, StorageError, StorageProvider, StoredObject

#: missing legacy files a dry run lists (it counts all of them)
DRY_RUN_LISTED = 1000
#: problems a CLI verification keeps to print (it counts all of them)
VERIFY_LISTED = 1000


class DocumentMigrationService:
    """Moves files between stores (the local disk: legacy filepath rows and local-store rows; S3; MinIO), in
    any direction, and proves nothing was lost.

    Single rows: migrate_attachment, migrate_attachment_staging. Everything: a run (start_run, then
    migrate_all_attachments in this process or launch_worker for a detached one; claimed in batches,
    resumable, shared by several processes on PostgreSQL). Proof: verify_migration, or a verification
    run. Raises MigrationError (RunConflict when another run is active).
    """

    def __init__(self, config=None):
        self.config = config if config is not None else current_app.config
        self.documents = DocumentStorageService(self.config)

    @property
    def db_engine(self):
        """The SQLAlchemy engine the run tables and file rows are read and written through."""
        return db.engine

    def target(self, name: str) -> StorageProvider:
        """The store called ``name``; raises MigrationError unless it is configured."""
        if name not in TARGETS:
            raise MigrationError(f"{name!r} is not a store; migrate to one of {', '.join(TARGETS)}")
        try:
            return storage.get(name)
        except StorageError as exc:
            raise MigrationError(str(exc)) from None

    def targets(self) -> list[str]:
        """The stores configured on this host, by name (each once: `minio` is left out where it names the
        S3 store)."""
        return [name for name in storage.names if name in TARGETS]

    def source_types(self, options: MigrationOptions) -> tuple[str, ...] | None:
        """The storage types of the rows a run with ``options`` moves: None for the local disk (legacy and
        local rows), else every name the source store answers to ('s3' and 'minio' where they are one)."""
        if options.source_store == "local":
            return None
        provider = self.target(options.source_store)
        return self._storage_types_of(provider)

    def _named(self, name: str) -> StorageProvider | None:
        try:
            return storage.get(name)
        except StorageError:
            return None

    def direction(self, options: MigrationOptions) -> tuple[StorageProvider | None, StorageProvider]:
        """(source object store or None for the local disk, target) of a run with ``options``.

        Raises MigrationError for a store not configured here, or for two names of one store (the S3_* store
        answers to both `s3` and `minio` without MINIO_*; two settings may name one bucket).
        """
        target = self.target(options.target)
        source = None if options.source_store == "local" else self.target(options.source_store)
        origin = source if source is not None else storage.get("local")
        if origin is target or origin.location == target.location:
            raise MigrationError(
                f"{options.source_store!r} and {options.target!r} are the same store here; "
                "set MINIO_* for a separate minio store"
            )
        return source, target

    def quarantine(self) -> Quarantine:
        return Quarantine(self.config["QUARANTINE_PATH"])

    def migrator(self, options: MigrationOptions) -> ItemMigrator:
        source, target = self.direction(options)
        return ItemMigrator(
            self.db_engine,
            self.documents,
            target,
            verify=options.verify,
            quarantine=self.quarantine(),
            source=source,
            source_types=self.source_types(options),
        )

    # -- single rows ----------------------------------------------------------------------------

    def migrate_attachment(self, attachment, options: MigrationOptions | None = None) -> ItemResult:
        """Move one Attachment (outside any run): copy, verify, switch its row; see ItemResult."""
        return self._migrate_row("attachment", attachment, options or MigrationOptions())

    def migrate_attachment_staging(self, staged, options: MigrationOptions | None = None) -> ItemResult:
        """Move one AttachmentStaging row (outside any run)."""
        return self._migrate_row("attachment_staging", staged, options or MigrationOptions())

    def _migrate_row(self, table: str, row, options: MigrationOptions) -> ItemResult:
        db.session.commit()  # the row is switched on another connection; do not hold it locked here
        result = self.migrator(options).migrate(snapshot(table, row), delete_source=options.delete_source)
        db.session.expire(row)
        return result

    # -- runs: what there is --------------------------------------------------------------------

    def get_run(self, run_id: int) -> MigrationRun | None:
        return fetch_run(self.db_engine, run_id)

    def active_run(self) -> MigrationRun | None:
        return active_run(self.db_engine)

    def recent_runs(self, limit: int = 20) -> list[MigrationRun]:
        return stats.recent_runs(self.db_engine, limit)

    def is_worked_on(self, run: MigrationRun) -> bool:
        """True while a live process works on ``run``."""
        return bool(live_workers(self.db_engine, run.id))

    def state_of(self, run: MigrationRun) -> str:
        """The status to show for ``run`` ('stalled' for an active run no live process works on)."""
        return run_state(run, self.db_engine)

    def progress(self, run: MigrationRun, *, ask_workers: bool = True) -> Progress:
        """The run's counts, rates and time left; without ``ask_workers`` its state comes from its own
        heartbeat, with no query (for a progress line redrawn twice a second)."""
        return progress_of(run, self.db_engine if ask_workers else None)

    def failures(self, run_id: int, limit: int) -> list[MigrationItem]:
        """The first ``limit`` failed, skipped and mismatched items of a run."""
        return stats.run_items(self.db_engine, run_id, stats.FAILURE_STATUSES, limit)

    def location_stats(self) -> list[dict]:
        """Files and bytes per table and location ('legacy', 'local', 's3', 'minio')."""
        return stats.location_stats(self.db_engine)

    def store_totals(self, location_stats: list[dict] | None = None) -> dict[str, tuple[int, int]]:
        """(files, bytes) in each configured store, by the name a run takes: 'local' counts legacy and
        local-store rows; a store answering to both 's3' and 'minio' counts the rows of both names.
        ``location_stats``: what location_stats() answered already (else it is asked)."""
        by_type: dict[str, list[int]] = {}
        for row in self.location_stats() if location_stats is None else location_stats:
            kind = "local" if row["location"] == "legacy" else row["location"]
            found = by_type.setdefault(kind, [0, 0])
            found[0], found[1] = found[0] + row["files"], found[1] + row["bytes"]
        totals = {}
        for name in self.targets():
            names = (name,) if name == "local" else self.source_types(MigrationOptions(target="local", source=name))
            files = sum(by_type.get(kind, [0, 0])[0] for kind in names)
            size = sum(by_type.get(kind, [0, 0])[1] for kind in names)
            totals[name] = (files, size)
        return totals

    def log_path(self, run_id: int) -> Path:
        return log_path(current_app, run_id)

    # -- runs: starting and stopping ------------------------------------------------------------

    def start_run(
        self, options: MigrationOptions, *, created_by: int | None = None, created_from: str = "cli"
    ) -> MigrationRun:
        """Create a migration run holding the active slot (nothing moves yet; a worker does that).

        Raises RunConflict pointing at the active run, MigrationError for a bad target.
        """
        self.direction(options)
        items, size = count_pending(
            self.db_engine, options.include_staging, options.limit, options.retry_of, self.source_types(options)
        )
        return lifecycle.create_run(
            self.db_engine,
            "migrate",
            options,
            items_total=items,
            bytes_total=size,
            created_by=created_by,
            created_from=created_from,
        )

    def start_verify_run(
        self, deep: bool, *, workers: int = 8, created_by: int | None = None, created_from: str = "cli"
    ) -> MigrationRun:
        """Create a verification run holding the active slot; raises RunConflict."""
        items, size = stats.stored_totals(self.db_engine)
        options = MigrationOptions(deep=deep, workers=workers)
        return lifecycle.create_run(
            self.db_engine,
            "verify",
            options,
            items_total=items,
            bytes_total=size,
            created_by=created_by,
            created_from=created_from,
        )

    def retry_options(self, run_id: int, **changes) -> MigrationOptions:
        """The options of finished migration run ``run_id``, set to retry its failed rows, with ``changes``.

        Raises MigrationError when ``run_id`` is not a finished migration run.
        """
        previous = self.get_run(run_id)
        if previous is None or previous.kind != "migrate" or previous.is_active:
            raise MigrationError(f"run #{run_id} is not a finished migration run")
        return dataclasses.replace(MigrationOptions.from_json(previous.options), retry_of=run_id, **changes)

    def choose_run(self, options: MigrationOptions, *, run_id: int | None = None, join: bool = False) -> RunChoice:
        """The run a `flask storage migrate` process works on: run ``run_id``, the active one to resume (no
        live process works on it) or, with ``join``, to join; else a new one with ``options``.

        Raises MigrationError for a run that is not an active migration run, RunConflict when another
        run is active (and cannot be joined).
        """
        if run_id is not None:
            run = self.get_run(run_id)
            if run is None or run.kind != "migrate":
                raise MigrationError(f"there is no migration run #{run_id}")
            if not run.is_active:
                raise MigrationError(f"run #{run_id} has ended ({run.status}); start a new one")
            return RunChoice(run, "given")
        active = self.active_run()
        if active is not None:
            if active.kind == "migrate" and not self.is_worked_on(active):
                return RunChoice(active, "resumed")
            if active.kind == "migrate" and join:
                return RunChoice(active, "joined")
            raise RunConflict(
                active, "add --join to work on it alongside (PostgreSQL only)" if active.kind == "migrate" else ""
            )
        try:
            return RunChoice(self.start_run(options), "new")
        except RunConflict as exc:
            if join and exc.run is not None and exc.run.kind == "migrate":
                return RunChoice(exc.run, "joined-new")
            raise

    def launch_worker(self, run: MigrationRun) -> int:
        """Start the detached process that works on ``run`` (see launch.launch); returns its pid.

        Raises WorkerNotStarted when it cannot start; the run has then ended as failed.
        """
        if run.kind == "verify":
            args = ["storage", "verify", "--run-id", str(run.id)]
        else:
            args = ["storage", "migrate", run.target, "--from", run.source or "local", "--run-id", str(run.id)]
        try:
            return launch(current_app._get_current_object(), run.id, args)
        except OSError as exc:
            current_app.logger.error("could not start the worker of run #%s: %s", run.id, exc)
            lifecycle.finish_run(
                self.db_engine, run.id, status="failed", message=f"the worker process could not start: {exc}"
            )
            raise WorkerNotStarted(str(exc)) from None

    def cancel(self, run_id: int) -> MigrationRun:
        """Stop a run after the files in flight; raises MigrationError when it is not running."""
        return lifecycle.request_cancel(self.db_engine, run_id)

    # -- runs: working on them in this process --------------------------------------------------

    def migrate_all_attachments(
        self, run: MigrationRun, on_progress: Callable[[MigrationRun], None] | None = None
    ) -> MigrationRun:
        """Work on ``run`` until nothing is left to claim (or it is cancelled, or the store fails); returns it
        as it stands afterwards, with ``checked_by`` ({'checksum': n, 'readback': n}) for this process's
        items and ``interrupted`` (SIGTERM: the run stays active, to be resumed). Resumes a crashed run;
        joins a running one on PostgreSQL. Ctrl-C raises KeyboardInterrupt, the run likewise left active.

        Raises RunConflict on SQLite when another process works on the run.
        """
        options = MigrationOptions.from_json(run.options)
        migrator = self.migrator(options)
        with RunWorker(self.db_engine, run, exclusive=self._exclusive(), on_progress=on_progress) as worker:
            worker.migrate(migrator, options)
        finished = fetch_run(self.db_engine, run.id)
        finished.checked_by = dict(worker.checked_by)
        finished.interrupted = worker.interrupted
        return finished

    def verify_run(self, run: MigrationRun, on_progress=None) -> MigrationRun:
        """Work a verification run: every mismatch becomes an item of the run."""
        options = MigrationOptions.from_json(run.options)
        with RunWorker(self.db_engine, run, exclusive=True, on_progress=on_progress) as worker:
            worker.verify(self.checker(options.deep), options)
        return fetch_run(self.db_engine, run.id)

    def _exclusive(self) -> bool:
        # SQLite has one writer: several processes would only queue on its lock.
        return self.db_engine.dialect.name != "postgresql"

    # -- proof ----------------------------------------------------------------------------------

    def checker(self, deep: bool) -> RowChecker:
        return RowChecker(storage.get, deep=deep, encryption=storage.encryption)

    def verify_migration(
        self,
        deep: bool = False,
        *,
        workers: int = 8,
        on_row: Callable[[RowSnapshot, Problem | None], None] | None = None,
    ) -> VerifyReport:
        """Check that every row kept in a store (local or object storage) has its object, of the right size (and, ``deep``, SHA-256)."""
        report = VerifyReport()
        for row, problem in check_stored_rows(self.db_engine, self.checker(deep), workers):
            report.checked += 1
            if problem is None:
                report.ok += 1
            else:
                report.problem_count += 1
                if len(report.problems) < VERIFY_LISTED:
                    report.problems.append(problem)
            if on_row is not None:
                on_row(row, problem)
        return report

    def dry_run(self, options: MigrationOptions) -> DryRunReport:
        """What migrate would move (sizes read from the files) and which rows have lost their file; changes nothing."""
        self.direction(options)
        source_types = self.source_types(options)
        report, seen = DryRunReport(), 0
        for table in tables_for(options.include_staging):
            report.files.setdefault(table, 0)
            report.bytes.setdefault(table, 0)
            for row in iter_pending(self.db_engine, table, source_types=source_types):
                if options.limit is not None and seen >= options.limit:
                    return report
                seen += 1
                try:
                    provider, key = self.documents.locate(row)
                    size = provider.stat(key).size
                except ObjectNotFound as exc:
                    self._missing(report, row, str(exc))
                    continue
                except StorageError as exc:
                    self._missing(report, row, f"unreadable: {exc}")
                    continue
                report.files[table] += 1
                report.bytes[table] += size
        return report

    def _missing(self, report: DryRunReport, row: RowSnapshot, reason: str) -> None:
        report.missing_count += 1
        if len(report.missing) < DRY_RUN_LISTED:
            report.missing.append((row.table, row.id, row.source, reason))

    # -- housekeeping ---------------------------------------------------------------------------

    def purge_quarantine(self, older_than: timedelta, *, dry_run: bool = False, source: str = "") -> PurgeReport:
        """Delete (or with ``dry_run`` count) files and objects quarantined more than ``older_than`` ago, in the
        quarantine folder and under each object store's quarantine/ prefix. A place that fails (a store that is
        down) is named in the report's errors; the others are purged all the same. A purge (not a dry run) is
        recorded in the audit trail with ``source`` (cli, dashboard, maintain)."""
        places = [("quarantine folder", self.quarantine())]
        places += [(store.name, ObjectQuarantine(store.provider)) for store in self.object_stores()]
        total = PurgeReport(0, 0)
        for name, place in places:
            try:
                total += place.purge(older_than, dry_run=dry_run)
            except (StorageError, OSError) as exc:
                total += PurgeReport(0, 0, (f"{name}: {exc}",))
        if not dry_run:
            record_purge(total, older_than, source)
        return total

    def object_stores(self) -> list[orphans.ObjectStore]:
        """Each configured object store once, with every storage_type its rows may carry."""
        found, seen = [], set()
        for name in storage.names:
            provider = storage.get(name)
            # Two names for one bucket (MINIO_* set to the S3_* bucket) are one store: its objects are
            # referenced by the rows of both, and listing it twice would call half of them orphans.
            if name == "local" or provider.location in seen:
                continue
            seen.add(provider.location)
            found.append(orphans.ObjectStore(name, provider, self._storage_types_of(provider)))
        return found

    def _storage_types_of(self, provider: StorageProvider) -> tuple[str, ...]:
        """Every object-store name whose provider keeps its bytes where ``provider`` does."""
        return tuple(
            name
            for name in OBJECT_STORES
            if (other := self._named(name)) is not None and other.location == provider.location
        )

    def unreferenced_objects(self, store: orphans.ObjectStore) -> Iterator[StoredObject]:
        """Objects under the portal's key prefixes that no row points at (raises StorageError)."""
        return orphans.unreferenced_objects(self.db_engine, store.provider, store.storage_types)

    def rows_without_object(self, store: orphans.ObjectStore) -> Iterator[orphans.MissingObject]:
        """Rows of ``store`` whose object does not exist (raises StorageError)."""
        return orphans.rows_without_object(self.db_engine, storage.get, store.storage_types)

    def delete_orphan(self, store: orphans.ObjectStore, key: str, min_age: timedelta) -> str:
        """Delete one unreferenced object older than ``min_age``; 'deleted', 'referenced' or 'too new'."""
        return orphans.delete_orphan(self.db_engine, store.provider, store.storage_types, key, min_age)

    def incomplete_uploads(self, store: orphans.ObjectStore) -> Iterator[IncompleteUpload]:
        """Multipart uploads in ``store`` that were started and never completed (see orphans.incomplete_uploads)."""
        return orphans.incomplete_uploads(store.provider)

    def abort_incomplete(self, store: orphans.ObjectStore, upload: IncompleteUpload, min_age: timedelta) -> str:
        """Abort one incomplete upload older than ``min_age``: 'aborted' or 'too new'."""
        return orphans.abort_incomplete(store.provider, upload, min_age)
