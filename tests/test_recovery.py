"""Recovering accounts: /account, an administrator's edit, one-time reset links, mail, the users commands."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import PasswordReset, User, utcnow
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh

NEW = "a fresh new password"


def reset_token(page: str) -> str:
    return page.split('id="reset-url" value="')[1].split('"')[0].rsplit("/reset/", 1)[1]


def issue_link(admin_client, user) -> str:
    response = admin_client.post(f"/admin/users/{user.id}/reset-link")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    return reset_token(response.get_data(as_text=True))


# /account


def test_change_own_password_needs_the_current_one(staff_client, auth, staff_user):
    response = staff_client.post(
        "/account/password", data={"current": "not it at all", "password": NEW, "confirm": NEW}
    )
    assert response.status_code == 400 and "The current password is not right." in response.get_data(as_text=True)
    response = staff_client.post(
        "/account/password", data={"current": PASSWORD, "password": NEW, "confirm": NEW}, follow_redirects=True
    )
    assert "Your password is changed." in response.get_data(as_text=True)
    auth.logout()
    assert auth.login(password=PASSWORD).status_code == 401
    assert auth.login(password=NEW).status_code == 302


def test_change_own_name_and_email(staff_client, auth, staff_user, admin_user):
    response = staff_client.post("/account", data={"name": "Samantha", "email": "sam@example.com"})
    assert "Enter your current password to change your email address." in response.get_data(as_text=True)
    response = staff_client.post(
        "/account", data={"name": "Samantha", "email": admin_user.email, "confirm_password": PASSWORD}
    )
    assert "already exists" in response.get_data(as_text=True)
    response = staff_client.post(
        "/account",
        data={"name": "Samantha", "email": "Sam@Example.com", "confirm_password": PASSWORD},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Your name and email are saved." in page and "Samantha" in page
    assert db.session.get(User, staff_user.id).email == "sam@example.com"
    response = staff_client.post("/account", data={"name": "Sam S", "email": "sam@example.com"}, follow_redirects=True)
    assert "Your name and email are saved." in response.get_data(as_text=True)  # no password needed for a name


def test_the_account_page_shows_the_forms(staff_client):
    page = staff_client.get("/account").get_data(as_text=True)
    assert "Change password" in page and "Sign out everywhere" in page and "staff@example.com" in page


# an administrator's edit


def test_admin_edits_name_email_and_role_with_confirmation(admin_client, staff_user):
    data = {"name": "Sam Boss", "email": "boss@example.com", "is_admin": "y", "is_active": "y"}
    response = admin_client.post(f"/admin/users/{staff_user.id}/edit", data=data)
    assert response.status_code == 400
    assert "Tick this to change the role or the status" in response.get_data(as_text=True)
    assert not db.session.get(User, staff_user.id).is_admin
    response = admin_client.post(
        f"/admin/users/{staff_user.id}/edit", data={**data, "confirm": "y"}, follow_redirects=True
    )
    assert "boss@example.com is saved." in response.get_data(as_text=True)
    user = db.session.get(User, staff_user.id)
    assert (user.name, user.email, user.is_admin) == ("Sam Boss", "boss@example.com", True)


def test_admin_deactivation_from_the_edit_page_ends_the_sessions(app, admin_client, staff_user):
    staff = app.test_client()
    fresh(staff, "/auth/login", "post", data={"email": staff_user.email, "password": PASSWORD})
    assert fresh(staff, "/").status_code == 200
    response = fresh(
        admin_client,
        f"/admin/users/{staff_user.id}/edit",
        "post",
        data={"name": staff_user.name, "email": staff_user.email, "confirm": "y"},
    )
    assert response.status_code == 302
    assert fresh(staff, "/").status_code == 302


def test_admin_cannot_demote_or_deactivate_themselves(admin_client, admin_user):
    response = admin_client.post(
        f"/admin/users/{admin_user.id}/edit",
        data={"name": "Ada", "email": admin_user.email, "is_active": "y", "confirm": "y"},
    )
    assert "You cannot remove your own administrator role." in response.get_data(as_text=True)
    assert db.session.get(User, admin_user.id).is_admin


def test_staff_cannot_edit_accounts(staff_client, admin_user):
    assert staff_client.get(f"/admin/users/{admin_user.id}/edit").status_code == 403
    assert staff_client.post(f"/admin/users/{admin_user.id}/reset-link").status_code == 403


# reset links


def test_a_reset_link_works_once(app, admin_client, staff_user):
    token = issue_link(admin_client, staff_user)
    visitor = app.test_client()
    page = fresh(visitor, f"/reset/{token}").get_data(as_text=True)
    assert "Choose a new password" in page and staff_user.email in page
    response = fresh(visitor, f"/reset/{token}", "post", data={"password": NEW, "confirm": NEW}, follow_redirects=True)
    assert "The password of staff@example.com is set." in response.get_data(as_text=True)
    again = fresh(
        visitor, f"/reset/{token}", "post", data={"password": "another new password", "confirm": "another new password"}
    )
    assert again.status_code == 410 and "not valid any more" in again.get_data(as_text=True)
    assert fresh(visitor, "/auth/login", "post", data={"email": staff_user.email, "password": NEW}).status_code == 302


def test_a_reset_link_expires(app, admin_client, staff_user):
    token = issue_link(admin_client, staff_user)
    db.session.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    visitor = app.test_client()
    assert fresh(visitor, f"/reset/{token}").status_code == 410
    assert fresh(visitor, f"/reset/{token}", "post", data={"password": NEW, "confirm": NEW}).status_code == 410
    assert db.session.get(User, staff_user.id).check_password(PASSWORD)


def test_a_reset_link_lasts_a_day(app, admin_client, staff_user):
    issue_link(admin_client, staff_user)
    reset = db.session.scalars(select(PasswordReset)).one()
    assert reset.expires_at - reset.created_at == timedelta(hours=24)


def test_a_new_link_retires_the_old_one_and_a_reset_ends_every_session(app, admin_client, staff_user):
    staff = app.test_client()
    fresh(staff, "/auth/login", "post", data={"email": staff_user.email, "password": PASSWORD})
    old, new = issue_link(admin_client, staff_user), issue_link(admin_client, staff_user)
    visitor = app.test_client()
    assert fresh(visitor, f"/reset/{old}").status_code == 410
    fresh(visitor, f"/reset/{new}", "post", data={"password": NEW, "confirm": NEW})
    assert fresh(staff, "/").status_code == 302


def test_two_uses_of_one_link_at_once_set_one_password(app, admin_client, staff_user):
    token = issue_link(admin_client, staff_user)
    db.session.remove()
    statuses: list[int] = []
    start = threading.Barrier(2)

    def use(password: str) -> None:
        client = app.test_client()
        start.wait(timeout=30)
        statuses.append(
            fresh(client, f"/reset/{token}", "post", data={"password": password, "confirm": password}).status_code
        )

    threads = [threading.Thread(target=use, args=(f"{NEW} {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [302, 410]


# forgot password


def test_forgot_password_without_mail_says_to_ask_an_administrator(client, staff_user):
    assert "Forgot password?" in client.get("/auth/login").get_data(as_text=True)
    page = client.get("/auth/forgot").get_data(as_text=True)
    assert "Ask an administrator for a password reset link" in page
    assert db.session.query(PasswordReset).count() == 0


# commands


def test_users_list_set_password_and_reset_link(app, runner, staff_user, admin_user):
    listed = runner.invoke(args=["users", "list"])
    assert listed.exit_code == 0
    assert "admin@example.com\tadmin\tactive\tAda Admin" in listed.output
    assert "staff@example.com\tstaff\tactive\tSam Staff" in listed.output
    done = runner.invoke(args=["users", "set-password", "STAFF@example.com", "--password", NEW])
    assert done.exit_code == 0, done.output
    assert "Password of staff@example.com set; 0 sessions ended." in done.output
    assert db.session.get(User, staff_user.id).check_password(NEW)
    short = runner.invoke(args=["users", "set-password", "staff@example.com", "--password", "short"])
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    missing = runner.invoke(args=["users", "reset-link", "nobody@example.com"])
    assert missing.exit_code == 1 and "No account has the email nobody@example.com." in missing.output
    link = runner.invoke(args=["users", "reset-link", "staff@example.com"])
    assert link.exit_code == 0
    path = link.stdout.strip()
    assert path.startswith("/reset/")
    assert app.test_client().get(path).status_code == 200


class TestPortalUrl:
    @pytest.fixture
    def app_config(self):
        return {"PORTAL_URL": "https://portal.example.com"}

    def test_reset_links_start_with_the_portal_url(self, runner, admin_client, staff_user):
        link = runner.invoke(args=["users", "reset-link", "staff@example.com"])
        assert link.stdout.startswith("https://portal.example.com/reset/")
        page = admin_client.post(f"/admin/users/{staff_user.id}/reset-link").get_data(as_text=True)
        assert 'value="https://portal.example.com/reset/' in page
