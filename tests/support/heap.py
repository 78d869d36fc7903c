"""Garbage collection across tests: what a test froze is thawed, and only that."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def heap_frozen() -> bool:
    """Whether any of the heap is frozen. The count walks every frozen object: ask once a run, not per test."""
    return gc.get_freeze_count() > 0


@contextmanager
def thawing_what_it_froze(frozen_before: bool) -> Iterator[None]:
    """`flask storage migrate|verify` freeze their process's heap (portal.migration.cli.settle_heap); run
    in-process by a test, they freeze the test run's: thaw it after, or every later test's garbage in cycles
    would stay for good. A heap frozen before the run stays frozen: mutmut freezes the heap its mutants'
    children share, and thawing it made every child's collections walk all of it again."""
    yield
    if not frozen_before and heap_frozen():
        gc.unfreeze()
