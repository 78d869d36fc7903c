"""The expiring map behind the portal's short-lived caches."""

from __future__ import annotations

from portal.expiring_cache import Recent
from tests.support.apps import Clock


def test_an_entry_lives_until_its_own_deadline():
    clock = Clock()
    kept = Recent(clock=clock)
    kept.put("short", 1, seconds=2)
    kept.put("long", 2, seconds=10)
    clock.now += 2
    assert (kept.get("short"), kept.get("long")) == (None, 2)


def test_zero_seconds_keeps_nothing_and_forget_drops_at_once():
    kept = Recent(clock=Clock())
    kept.put("never", 1, seconds=0)
    kept.put("dropped", 2, seconds=60)
    kept.forget("dropped")
    kept.forget("unknown")  # forgetting what is not there is fine
    assert (kept.get("never"), kept.get("dropped")) == (None, None)


def test_the_least_recently_used_entry_goes_first_when_full():
    kept = Recent(capacity=2, clock=Clock())
    kept.put("a", 1, seconds=60)
    kept.put("b", 2, seconds=60)
    assert kept.get("a") == 1  # a is now the most recently used
    kept.put("c", 3, seconds=60)
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (1, None, 3)


def test_a_value_loaded_before_its_key_was_forgotten_is_not_kept():
    clock = Clock()
    kept = Recent(clock=clock)
    since = kept.stamp()
    kept.forget("row")  # e.g. the row was deleted while this value was being read
    kept.put("row", "stale", seconds=60, loaded_since=since)
    assert kept.get("row") is None
    clock.now += 1
    kept.put("row", "fresh", seconds=60, loaded_since=kept.stamp())
    assert kept.get("row") == "fresh"
