"""Sign-in, first-run setup, access rules, CSRF and limits on failed sign-ins."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.models import User
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh


def test_fresh_install_sends_the_first_visit_to_setup(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup")
    page = client.get("/setup").get_data(as_text=True)
    assert "Create the administrator" in page


def test_setup_creates_an_admin_and_signs_in(client):
    response = client.post(
        "/setup",
        data={
            "name": "Ada",
            "email": "Ada@Example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
        follow_redirects=True,
    )
    assert response.status_code == 200
    assert "The administrator account is ready" in response.get_data(as_text=True)
    user = db.session.scalars(db.select(User)).one()
    assert (user.email, user.is_admin) == ("ada@example.com", True)
    assert user.password_hash != PASSWORD


def test_setup_is_gone_once_a_user_exists(client, admin_user):
    assert client.get("/setup").status_code == 404
    response = client.post(
        "/setup", data={"name": "Eve", "email": "eve@example.com", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 404
    assert db.session.query(User).count() == 1


@pytest.mark.parametrize(
    "form, message",
    [
        ({"password": "short", "confirm": "short"}, "Field must be at least 10 characters long."),
        ({"password": PASSWORD, "confirm": PASSWORD + "x"}, "The passwords differ."),
        ({"email": "", "password": PASSWORD, "confirm": PASSWORD}, "This field is required."),
    ],
)
def test_setup_rejects_bad_input_and_creates_nothing(client, form, message):
    data = {"name": "Ada", "email": "ada@example.com", **form}
    response = client.post("/setup", data=data)
    assert message in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_every_page_needs_a_login(client, admin_user):
    for path in ["/", "/documents/new", "/documents/1", "/admin/users"]:
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/auth/login" in response.headers["Location"]


def test_login_and_logout(client, auth, staff_user):
    response = auth.login(follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Welcome, Sam Staff." in page
    assert "Sam Staff" in page and ">staff<" in page
    assert client.get("/").status_code == 200
    auth.logout()
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused_with_a_message(client, auth, staff_user):
    response = auth.login(password="not the password")
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_deactivated_account_cannot_sign_in(client, auth, staff_user):
    staff_user.is_active = False
    db.session.commit()
    assert auth.login().status_code == 401


def test_login_follows_only_local_next(client, auth, staff_user):
    response = auth.login(query_string={"next": "https://evil.example/steal"})
    assert response.headers["Location"] == "/"
    auth.logout()
    response = auth.login(query_string={"next": "/documents/new"})
    assert response.headers["Location"] == "/documents/new"


def test_repeated_failures_are_limited_even_with_the_right_password(app, client, auth, staff_user):
    for _ in range(5):
        assert auth.login(password="wrong password!").status_code == 401
    response = auth.login()
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_failures_on_one_account_do_not_lock_out_others_from_elsewhere(app, client, auth, staff_user, admin_user):
    for _ in range(5):
        assert auth.login(password="wrong password!", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 401
    response = auth.login(admin_user.email, environ_base={"REMOTE_ADDR": "10.0.0.10"})
    assert response.status_code == 302


def test_staff_get_403_on_admin_pages(staff_client):
    response = staff_client.get("/admin/users")
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)


def test_admin_creates_a_staff_account(admin_client, auth):
    response = admin_client.post(
        "/admin/users",
        data={
            "name": "New Person",
            "email": "new@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
        follow_redirects=True,
    )
    assert "new@example.com can now sign in as staff." in response.get_data(as_text=True)
    auth.logout()
    assert auth.login("new@example.com").status_code == 302


def test_admin_cannot_deactivate_themselves(admin_client, admin_user):
    response = admin_client.post(
        f"/admin/users/{admin_user.id}/toggle", data={"confirmed": "yes"}, follow_redirects=True
    )
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    assert db.session.get(User, admin_user.id).is_active


class TestCSRF:
    @pytest.fixture
    def app_config(self):
        return {"WTF_CSRF_ENABLED": True}

    def test_post_without_token_is_refused_with_a_clear_page(self, client, staff_user):
        response = client.post("/auth/login", data={"email": staff_user.email, "password": PASSWORD})
        assert response.status_code == 400
        assert "missing its security token" in response.get_data(as_text=True)
        assert client.get("/").status_code == 302

    def test_post_with_the_token_from_the_form_works(self, client, staff_user):
        page = client.get("/auth/login").get_data(as_text=True)
        token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
        response = client.post(
            "/auth/login", data={"email": staff_user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302

    def test_sign_out_needs_the_token_too(self, client, auth, staff_user):
        auth.login()
        assert client.post("/auth/logout").status_code == 400
        assert fresh(client, "/").status_code == 200  # still signed in
        assert auth.logout().status_code == 302
        assert fresh(client, "/").status_code == 302


def test_cli_creates_users(runner):
    result = runner.invoke(args=["users", "create", "ops@example.com", "--admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Created admin ops@example.com." in result.output
    result = runner.invoke(args=["users", "create", "ops@example.com", "--password", PASSWORD])
    assert result.exit_code == 1
    assert "already exists" in result.output
    result = runner.invoke(args=["users", "create", "short@example.com", "--password", "short"])
    assert result.exit_code == 1
    assert "at least 10 characters" in result.output
    assert db.session.query(User).count() == 1


def test_typos_from_a_shared_address_do_not_lock_out_everyone(app, client, auth, staff_user, admin_user):
    for _ in range(5):
        assert auth.login("nobody@example.com", "wrong password!").status_code == 401
    assert auth.login(admin_user.email).status_code == 302


def test_an_address_failing_far_too_often_is_limited(app, client, auth, staff_user):
    for number in range(20):  # 4 × LOGIN_MAX_ATTEMPTS, as docs/security.md says
        assert auth.login(f"guess{number}@example.com", "wrong password!").status_code == 401
    assert auth.login().status_code == 429


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self):
        return {"PROXY_FIX_X_FOR": 1}

    def test_the_client_address_from_the_proxy_is_recorded(self, client, staff_user):
        from portal.models import LoginAttempt

        client.post(
            "/auth/login",
            data={"email": staff_user.email, "password": "wrong password!"},
            headers={"X-Forwarded-For": "203.0.113.7"},
        )
        assert [a.remote_addr for a in db.session.query(LoginAttempt)] == ["203.0.113.7"]


def test_refused_requests_queue_the_sign_in_note_once(client, staff_user):
    for _ in range(5):
        response = client.get("/documents/new")
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login?next=")
    with client.session_transaction() as session:
        assert [message for _, message in session["_flashes"]] == ["Please sign in to continue."]
    page = client.get("/auth/login").get_data(as_text=True)
    assert page.count("Please sign in to continue.") == 1


def test_two_first_visits_at_once_make_one_administrator(app, monkeypatch):
    """Both check for accounts at the same moment; only one may create the administrator."""
    import threading

    from portal.auth import service

    both_checking = threading.Barrier(2)
    checked = service.has_users

    def has_users_together():
        try:
            both_checking.wait(timeout=1)  # the race: each waits for the other to have checked too
        except threading.BrokenBarrierError:
            pass  # the other is held off until this one is done: no race to arrange
        return checked()

    monkeypatch.setattr(service, "has_users", has_users_together)
    db.session.rollback()
    outcomes: list[str] = []

    def first_visit(number: int) -> None:
        with app.app_context():
            try:
                service.create_first_admin(f"admin{number}@example.com", "Admin", PASSWORD)
                outcomes.append("created")
            except service.AccountError as exc:
                outcomes.append(str(exc))
            finally:
                db.session.remove()

    visits = [threading.Thread(target=first_visit, args=(number,)) for number in (1, 2)]
    for visit in visits:
        visit.start()
    for visit in visits:
        visit.join(timeout=30)
    assert sorted(outcomes) == ["The portal is already set up. Sign in instead.", "created"]
    assert db.session.query(User).count() == 1
