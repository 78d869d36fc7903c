"""The verification loop: every row kept in a store checked against its object, on a bounded thread pool."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from flask import current_app
from sqlalchemy import Engine

from portal.migration.claims import RowSnapshot, iter_stored, tables_for
from portal.migration.verify import Problem, RowChecker


def bounded_map(fn: Callable, items: Iterable, workers: int, window: int) -> Iterator:
    """fn(item) for every item on ``workers`` threads (each inside this app's context), results as they
    complete; at most ``window`` items are pulled ahead, so memory stays flat whatever the count."""
    app = current_app._get_current_object()

    def enter_app() -> None:
        app.app_context().push()  # lives as long as the pool's thread

    with ThreadPoolExecutor(workers, thread_name_prefix="migrate", initializer=enter_app) as pool:
        pending = set()
        for item in items:
            pending.add(pool.submit(fn, item))
            if len(pending) >= window:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from (future.result() for future in done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from (future.result() for future in done)


def check_stored_rows(
    engine: Engine, checker: RowChecker, workers: int, stop: threading.Event | None = None
) -> Iterator[tuple[RowSnapshot, Problem | None]]:
    """(row, problem or None) for every stored row (local or object storage) of both file tables, as the checks finish.

    Rows are read in keyset batches and at most 4 x ``workers`` are checked ahead; once ``stop`` is
    set no further row is started.
    """
    rows = (row for table in tables_for(True) for row in iter_stored(engine, table))
    if stop is not None:
        rows = _until(rows, stop)
    return bounded_map(lambda row: (row, checker.check(row)), rows, workers, 4 * workers)


def _until(items: Iterable, stop: threading.Event) -> Iterator:
    for item in items:
        if stop.is_set():
            return
        yield item
