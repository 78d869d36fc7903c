"""Audit rows written in batches, for events as frequent as downloads.

A transaction per download would cost more than the download itself (a redirect is answered from memory).
So a download's event is logged at once, and its row joins this process's buffer, which a background
thread writes in one INSERT every AUDIT_FLUSH_SECONDS (sooner once ``BATCH`` rows wait, and at exit). The
audit pages and `flask audit export` write this process's buffer before they read; rows of another worker
appear within AUDIT_FLUSH_SECONDS. A process killed outright loses at most its last unwritten rows; their
log lines are already out.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from sqlalchemy import Engine, insert

from portal.models import AuditEvent

log = logging.getLogger("portal.audit")

BATCH = 500
#: rows kept while the database refuses them; beyond this the oldest are dropped (and the drop logged)
LIMIT = 50_000


class EventBuffer:
    """This process's audit rows still to be written to ``engine``."""

    def __init__(self, engine: Engine, *, seconds: float = 1.0, batch: int = BATCH, limit: int = LIMIT):
        self.engine, self.seconds, self.batch, self.limit = engine, seconds, batch, limit
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._writer: int | None = None  # the process whose writer thread runs (a forked worker starts its own)
        self._thread: threading.Thread | None = None
        self._closed = False
        atexit.register(self.flush)

    def add(self, values: dict[str, Any]) -> None:
        with self._lock:
            if len(self._rows) >= self.limit:
                del self._rows[0]
                log.warning("audit rows are not being written (database unavailable): the oldest waiting row dropped")
            self._rows.append(values)
            full = len(self._rows) >= self.batch
            start = bool(self.seconds) and not self._closed and self._writer != os.getpid()
            if start:
                self._writer = os.getpid()
                self._thread = threading.Thread(target=self._write_while_waiting, name="audit-writer", daemon=True)
            closed = self._closed
        if start:
            self._thread.start()
        if full:
            self._wake.set()
        if closed:  # its app is gone: nothing would write it later
            self.flush()

    def close(self) -> None:
        """Write what waits and stop the writer thread: the app whose database this is goes away (its engine
        is about to be disposed) before the process exits. Rows added later are written at once."""
        atexit.unregister(self.flush)
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()

    def flush(self) -> int:
        """Write every waiting row now; returns how many. Rows the database refuses wait for the next try."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(AuditEvent.__table__), rows)
        except Exception as exc:  # the database is away: keep the rows, the next flush tries again
            log.warning("%d audit rows not written yet: %s", len(rows), exc)
            with self._lock:
                self._rows = (rows + self._rows)[-self.limit :]
            return 0
        return len(rows)

    def waiting(self) -> int:
        with self._lock:
            return len(self._rows)

    def _write_while_waiting(self) -> None:
        """Write a batch every ``seconds`` (or when one is full); end once nothing waits (add starts it again)."""
        while True:
            self._wake.wait(self.seconds)
            self._wake.clear()
            if self._closed:  # close() writes what waits
                return
            self.flush()
            with self._lock:
                if not self._rows:
                    self._writer = None
                    return
