"""Write transactions on the run and file tables; on SQLite a process's writers queue on one lock."""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

from sqlalchemy import Engine

_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


@contextmanager
def writing(engine: Engine):
    """``engine.begin()``; on SQLite this process's writers first queue on one lock.

    SQLite admits one writer at a time and makes the others retry with growing sleeps (up to 100 ms
    each), which would idle every copying thread; a lock hands the database over at once instead.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with _SQLITE_WRITERS_GUARD:
        lock = _SQLITE_WRITERS.setdefault(engine, threading.Lock())
    with lock, engine.begin() as conn:
        yield conn
