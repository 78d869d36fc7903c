"""DocumentMigrationService: the one engine behind `flask storage migrate|verify` and the admin dashboard."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from flask import current_app
from sqlalchemy import func, select

from portal.documents.service import DocumentStorageService
from portal.extensions import db, storage
from portal.migration import runs
from portal.migration.claims import TABLES, RowSnapshot, count_pending, iter_pending, iter_stored, tables_for
from portal.migration.items import ItemMigrator, ItemResult
from portal.migration.models import MigrationRun
from portal.migration.quarantine import Quarantine
from portal.migration.runs import MigrationError, MigrationOptions, RunConflict
from portal.migration.verify import Problem, RowChecker
from portal.migration.worker import RunWorker, bounded_map
from portal.storage.base import ObjectNotFound, StorageError, StorageProvider

#: missing legacy files a dry run lists (it counts all of them)
DRY_RUN_LISTED = 1000
#: problems a CLI verification keeps to print (it counts all of them)
VERIFY_LISTED = 1000


@dataclass
class DryRunReport:
    """What a run with these options would move, and which rows would fail because their file is gone."""

    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    missing_count: int = 0
    missing: list[tuple[str, int, str, str]] = field(default_factory=list)  # table, id, source, reason

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


@dataclass
class VerifyReport:
    checked: int = 0
    ok: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.problem_count == 0


def _snapshot(table: str, row) -> RowSnapshot:
    return RowSnapshot(table, row.id, row.filename, row.content_type, row.size, row.sha256, row.filepath,
                       row.storage_path, row.storage_type, row.encryption)


class DocumentMigrationService:
    """Moves local files (legacy filepath rows and local-store rows) into S3/MinIO and proves nothing was lost.

    Single rows: migrate_attachment, migrate_attachment_staging. Everything: migrate_all_attachments
    (a run: claimed in batches, resumable, shared by several processes on PostgreSQL). Proof:
    verify_migration. Raises MigrationError (RunConflict when another run is active).
    """

    def __init__(self, config=None):
        self.config = config if config is not None else current_app.config
        self.documents = DocumentStorageService(self.config)

    @property
    def engine(self):
        return db.engine

    def target(self, name: str) -> StorageProvider:
        """The object store called ``name``; raises MigrationError unless it is configured and not local."""
        if name not in runs.TARGETS:
            raise MigrationError(f"{name!r} is not an object store; migrate to one of {', '.join(runs.TARGETS)}")
        try:
            return storage.get(name)
        except StorageError as exc:
            raise MigrationError(str(exc)) from None

    def quarantine(self) -> Quarantine:
        return Quarantine(self.config["QUARANTINE_PATH"])

    def migrator(self, options: MigrationOptions) -> ItemMigrator:
        return ItemMigrator(self.engine, self.documents, self.target(options.target), verify=options.verify,
                            quarantine=self.quarantine())

    # -- single rows ----------------------------------------------------------------------------

    def migrate_attachment(self, attachment, options: MigrationOptions | None = None) -> ItemResult:
        """Move one Attachment (outside any run): copy, verify, switch its row; see ItemResult."""
        return self._migrate_row("attachment", attachment, options or MigrationOptions())

    def migrate_attachment_staging(self, staged, options: MigrationOptions | None = None) -> ItemResult:
        """Move one AttachmentStaging row (outside any run)."""
        return self._migrate_row("attachment_staging", staged, options or MigrationOptions())

    def _migrate_row(self, table: str, row, options: MigrationOptions) -> ItemResult:
        db.session.commit()  # the row is switched on another connection; do not hold it locked here
        result = self.migrator(options).migrate(_snapshot(table, row), delete_source=options.delete_source)
        db.session.expire(row)
        return result

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, options: MigrationOptions, *, created_by: int | None = None,
                  created_from: str = "cli") -> MigrationRun:
        """Create a migration run holding the active slot (nothing moves yet; a worker does that).

        Raises RunConflict pointing at the active run, MigrationError for a bad target.
        """
        self.target(options.target)
        items, size = count_pending(self.engine, options.include_staging, options.limit, options.retry_of)
        return runs.create_run(self.engine, "migrate", options, items_total=items, bytes_total=size,
                               created_by=created_by, created_from=created_from)

    def start_verify_run(self, deep: bool, *, workers: int = 8, created_by: int | None = None,
                         created_from: str = "cli") -> MigrationRun:
        """Create a verification run holding the active slot; raises RunConflict."""
        items, size = self._stored_totals()
        options = MigrationOptions(deep=deep, workers=workers)
        return runs.create_run(self.engine, "verify", options, items_total=items, bytes_total=size,
                               created_by=created_by, created_from=created_from)

    def _stored_totals(self) -> tuple[int, int]:
        items = size = 0
        with self.engine.connect() as conn:
            for table in TABLES.values():
                count, total = conn.execute(select(func.count(), func.coalesce(func.sum(table.c.size), 0)).where(
                    table.c.storage_path.is_not(None), table.c.storage_type != "local")).one()
                items, size = items + count, size + int(total)
        return items, size

    def migrate_all_attachments(self, run: MigrationRun, on_progress: Callable[[MigrationRun], None] | None = None,
                                *, settle_heap: bool = False) -> MigrationRun:
        """Work on ``run`` until nothing is left to claim (or it is cancelled, or the store fails); returns it
        as it stands afterwards, with ``checked_by`` ({'checksum': n, 'readback': n}) for this process's
        items and ``interrupted`` (SIGTERM: the run stays active, to be resumed). Resumes a crashed run;
        joins a running one on PostgreSQL. Ctrl-C raises KeyboardInterrupt, the run likewise left active.

        ``settle_heap`` is for a process that exists for this run (see RunWorker._settle).
        Raises RunConflict on SQLite when another process works on the run.
        """
        options = MigrationOptions.from_json(run.options)
        migrator = self.migrator(options)
        with RunWorker(self.engine, run, exclusive=self._exclusive(), on_progress=on_progress,
                       settle_heap=settle_heap) as worker:
            worker.migrate(migrator, options)
        finished = runs.fetch_run(self.engine, run.id)
        finished.checked_by = dict(worker.checked_by)
        finished.interrupted = worker.interrupted
        return finished

    def verify_run(self, run: MigrationRun, on_progress=None, *, settle_heap: bool = False) -> MigrationRun:
        """Work a verification run: every mismatch becomes an item of the run."""
        options = MigrationOptions.from_json(run.options)
        with RunWorker(self.engine, run, exclusive=True, on_progress=on_progress, settle_heap=settle_heap) as worker:
            worker.verify(self.checker(options.deep), options)
        return runs.fetch_run(self.engine, run.id)

    def _exclusive(self) -> bool:
        # SQLite has one writer: several processes would only queue on its lock.
        return self.engine.dialect.name != "postgresql"

    # -- proof ----------------------------------------------------------------------------------

    def checker(self, deep: bool) -> RowChecker:
        return RowChecker(storage.get, deep=deep, encryption=storage.encryption)

    def verify_migration(self, deep: bool = False, *, workers: int = 8,
                         on_row: Callable[[RowSnapshot, Problem | None], None] | None = None) -> VerifyReport:
        """Check that every object-storage row has its object, of the right size (and, ``deep``, SHA-256)."""
        checker, report = self.checker(deep), VerifyReport()
        rows = (row for table in tables_for(True) for row in iter_stored(self.engine, table))
        for row, problem in bounded_map(lambda row: (row, checker.check(row)), rows, workers, 4 * workers):
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
        self.target(options.target)
        report, seen = DryRunReport(), 0
        for table in tables_for(options.include_staging):
            report.files.setdefault(table, 0)
            report.bytes.setdefault(table, 0)
            for row in iter_pending(self.engine, table):
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


__all__ = ["DocumentMigrationService", "DryRunReport", "VerifyReport", "RunConflict", "MigrationError"]
