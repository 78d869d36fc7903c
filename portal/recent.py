"""A small in-process map whose entries expire: the building block of the portal's short-lived caches."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

from flask import current_app

V = TypeVar("V")


class Recent(Generic[V]):
    """Up to ``capacity`` entries, each kept until its own deadline; the least recently used go first."""

    def __init__(self, capacity: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._capacity, self._clock = capacity, clock
        self._lock = threading.Lock()

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

    def put(self, key: Hashable, value: V, seconds: float) -> None:
        """Keep ``value`` for ``seconds`` (not at all when that is 0 or less)."""
        if seconds <= 0:
            return
        with self._lock:
            self._entries[key] = (self._clock() + seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)


def recent(name: str) -> Recent:
    """The current app's Recent map called ``name``, made on first use (one per app, shared by its threads)."""
    extensions = current_app.extensions
    found = extensions.get(name)
    return found if found is not None else extensions.setdefault(name, Recent())
