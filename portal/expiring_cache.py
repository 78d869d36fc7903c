"""A small in-process map whose entries expire: the building block of the portal's short-lived caches.

Kept instead of cachetools.TLRUCache (which has per-entry lifetimes too) for one thing it lacks: ``put(...,
loaded_since=stamp())`` refuses a value read before its key was forgotten, so a row loaded just before a
deactivation or a delete in this process is never cached after it (see tests/test_expiring_cache.py).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import current_app

V = TypeVar("V")


class Recent(Generic[V]):
    """Up to ``capacity`` entries, each kept until its own deadline; the least recently used go first."""

    def __init__(self, capacity: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._forgotten: OrderedDict[Hashable, float] = OrderedDict()
        self._capacity, self._clock = capacity, clock
        self._lock = threading.Lock()

    def stamp(self) -> float:
        """Now, on this map's clock: taken before loading a value, and given to put() with it."""
        return self._clock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return found[1]

    def put(self, key: Hashable, value: V, seconds: float, loaded_since: float | None = None) -> None:
        """Keep ``value`` for ``seconds`` (not at all when that is 0 or less).

        With ``loaded_since`` (a stamp() taken before the value was loaded), a value whose key was
        forgotten meanwhile is not kept: it may have been loaded before the change that forgot it.
        """
        if seconds <= 0:
            return
        with self._lock:
            forgotten = self._forgotten.get(key)
            if forgotten is not None and loaded_since is not None and forgotten >= loaded_since:
                return
            self._entries[key] = (self._clock() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        """Drop ``key`` now, and refuse values for it loaded before now (see put)."""
        with self._lock:
            self._entries.pop(key, None)
            self._forgotten[key] = self._clock()
            self._forgotten.move_to_end(key)
            while len(self._forgotten) > self._capacity:
                self._forgotten.popitem(last=False)


def recent(name: str) -> Recent:
    """The current app's Recent map called ``name``, made on first use (one per app, shared by its threads)."""
    extensions = current_app.extensions
    found = extensions.get(name)
    return found if found is not None else extensions.setdefault(name, Recent())
