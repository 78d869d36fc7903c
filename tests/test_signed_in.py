"""Who is signed in is kept for LOGIN_CACHE_SECONDS per process; a deactivation here applies at once."""

from __future__ import annotations

import contextvars

import pytest
from sqlalchemy import event, update

from portal.expiring_cache import Recent
from portal.extensions import db
from portal.models import User
from tests.support.accounts import AuthActions
from tests.support.apps import Clock, fresh


@pytest.fixture
def clock(app) -> Clock:
    """The clock of this app's signed-in users (installed before the first request keeps anyone)."""
    clock = Clock()
    app.extensions["signed_in_users"] = Recent(clock=clock)
    return clock


def deactivate_elsewhere(user_id: int) -> None:
    """What another worker process's deactivation looks like from here: a changed row, nothing else."""
    db.session.execute(update(User).where(User.id == user_id).values(is_active=False))
    db.session.commit()


def statements(app) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_signed_in_request_does_not_load_the_account_again(app, clock, staff_client):
    assert fresh(staff_client, "/").status_code == 200
    seen = statements(app)
    assert fresh(staff_client, "/").status_code == 200
    # The list's uploader filter names every account (page content, ordered by name); nothing else may read users.
    account_reads = [
        sql
        for sql in seen
        if ('FROM "user"' in sql or "FROM user" in sql)
        and "ORDER BY user.name," not in sql
        and 'ORDER BY "user".name,' not in sql
    ]
    assert not account_reads


def test_a_deactivation_by_another_process_applies_within_the_window(app, clock, staff_client, staff_user):
    assert fresh(staff_client, "/").status_code == 200
    deactivate_elsewhere(staff_user.id)
    assert fresh(staff_client, "/").status_code == 200  # still within LOGIN_CACHE_SECONDS
    clock.now += app.config["LOGIN_CACHE_SECONDS"]
    response = fresh(staff_client, "/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_a_deactivation_by_an_admin_applies_at_once(app, clock, staff_client, staff_user, admin_user):
    assert fresh(staff_client, "/").status_code == 200
    admin = app.test_client()
    contextvars.Context().run(AuthActions(admin).login, admin_user.email)
    page = fresh(
        admin, f"/admin/users/{staff_user.id}/toggle", "post", data={"confirmed": "yes"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "staff@example.com is now deactivated." in page
    response = fresh(staff_client, "/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_a_change_of_role_elsewhere_applies_within_the_window(app, clock, staff_client, staff_user):
    assert fresh(staff_client, "/admin/users").status_code == 403
    db.session.execute(update(User).where(User.id == staff_user.id).values(is_admin=True))
    db.session.commit()
    assert fresh(staff_client, "/admin/users").status_code == 403  # another process's change: not yet
    clock.now += app.config["LOGIN_CACHE_SECONDS"]
    assert fresh(staff_client, "/admin/users").status_code == 200


class TestNotKept:
    @pytest.fixture
    def app_config(self):
        return {"LOGIN_CACHE_SECONDS": 0}

    def test_every_request_sees_the_account_as_it_is(self, staff_client, staff_user):
        assert fresh(staff_client, "/").status_code == 200
        deactivate_elsewhere(staff_user.id)
        response = fresh(staff_client, "/")
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_a_session_naming_no_account_is_signed_out(client, staff_client):
    with client.session_transaction() as session:
        session["_user_id"] = "not-a-number"
    response = fresh(client, "/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_an_account_loaded_before_it_was_forgotten_is_not_kept(app, clock, staff_user):
    """A request that read the account just before a deactivation must not keep its stale copy."""
    from portal.auth.signed_in import forget_signed_in_user, signed_in_user

    kept = app.extensions["signed_in_users"]
    real_stamp = kept.stamp

    def deactivated_while_loading():
        stamp = real_stamp()
        forget_signed_in_user(staff_user.id)  # what the admin's toggle does, between stamp and put
        return stamp

    kept.stamp = deactivated_while_loading
    assert signed_in_user(staff_user.id) is not None  # this request saw the account as it was
    kept.stamp = real_stamp
    assert kept.get(staff_user.id) is None  # but the next one reads it again
