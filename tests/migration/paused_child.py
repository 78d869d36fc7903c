"""`flask ...` whose migration copies hold after the first PAUSE_AFTER have started, until the process
gets SIGTERM (or is killed): a run stopped mid-way at a known point, however fast or slow the machine.

``python -m tests.migration.paused_child PAUSE_AFTER ARGS...`` runs ``flask ARGS...`` as
portal.migration.launch.worker_command would, with ItemMigrator.copy and RunWorker's SIGTERM handler
wrapped: copy number PAUSE_AFTER + 1 and every later one wait until SIGTERM has set the worker's stop.
So exactly PAUSE_AFTER rows are ever committed before the signal, and none is claimed after it.
"""

from __future__ import annotations

import sys
import threading

from flask.cli import main

from portal.migration.items import ItemMigrator
from portal.migration.launch import WORKER_APP
from portal.migration.worker import RunWorker


def pause_copies_after(count: int) -> None:
    started, lock, released = 0, threading.Lock(), threading.Event()
    copy, on_sigterm = ItemMigrator.copy, RunWorker._on_sigterm

    def held_copy(self, row):
        nonlocal started
        with lock:
            started += 1
            mine = started
        if mine > count:
            released.wait()
        return copy(self, row)

    def stop_then_release(self, signum, frame):
        on_sigterm(self, signum, frame)  # the worker's stop is set before any held copy goes on
        released.set()

    ItemMigrator.copy = held_copy
    RunWorker._on_sigterm = stop_then_release


if __name__ == "__main__":
    pause_copies_after(int(sys.argv[1]))
    sys.argv = ["flask", "--app", WORKER_APP, *sys.argv[2:]]
    main()
