"""Sessions end: sign-out, new passwords, deactivation and "sign out everywhere" end cookies wherever they are replayed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from portal.extensions import db
from portal.models import UserSession, utcnow
from tests.support.accounts import PASSWORD, AuthActions, csrf_token_from
from tests.support.apps import fresh

REMEMBER = "remember_token"


def cookie(client, name: str) -> str | None:
    found = client.get_cookie(name)
    return found.value if found else None


def replay(app, **cookies):
    """A new browser holding only these cookies (a copy taken by someone else)."""
    other = app.test_client()
    for name, value in cookies.items():
        other.set_cookie(name, value)
    return other


def signed_in(client) -> bool:
    response = fresh(client, "/")
    return response.status_code == 200


def sign_in_remembered(client, email="staff@example.com"):
    return fresh(client, "/auth/login", "post", data={"email": email, "password": PASSWORD, "remember": "y"})


def test_a_remember_cookie_signs_in_a_new_browser_and_keeps_it_signed_in(app, client, staff_user):
    assert sign_in_remembered(client).status_code == 302
    other = replay(app, **{REMEMBER: cookie(client, REMEMBER)})
    assert signed_in(other)
    assert signed_in(other)  # the second request too: the restored session is bound to this browser


def test_a_remember_cookie_replayed_after_sign_out_is_refused(app, client, auth, staff_user):
    sign_in_remembered(client)
    remembered = cookie(client, REMEMBER)
    assert remembered
    auth.logout()
    assert not signed_in(replay(app, **{REMEMBER: remembered}))


def test_a_session_cookie_replayed_after_sign_out_is_refused(app, client, auth, staff_user):
    auth.login()
    copied = cookie(client, "session")
    assert signed_in(replay(app, session=copied))
    auth.logout()
    assert not signed_in(replay(app, session=copied))


def test_each_sign_in_gets_a_new_remember_cookie(app, staff_user):
    first, second = app.test_client(), app.test_client()
    sign_in_remembered(first)
    sign_in_remembered(second)
    assert cookie(first, REMEMBER) != cookie(second, REMEMBER)


def test_a_remember_cookie_ends_on_the_server_when_its_days_are_over(app, client, staff_user):
    sign_in_remembered(client)
    remembered = cookie(client, REMEMBER)
    row = db.session.scalars(db.select(UserSession)).one()
    assert row.remember and abs(
        (row.expires_at.replace(tzinfo=None) - row.created_at.replace(tzinfo=None))
        - timedelta(days=app.config["REMEMBER_DAYS"])
    ) < timedelta(seconds=1)
    db.session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    app.extensions.pop("signed_in_users", None)  # as in another process: nothing kept
    assert not signed_in(replay(app, **{REMEMBER: remembered}))


def test_sign_out_everywhere_ends_every_session(app, client, staff_user):
    sign_in_remembered(client)
    laptop = app.test_client()
    sign_in_remembered(laptop)
    remembered = cookie(laptop, REMEMBER)
    response = fresh(client, "/account/sign-out-everywhere", "post", follow_redirects=True)
    assert "You are signed out everywhere (2 sessions ended)." in response.get_data(as_text=True)
    assert not signed_in(client) and not signed_in(laptop)
    assert not signed_in(replay(app, **{REMEMBER: remembered}))


def test_a_new_password_ends_the_other_sessions_but_not_this_one(app, client, staff_user):
    sign_in_remembered(client)
    laptop = app.test_client()
    sign_in_remembered(laptop)
    response = fresh(
        client,
        "/account/password",
        "post",
        data={"current": PASSWORD, "password": "a brand new password", "confirm": "a brand new password"},
        follow_redirects=True,
    )
    assert "Your password is changed. 1 other session ended." in response.get_data(as_text=True)
    assert signed_in(client)
    assert not signed_in(laptop)


def test_reactivation_revives_no_session(app, staff_user, admin_user):
    staff = app.test_client()
    sign_in_remembered(staff)
    remembered, copied = cookie(staff, REMEMBER), cookie(staff, "session")
    admin = app.test_client()
    fresh(admin, "/auth/login", "post", data={"email": admin_user.email, "password": PASSWORD})
    assert (
        fresh(admin, f"/admin/users/{staff_user.id}/toggle", "post", data={"confirmed": "yes"}).status_code == 302
    )  # deactivate
    assert not signed_in(staff)
    assert fresh(admin, f"/admin/users/{staff_user.id}/toggle", "post").status_code == 302  # reactivate
    assert not signed_in(staff)
    assert not signed_in(replay(app, **{REMEMBER: remembered}))
    assert not signed_in(replay(app, session=copied))


class TestSignInRotatesTheCsrfToken:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_a_token_from_before_sign_in_is_refused_after_it(self, client, staff_user):
        planted = csrf_token_from(client.get("/auth/login").get_data(as_text=True))
        response = client.post(
            "/auth/login", data={"email": staff_user.email, "password": PASSWORD, "csrf_token": planted}
        )
        assert response.status_code == 302
        stale = client.post("/documents/new", data={"title": "Planted", "csrf_token": planted})
        assert stale.status_code == 400
        assert "missing its security token" in stale.get_data(as_text=True)
        current = csrf_token_from(client.get("/documents/new").get_data(as_text=True))
        assert current != planted
        assert client.post("/documents/new", data={"title": "Mine", "csrf_token": current}).status_code == 302

    def test_the_session_cookie_from_before_sign_in_does_not_become_signed_in(self, app, client, staff_user):
        client.get("/auth/login")
        before = cookie(client, "session")
        AuthActions(client).login()
        assert signed_in(client)
        assert not signed_in(replay(app, session=before))
