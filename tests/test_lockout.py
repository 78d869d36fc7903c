"""Failed sign-ins: a locked (account, address) pair, a delay per account, atomic counts, real times, unlock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import LoginAttempt, LoginThrottle, utcnow
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh

ATTACKER = {"REMOTE_ADDR": "198.51.100.66"}
OFFICE = {"REMOTE_ADDR": "203.0.113.10"}


def attempt(client, password: str, *, email: str = "staff@example.com", where=OFFICE):
    return fresh(client, "/auth/login", "post", data={"email": email, "password": password}, environ_base=where)


def failures_recorded(email: str = "staff@example.com") -> int:
    return len(
        db.session.scalars(
            select(LoginAttempt.id).where(LoginAttempt.email == email, LoginAttempt.succeeded.is_(False))
        ).all()
    )


def test_wrong_passwords_from_one_address_do_not_lock_out_the_owner_elsewhere(app, client, staff_user):
    for _ in range(5):
        assert attempt(client, "wrong password!", where=ATTACKER).status_code == 401
    assert attempt(client, PASSWORD, where=ATTACKER).status_code == 429
    assert attempt(app.test_client(), PASSWORD, where=OFFICE).status_code == 302


def test_the_lock_tells_the_real_time_left_and_ends_with_it(app, client, staff_user):
    for _ in range(5):
        assert attempt(client, "wrong password!").status_code == 401
    response = attempt(client, PASSWORD)
    assert response.status_code == 429
    assert "Try again in 15 minutes." in response.get_data(as_text=True)
    assert response.headers["Retry-After"] in {"899", "900"}
    # Ten minutes later: five minutes left, and attempts during the lock did not extend it.
    for row in db.session.scalars(select(LoginThrottle)):
        row.last_failure_at -= timedelta(minutes=10)
        if row.blocked_until is not None:
            row.blocked_until -= timedelta(minutes=10)
    db.session.commit()
    response = attempt(client, PASSWORD)
    assert "Try again in 5 minutes." in response.get_data(as_text=True)
    db.session.execute(
        update(LoginThrottle).values(
            blocked_until=utcnow() - timedelta(seconds=1), last_failure_at=utcnow() - timedelta(minutes=16)
        )
    )
    db.session.commit()
    assert attempt(client, PASSWORD).status_code == 302


def test_attempts_during_a_lock_are_recorded_in_the_audit_trail_only(app, client, staff_user):
    from portal.models import AuditEvent

    for number in range(5 + 3):
        assert attempt(client, "wrong password!").status_code == (401 if number < 5 else 429)
    assert failures_recorded() == 5
    outcomes = [e.outcome for e in db.session.scalars(select(AuditEvent).where(AuditEvent.event == "auth.login"))]
    assert outcomes.count("refused") == 3 and outcomes.count("failure") == 5


class TestAccountDelay:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_MAX_ATTEMPTS": 2, "LOGIN_ACCOUNT_FAILURES": 6}

    @pytest.fixture
    def clock(self, monkeypatch):
        """The counters' time, which stands still unless the test moves it: a delay of seconds does
        not pass while a loaded machine serves the attempts."""
        now = {"now": utcnow()}
        monkeypatch.setattr("portal.auth.throttle.utcnow", lambda: now["now"])
        return now

    def test_failures_from_many_addresses_slow_the_account_down_without_locking_it(
        self, app, client, staff_user, clock
    ):
        for number in range(6):
            assert attempt(client, "wrong password!", where={"REMOTE_ADDR": f"198.51.100.{number}"}).status_code == 401
        response = attempt(client, PASSWORD, where=OFFICE)
        assert response.status_code == 429
        assert "Try again in 2 seconds." in response.get_data(as_text=True)
        clock["now"] += timedelta(seconds=1)
        assert "Try again in 1 second" in attempt(client, PASSWORD, where=OFFICE).get_data(as_text=True)
        # The delay passes: the owner gets in (the refused attempts did not extend it).
        clock["now"] += timedelta(seconds=1)
        assert attempt(client, PASSWORD, where=OFFICE).status_code == 302

    def test_the_delay_doubles_with_each_further_failure(self, app, client, staff_user, clock):
        for number in range(9):
            db.session.execute(update(LoginThrottle).values(blocked_until=None))
            db.session.commit()
            attempt(client, "wrong password!", where={"REMOTE_ADDR": f"198.51.100.{number}"})
        response = attempt(client, PASSWORD, where=OFFICE)
        assert "Try again in 16 seconds." in response.get_data(as_text=True)


def test_an_administrator_unlocks_an_account(app, client, staff_user, admin_user):
    for _ in range(5):
        assert attempt(client, "wrong password!").status_code == 401
    admin = app.test_client()
    fresh(admin, "/auth/login", "post", data={"email": admin_user.email, "password": PASSWORD})
    page = fresh(admin, f"/admin/users/{staff_user.id}/edit").get_data(as_text=True)
    assert "Sign-in is paused for this account" in page
    response = fresh(admin, f"/admin/users/{staff_user.id}/unlock", "post", follow_redirects=True)
    assert "Sign-in for staff@example.com is unlocked from every address." in response.get_data(as_text=True)
    assert attempt(client, PASSWORD).status_code == 302


def test_thirty_wrong_guesses_at_once_record_no_more_than_the_limit(app, staff_user):
    """Every guess is checked against the counter before its password; none slips past the limit."""
    limit = 5  # LOGIN_MAX_ATTEMPTS' default, as docs/security.md gives it
    start = threading.Barrier(30)
    statuses: list[int] = []

    def guess() -> None:
        client = app.test_client()
        start.wait(timeout=30)
        statuses.append(attempt(client, "wrong password!", where=ATTACKER).status_code)

    db.session.remove()
    threads = [threading.Thread(target=guess) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(statuses) == 30
    assert failures_recorded() <= limit
    assert statuses.count(401) <= limit and statuses.count(401) + statuses.count(429) == 30
    assert attempt(app.test_client(), PASSWORD, where=OFFICE).status_code == 302


def test_sign_ins_through_an_untrusted_proxy_are_warned_about_once(app, client, staff_user, caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="portal.auth"):
        for _ in range(2):
            fresh(
                client,
                "/auth/login",
                "post",
                data={"email": staff_user.email, "password": "wrong password!"},
                headers={"X-Forwarded-For": "203.0.113.7"},
            )
    warnings = [r.getMessage() for r in caplog.records if r.name == "portal.auth"]
    assert len(warnings) == 1 and "PROXY_FIX_X_FOR=0" in warnings[0]
