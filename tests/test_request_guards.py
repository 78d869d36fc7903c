"""Requests turned away early: unread anonymous bodies, small-form limits, nonsense page numbers and `next`,
weak production keys, and who may edit a document."""

from __future__ import annotations

import io

import pytest

from portal import ConfigError
from portal.config import load_settings
from portal.extensions import db
from portal.models import Document
from tests.support.accounts import PASSWORD
from tests.support.cli import flask_cli


class WatchedBody(io.BytesIO):
    """A request body that notes whether anyone read it."""

    read_at_all = False

    def read(self, *args):
        WatchedBody.read_at_all = True
        return super().read(*args)

    readline = read


@pytest.fixture
def app_config():
    return {"WTF_CSRF_ENABLED": True}


def test_an_anonymous_upload_is_refused_before_its_body_is_read(client, staff_user):
    WatchedBody.read_at_all = False
    body = WatchedBody(b"x" * 1024 * 1024)
    response = client.post(
        "/documents/new",
        input_stream=body,
        content_type="multipart/form-data; boundary=zzz",
        environ_overrides={"CONTENT_LENGTH": str(1024 * 1024)},
    )
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert not WatchedBody.read_at_all


@pytest.mark.parametrize("path", ["/auth/login", "/auth/forgot", "/reset/some-token", "/setup"])
def test_small_forms_refuse_a_large_body_with_a_413_page(client, path):
    response = client.post(path, data={"email": "a@example.com", "password": "x" * (65 * 1024)})
    assert response.status_code == 413
    assert "larger than the 64 KB this page accepts" in response.get_data(as_text=True)


def test_a_small_form_body_is_refused_unread_when_its_length_says_too_much(client, staff_user):
    WatchedBody.read_at_all = False
    response = client.post(
        "/auth/login",
        input_stream=WatchedBody(b"email=a"),
        content_type="application/x-www-form-urlencoded",
        environ_overrides={"CONTENT_LENGTH": str(10 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert not WatchedBody.read_at_all


@pytest.mark.parametrize("page", ["0", "-1", "abc", str(2**63), str(2**64), "1" * 40, "100001"])
def test_absurd_page_numbers_are_a_400(app, client, auth, staff_user, page):
    auth.login()
    response = client.get(f"/?page={page}")
    assert response.status_code == 400
    assert "The page number must be a whole number" in response.get_data(as_text=True)


def test_a_control_character_in_next_is_a_400(client, auth, staff_user):
    assert client.get("/auth/login?next=/documents%0d%0aSet-Cookie:x=1").status_code == 400
    response = auth.login(query_string={"next": "/documents\r\nLocation: https://evil.example"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # not signed in


def test_a_backslash_next_stays_on_the_site(client, auth, staff_user):
    response = auth.login(query_string={"next": "/\\evil.example"})
    assert response.headers["Location"] == "/"


class TestDocumentEditing:
    @pytest.fixture
    def app_config(self):
        return {}

    @pytest.fixture
    def others_document(self, admin_user):
        document = Document(title="Admin's plan", created_by=admin_user.id)
        db.session.add(document)
        db.session.commit()
        return document

    def test_staff_get_403_on_another_persons_document(self, staff_client, others_document):
        assert staff_client.get(f"/documents/{others_document.id}/edit").status_code == 403
        response = staff_client.post(f"/documents/{others_document.id}/edit", data={"title": "Mine now"})
        assert response.status_code == 403
        assert db.session.get(Document, others_document.id).title == "Admin's plan"
        assert ">Edit</a>" not in staff_client.get(f"/documents/{others_document.id}").get_data(as_text=True)

    def test_an_administrator_edits_anyones_document(self, client, auth, staff_user, admin_user):
        document = Document(title="Staff notes", created_by=staff_user.id)
        db.session.add(document)
        db.session.commit()
        auth.login(admin_user.email)
        response = client.post(f"/documents/{document.id}/edit", data={"title": "Reviewed notes"})
        assert response.status_code == 302
        assert db.session.get(Document, document.id).title == "Reviewed notes"


@pytest.mark.parametrize(
    "key, fragment",
    [
        ("changeme", "SECRET_KEY is a published example value"),
        ("Your-Secret-Key-Here", "SECRET_KEY is a published example value"),
        ("short-but-random-9f8e7d", "SECRET_KEY has 23 characters, fewer than the 32 required"),
    ],
)
def test_production_refuses_a_guessable_secret_key(tmp_path, key, fragment):
    with pytest.raises(ConfigError) as caught:
        load_settings({"PORTAL_ENV": "production", "SECRET_KEY": key}, str(tmp_path))
    assert fragment in str(caught.value) and "\n" not in str(caught.value)
    assert key not in str(caught.value)


def test_development_accepts_any_key(tmp_path):
    assert load_settings({"SECRET_KEY": "changeme"}, str(tmp_path))["SECRET_KEY"] == "changeme"


def test_production_with_changeme_refuses_to_start():
    result = flask_cli({"PORTAL_ENV": "production", "SECRET_KEY": "changeme"}, "routes")
    assert result.returncode != 0
    assert "Configuration error: SECRET_KEY is a published example value" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "environ, fragment",
    [
        (
            {"SMTP_HOST": "mail.example.com", "PORTAL_URL": "https://p.example.com"},
            "SMTP_FROM is required when SMTP_HOST",
        ),
        ({"SMTP_HOST": "mail.example.com", "SMTP_FROM": "p@example.com"}, "PORTAL_URL is required when SMTP_HOST"),
        ({"PORTAL_URL": "portal.example.com"}, "PORTAL_URL='portal.example.com' must be an http:// or https:// URL"),
        ({"SMTP_USERNAME": "portal"}, "SMTP_USERNAME and SMTP_PASSWORD go together"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not accepted; use one of: text, json"),
        ({"REMEMBER_DAYS": "0"}, "REMEMBER_DAYS=0 is out of range"),
    ],
)
def test_bad_account_settings_stop_start_up(tmp_path, environ, fragment):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, str(tmp_path))
    assert fragment in str(caught.value)


def test_sign_in_with_csrf_still_works(client, auth, staff_user):
    assert auth.login(password=PASSWORD).status_code == 302
