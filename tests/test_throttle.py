"""The failed sign-in counters themselves (portal/auth/throttle.py): each rule at its boundary, on a clock
the test sets. tests/test_lockout.py checks the same rules through the sign-in page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.auth import throttle
from portal.auth.throttle import Rule, Throttled
from portal.extensions import db
from portal.models import LoginThrottle

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
PAIR = Rule("pair:a@example.com|192.0.2.1", 3, WINDOW, lock=WINDOW)
ACCOUNT = Rule("account:a@example.com", 3, WINDOW, max_delay=timedelta(seconds=20))


@pytest.fixture
def clock(app, monkeypatch):
    """The counters' time: ``clock["now"]``, moved by the test."""
    now = {"now": START}
    monkeypatch.setattr(throttle, "utcnow", lambda: now["now"])
    return now


def row(key: str) -> LoginThrottle | None:
    db.session.expire_all()
    return db.session.scalars(select(LoginThrottle).where(LoginThrottle.key == key)).one_or_none()


def aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def blocked_until(key: str) -> datetime | None:
    return aware(row(key).blocked_until)


def refused(rule: Rule) -> Throttled:
    with pytest.raises(Throttled) as caught:
        throttle.claim(rule)
    return caught.value


def test_throttled_rounds_the_time_left_up_to_whole_seconds():
    assert (Throttled(0.2, locked=False).seconds, Throttled(2.5, locked=True).seconds) == (1, 3)
    assert Throttled(0, locked=False).seconds == 1
    assert Throttled(60.0, locked=True).seconds == 60
    assert Throttled(59.6, locked=True).locked is True
    assert str(Throttled(59.6, locked=False)) == "refused for 60 s"


def test_the_delay_doubles_from_the_limit_up_to_its_maximum():
    rule = Rule("account:x", 3, WINDOW, max_delay=timedelta(seconds=20))
    assert [rule.delay(n).total_seconds() for n in (3, 4, 5, 6, 7)] == [2, 4, 8, 16, 20]
    assert rule.delay(10_000) == timedelta(seconds=20)  # no overflow on a huge count
    assert Rule("address:x", 1, WINDOW).max_delay == timedelta(minutes=2)
    assert Rule("address:x", 1, WINDOW).delay(200) == timedelta(minutes=2)


def test_the_first_failure_inserts_the_counter(clock):
    throttle.claim(PAIR)
    first = row(PAIR.key)
    assert (first.failures, first.version, first.blocked_until) == (1, 1, None)
    assert aware(first.first_failure_at) == aware(first.last_failure_at) == START


def test_a_pair_counts_to_its_limit_and_then_refuses_as_locked(clock):
    for n in range(1, 4):
        clock["now"] = START + timedelta(seconds=n)
        throttle.claim(PAIR)
        assert row(PAIR.key).failures == n
    assert blocked_until(PAIR.key) is None  # a pair is locked by lock_if_full, not by claim
    assert aware(row(PAIR.key).first_failure_at) == START + timedelta(seconds=1)
    caught = refused(PAIR)  # a fourth attempt while three are counted: the limit is taken
    assert (caught.seconds, caught.locked) == (15 * 60, True)
    assert row(PAIR.key).failures == 3


def test_a_full_pair_is_locked_for_its_lock_time_and_then_counts_afresh(clock):
    for _ in range(3):
        throttle.claim(PAIR)
    version = row(PAIR.key).version
    assert throttle.lock_if_full(PAIR) is True
    assert blocked_until(PAIR.key) == START + WINDOW
    assert row(PAIR.key).version == version + 1  # an attempt that read the counter before must read it again
    assert throttle.lock_if_full(PAIR) is False  # already locked: this call did not lock it
    clock["now"] = START + WINDOW - timedelta(seconds=30)
    caught = refused(PAIR)
    assert (caught.seconds, caught.locked) == (30, True)
    clock["now"] = START + WINDOW  # the lock has ended, and so has the window: counting starts again
    throttle.claim(PAIR)
    assert (row(PAIR.key).failures, blocked_until(PAIR.key)) == (1, None)
    assert aware(row(PAIR.key).first_failure_at) == START + WINDOW


def test_a_full_pair_whose_lock_ends_now_is_locked_again(clock):
    for _ in range(3):
        throttle.claim(PAIR)
    assert throttle.lock_if_full(PAIR) is True
    clock["now"] = START + WINDOW  # the lock ends exactly now; the counts are still there
    assert throttle.lock_if_full(PAIR) is True
    assert blocked_until(PAIR.key) == START + 2 * WINDOW


def test_locking_a_full_pair_locks_no_other(clock):
    other = Rule("pair:b@example.com|192.0.2.1", 3, WINDOW, lock=WINDOW)
    for _ in range(3):
        throttle.claim(PAIR)
        throttle.claim(other)
    assert throttle.lock_if_full(PAIR) is True
    assert blocked_until(other.key) is None


def test_a_pair_below_its_limit_is_not_locked(clock):
    throttle.claim(PAIR)
    throttle.claim(PAIR)
    assert throttle.lock_if_full(PAIR) is False
    assert blocked_until(PAIR.key) is None


def test_a_rule_without_a_lock_never_locks(clock):
    for _ in range(3):
        throttle.claim(ACCOUNT)
    clock["now"] = START + timedelta(seconds=2)  # past the delay set by the third failure
    assert throttle.lock_if_full(ACCOUNT) is False


def test_failures_older_than_the_window_are_forgotten(clock):
    throttle.claim(PAIR)
    throttle.claim(PAIR)
    clock["now"] = START + WINDOW - timedelta(microseconds=1)
    throttle.claim(PAIR)
    assert row(PAIR.key).failures == 3
    assert aware(row(PAIR.key).first_failure_at) == START
    clock["now"] = START + 2 * WINDOW - timedelta(microseconds=1)  # exactly a window after the last one
    throttle.claim(PAIR)
    assert row(PAIR.key).failures == 1


def test_an_account_waits_a_doubling_delay_from_its_limit_on(clock):
    throttle.claim(ACCOUNT)
    throttle.claim(ACCOUNT)
    assert blocked_until(ACCOUNT.key) is None
    throttle.claim(ACCOUNT)  # the third failure reaches the limit: 2 s
    assert blocked_until(ACCOUNT.key) == START + timedelta(seconds=2)
    caught = refused(ACCOUNT)
    assert (caught.seconds, caught.locked) == (2, False)
    clock["now"] = START + timedelta(seconds=2)  # the delay has passed: the next attempt is checked
    throttle.claim(ACCOUNT)
    assert blocked_until(ACCOUNT.key) == clock["now"] + timedelta(seconds=4)
    assert row(ACCOUNT.key).failures == 4


def test_each_claim_bumps_its_own_counters_version_by_one(clock):
    throttle.claim(PAIR)
    throttle.claim(ACCOUNT)  # both at version 1
    throttle.claim(PAIR)
    assert (row(PAIR.key).version, row(ACCOUNT.key).version) == (2, 1)
    assert (row(PAIR.key).failures, row(ACCOUNT.key).failures) == (2, 1)


def test_a_first_failure_that_loses_the_insert_is_counted_on_the_winners_row(clock, monkeypatch):
    execute = db.session.execute
    raced = []

    def another_attempt_inserts_first(statement, *args, **kwargs):
        if statement.is_insert and not raced:
            raced.append(True)
            with db.engine.begin() as conn:
                conn.execute(
                    LoginThrottle.__table__.insert().values(
                        key=PAIR.key, failures=1, version=1, first_failure_at=START, last_failure_at=START
                    )
                )
        return execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "execute", another_attempt_inserts_first)
    throttle.claim(PAIR)
    assert raced and (row(PAIR.key).failures, row(PAIR.key).version) == (2, 2)


def test_a_limit_of_one_delays_from_the_first_failure(clock):
    rule = Rule("address:192.0.2.9", 1, WINDOW)
    throttle.claim(rule)
    assert blocked_until(rule.key) == START + timedelta(seconds=2)
    two = Rule("address:192.0.2.10", 2, WINDOW)
    throttle.claim(two)
    assert blocked_until(two.key) is None  # a limit of two: the first failure is not delayed
    pair = Rule("pair:b@example.com|192.0.2.9", 1, WINDOW, lock=WINDOW)
    throttle.claim(pair)
    assert blocked_until(pair.key) is None  # a pair is locked after the password check, not before


def test_giving_back_undoes_one_claim_and_never_goes_below_zero(clock):
    throttle.claim(PAIR)
    throttle.claim(PAIR)
    version = row(PAIR.key).version
    throttle.give_back(PAIR)
    assert (row(PAIR.key).failures, row(PAIR.key).version) == (1, version + 1)
    throttle.give_back(PAIR)
    throttle.give_back(PAIR)
    assert row(PAIR.key).failures == 0
    throttle.give_back(Rule("pair:nobody", 3, WINDOW))  # no counter: nothing to give back
    assert row("pair:nobody") is None
    throttle.claim(PAIR)
    throttle.claim(ACCOUNT)
    throttle.give_back(ACCOUNT)
    assert (row(PAIR.key).failures, row(ACCOUNT.key).failures) == (1, 0)  # only its own counter


def test_a_counter_changed_by_another_attempt_is_read_again(clock, monkeypatch):
    throttle.claim(PAIR)
    execute = db.session.execute
    raced = []

    def another_attempt_first(statement, *args, **kwargs):
        if statement.is_dml and not raced:  # just before this attempt's compare-and-set
            raced.append(True)
            with db.engine.begin() as conn:
                conn.execute(
                    LoginThrottle.__table__.update()
                    .where(LoginThrottle.key == PAIR.key)
                    .values(failures=2, version=LoginThrottle.version + 1)
                )
        return execute(statement, *args, **kwargs)

    monkeypatch.setattr(db.session, "execute", another_attempt_first)
    throttle.claim(PAIR)
    assert raced and row(PAIR.key).failures == 3  # counted on top of the other attempt's failure


def test_an_attempt_that_never_wins_the_compare_and_set_is_turned_away(clock, monkeypatch):
    throttle.claim(ACCOUNT)
    execute = db.session.execute

    def always_changed(statement, *args, **kwargs):
        if statement.is_dml:
            with db.engine.begin() as conn:
                conn.execute(
                    LoginThrottle.__table__.update()
                    .where(LoginThrottle.key == ACCOUNT.key)
                    .values(version=LoginThrottle.version + 1)
                )
        return execute(statement, *args, **kwargs)

    monkeypatch.setattr(throttle, "MAX_ROUNDS", 3)
    monkeypatch.setattr(db.session, "execute", always_changed)
    caught = refused(ACCOUNT)
    assert (caught.seconds, caught.locked) == (2, False)


def test_clear_forgets_named_counters_and_those_under_a_prefix(clock):
    keys = ("pair:a@example.com|1", "pair:a@example.com|2", "pair:ab|1", "account:a@example.com", "other")
    for key in keys:
        throttle.claim(Rule(key, 3, WINDOW))
    assert throttle.clear("account:a@example.com", prefix="pair:a@example.com|") == 3
    assert {key for key in db.session.scalars(select(LoginThrottle.key))} == {"pair:ab|1", "other"}
    assert throttle.clear(prefix="pair:a%") == 0  # a prefix is literal, never a pattern
    assert throttle.clear(prefix="pair:a_|") == 0
    assert throttle.clear("pair:ab|1") == 1
    assert throttle.clear("missing") == 0
    assert [key for key in db.session.scalars(select(LoginThrottle.key))] == ["other"]


def test_blocked_counts_only_counters_that_refuse_now(clock):
    throttle.claim(Rule("address:1", 1, WINDOW))  # delayed 2 s
    throttle.claim(Rule("address:2", 3, WINDOW))  # counted, not delayed
    throttle.claim(Rule("pair:x|1", 1, WINDOW))
    throttle.claim(Rule("pair:x|2", 1, WINDOW))
    assert throttle.blocked("address:1", "address:2") == 1
    assert throttle.blocked(prefix="pair:x|") == 2
    assert throttle.blocked("address:1", prefix="pair:x|") == 3
    assert throttle.blocked(prefix="pair:%") == 0
    clock["now"] = START + timedelta(seconds=2)  # the delay ends now
    assert throttle.blocked("address:1", prefix="pair:x|") == 0


def test_purge_drops_only_old_counters_with_no_block_left(clock):
    throttle.claim(Rule("old", 3, WINDOW))
    throttle.claim(Rule("old-blocked", 1, WINDOW, max_delay=timedelta(days=2)))  # blocked for 2 s
    db.session.execute(
        LoginThrottle.__table__.update()
        .where(LoginThrottle.key == "old-blocked")
        .values(blocked_until=START + timedelta(days=2))
    )
    db.session.commit()
    clock["now"] = START + timedelta(days=1)
    throttle.claim(Rule("recent", 3, WINDOW))
    throttle.purge(timedelta(days=1))  # "old" failed exactly a day ago: not older than that yet
    db.session.commit()
    assert {key for key in db.session.scalars(select(LoginThrottle.key))} == {"old", "old-blocked", "recent"}
    clock["now"] = START + timedelta(days=1, seconds=1)
    throttle.purge(timedelta(days=1))
    db.session.commit()
    assert {key for key in db.session.scalars(select(LoginThrottle.key))} == {"old-blocked", "recent"}
    clock["now"] = START + timedelta(days=2)  # its block ends exactly now: kept
    throttle.purge(timedelta(days=1))
    db.session.commit()
    assert {key for key in db.session.scalars(select(LoginThrottle.key))} == {"old-blocked", "recent"}
    clock["now"] = START + timedelta(days=2, seconds=1)
    throttle.purge(timedelta(days=1))
    db.session.commit()
    assert list(db.session.scalars(select(LoginThrottle.key))) == []
