"""A test that froze the heap has it thawed after; a heap frozen before the run stays frozen."""

from __future__ import annotations

import gc

from tests.support.heap import heap_frozen, thawing_what_it_froze


def test_what_a_test_froze_is_thawed():
    gc.unfreeze()
    with thawing_what_it_froze(frozen_before=False):
        gc.freeze()
        assert heap_frozen()
    assert not heap_frozen()


def test_a_heap_frozen_before_the_run_stays_frozen():
    gc.freeze()
    try:
        with thawing_what_it_froze(frozen_before=True):
            pass
        assert heap_frozen()  # not a count: frozen objects still go when their last reference does
    finally:
        gc.unfreeze()
