"""A process working on a run: registration, heartbeat thread, the claim loop, parallel items, the end."""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from flask import current_app
from sqlalchemy import Engine, insert

from portal.migration import lifecycle
from portal.migration.checks import check_stored_rows
from portal.migration.claims import claim_batch, tables_for
from portal.migration.items import ItemMigrator, ItemResult
from portal.migration.models import ITEM, MigrationRun, utcnow
from portal.migration.options import MigrationOptions
from portal.migration.processes import HEARTBEAT_SECONDS
from portal.migration.run_state import fetch_run
from portal.migration.transactions import writing
from portal.migration.verify import Problem, RowChecker
from portal.storage.base import StorageError

log = logging.getLogger("portal.migration")
#: consecutive store-level failures (unreachable, refused) after which a run stops as 'failed'
BREAKER = 25
#: copied rows switched together in one transaction, and the longest a copied row waits for it
GROUP, GROUP_SECONDS = 50, 0.2
PROGRESS_EVERY = 0.5
STOP_STATUSES = ("cancelling", "failing")


class RunWorker:
    """Use as a context manager around the work: registers, heartbeats, and ends the run when it is the last."""

    def __init__(
        self,
        engine: Engine,
        run: MigrationRun,
        *,
        exclusive: bool,
        on_progress: Callable[[MigrationRun], None] | None = None,
    ):
        self.engine, self.run, self.exclusive = engine, run, exclusive
        self.on_progress = on_progress
        self.stop = threading.Event()
        self.failure: str | None = None
        self.worker_id: int | None = None
        #: how this process's items were verified: {'checksum': n, 'readback': n}
        self.checked_by: Counter = Counter()
        self._streak = 0
        self._beating = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_progress = 0.0
        #: set by SIGTERM or Ctrl-C: this process stops, the run stays active for a later resume
        self.interrupted = False
        self._previous_sigterm = None
        #: the storage types whose rows a migration claims (None: the local disk)
        self.source_types: tuple[str, ...] | None = None

    def __enter__(self) -> RunWorker:
        self.worker_id = lifecycle.attach_worker(self.engine, self.run.id, exclusive=self.exclusive)
        self._thread = threading.Thread(target=self._heartbeats, name="migration-heartbeat", daemon=True)
        self._thread.start()
        if threading.current_thread() is threading.main_thread():
            self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def _on_sigterm(self, signum, frame) -> None:
        # A shutdown of the host or the service: finish and record the files in flight, then leave.
        self.interrupted = True
        self.stop.set()

    def __exit__(self, *exc_info) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        self._beating.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if exc_info[0] is KeyboardInterrupt:
            self.interrupted = True
        if self.interrupted:
            lifecycle.stop_worker(self.engine, self.worker_id)  # the run stays active: stalled, then resumed
            return
        if exc_info[0] is not None and self.failure is None:
            try:
                self.fail(f"the worker stopped on an error: {type(exc_info[1]).__name__}: {exc_info[1]}")
            except Exception as exc:  # the database itself may be what failed; the original error wins
                log.error("could not mark run #%s failed: %s", self.run.id, exc)
        lifecycle.stop_worker(self.engine, self.worker_id)
        lifecycle.finish_run(self.engine, self.run.id)
        self.progress(force=True)

    def _heartbeats(self) -> None:
        while not self._beating.wait(HEARTBEAT_SECONDS):
            try:
                status = lifecycle.heartbeat(self.engine, self.run.id, self.worker_id)
            except Exception as exc:  # the database may blink; the next beat tries again
                log.warning("heartbeat of run #%s failed: %s", self.run.id, exc)
                continue
            if status in STOP_STATUSES:
                self.stop.set()

    def fail(self, message: str) -> None:
        """Stop the run as 'failed' with ``message`` (every worker of it stops after its current items)."""
        self.failure = message
        self.stop.set()
        lifecycle.fail_run(self.engine, self.run.id, message)

    def progress(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = now
            self.on_progress(fetch_run(self.engine, self.run.id))

    # -- migration runs -------------------------------------------------------------------------

    def migrate(self, migrator: ItemMigrator, options: MigrationOptions) -> None:
        """Claim batches and move their rows until none is left, the run is cancelled, or the store fails.

        Copies run on ``options.workers`` threads; this thread claims rows and commits finished copies
        in groups (at most GROUP rows or GROUP_SECONDS of waiting), so the database sees a few short
        transactions instead of one per file, and no copying thread ever waits for it.
        """
        try:
            migrator.target.check()
        except StorageError as exc:
            self.fail(f"the target store is not ready: {exc}")
            return
        if migrator.source is not None:
            try:
                migrator.source.check(write=options.delete_source)  # only a source it deletes from is written
            except StorageError as exc:
                self.fail(f"the source store is not ready: {exc}")
                return
        app = current_app._get_current_object()
        self.source_types = migrator.source_types
        claims = self._claims(options)
        window = options.batch_size + options.workers
        # Finished copies arrive on a queue: waiting on the futures themselves would lock every one of
        # the window's futures on each wake-up, which costs the claiming thread more than the commits.
        finished: queue.SimpleQueue = queue.SimpleQueue()
        in_flight = 0
        ready: list = []
        oldest = 0.0
        exhausted = False
        with ThreadPoolExecutor(
            options.workers, thread_name_prefix="migrate", initializer=lambda: app.app_context().push()
        ) as pool:
            while True:
                while not exhausted and not self.stop.is_set() and in_flight < window:
                    row = next(claims, None)
                    if row is None:
                        exhausted = True
                    else:
                        pool.submit(lambda row=row: (row, migrator.copy(row))).add_done_callback(finished.put)
                        in_flight += 1
                if not in_flight and not ready and (exhausted or self.stop.is_set()):
                    return
                done = _drain(finished, GROUP_SECONDS) if in_flight else []
                in_flight -= len(done)
                if done and not ready:
                    oldest = time.monotonic()
                ready.extend(future.result() for future in done)
                if ready and (len(ready) >= GROUP or not in_flight or time.monotonic() - oldest >= GROUP_SECONDS):
                    self._commit(migrator, ready, options)
                    ready = []

    def _commit(self, migrator: ItemMigrator, ready: list, options: MigrationOptions) -> None:
        results = migrator.commit(
            ready, run_id=self.run.id, worker_id=self.worker_id, delete_source=options.delete_source
        )
        for result in results:
            if result.checked_by:
                self.checked_by[result.checked_by] += 1
            self._streak = self._streak + 1 if _store_down(result) else 0
            if self._streak >= BREAKER and self.failure is None:
                self.fail(f"stopped after {self._streak} store failures in a row; last: {result.error}")
        self.progress()

    def _claims(self, options: MigrationOptions) -> Iterator:
        """Rows this worker owns, claimed batch by batch as the pool asks for more (keyset by id)."""
        while True:
            for table in tables_for(options.include_staging):
                for _sweep in range(2):  # the second pass picks up rows skipped while someone held them
                    after = 0
                    while not self.stop.is_set():
                        batch = claim_batch(
                            self.engine,
                            self.run.id,
                            self.worker_id,
                            table,
                            after,
                            options.batch_size,
                            limit=options.limit,
                            retry_of=options.retry_of,
                            source_types=self.source_types,
                        )
                        if not batch:
                            break
                        yield from batch
                        after = batch[-1].id
            if self.stop.is_set() or not lifecycle.release_dead_claims(self.engine, self.run.id):
                return

    # -- verification runs ----------------------------------------------------------------------

    def verify(self, checker: RowChecker, options: MigrationOptions) -> None:
        """Check every row kept in a store; mismatches become 'mismatch' items, counters move in batches."""
        pending = {"items_done": 0, "bytes_done": 0, "items_failed": 0}
        flushed = time.monotonic()
        for row, problem in check_stored_rows(self.engine, checker, options.workers, self.stop):
            if problem is None:
                pending["items_done"] += 1
                pending["bytes_done"] += row.size
            else:
                pending["items_failed"] += 1
                self._record_problem(problem)
            if time.monotonic() - flushed >= PROGRESS_EVERY:
                self._flush(pending)
                flushed = time.monotonic()
                self.progress()
        self._flush(pending)

    def _record_problem(self, problem: Problem) -> None:
        with writing(self.engine) as conn:
            conn.execute(
                insert(ITEM).values(
                    run_id=self.run.id,
                    table_name=problem.table,
                    row_id=problem.row_id,
                    status="mismatch",
                    worker_id=self.worker_id,
                    object_key=problem.key,
                    error=problem.reason[:2000],
                    updated_at=utcnow(),
                )
            )

    def _flush(self, pending: dict) -> None:
        if any(pending.values()):
            with writing(self.engine) as conn:
                lifecycle.add_counts(conn, self.run.id, **pending)
            for name in pending:
                pending[name] = 0


def _drain(finished: queue.SimpleQueue, timeout: float) -> list:
    """What is on ``finished``, waiting up to ``timeout`` for the first one."""
    try:
        done = [finished.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(finished.get_nowait())
        except queue.Empty:
            return done


def _store_down(result: ItemResult) -> bool:
    return result.status == "failed" and (result.error or "").startswith("store refused")
