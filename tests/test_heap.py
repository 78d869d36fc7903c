"""A test that froze the heap has it thawed after; a heap frozen before the test stays frozen."""

from __future__ import annotations

import gc

from tests.support.heap import thawing_what_it_froze


def test_what_a_test_froze_is_thawed():
    gc.unfreeze()
    with thawing_what_it_froze():
        gc.freeze()
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_before_stays_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with thawing_what_it_froze():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
