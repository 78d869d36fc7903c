"""Reset links by mail: a real SMTP conversation with a local aiosmtpd server."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller

from portal.extensions import db
from portal.models import PasswordReset
from tests.support.accounts import PASSWORD
from tests.support.apps import fresh


class Inbox:
    """What the SMTP server received; ``wait`` blocks until a message arrives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content))
        self.arrived.set()
        return "250 OK"

    def wait(self) -> Message:
        assert self.arrived.wait(timeout=30), "no mail arrived"
        return self.messages[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox(smtp_port):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def app_config(smtp_port):
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_port,
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "portal@example.com",
        "PORTAL_URL": "https://portal.example.com",
    }


def link_in(message: Message) -> str:
    body = message.get_payload(decode=True).decode()
    return next(line for line in body.splitlines() if line.startswith("https://portal.example.com/reset/"))


def test_an_administrators_reset_link_is_mailed(app, inbox, admin_client, staff_user):
    page = admin_client.post(f"/admin/users/{staff_user.id}/reset-link").get_data(as_text=True)
    assert "It was mailed to staff@example.com." in page
    message = inbox.wait()
    assert message["To"] == "staff@example.com" and message["From"] == "portal@example.com"
    url = link_in(message)
    assert f'value="{url}"' in page
    path = url.removeprefix("https://portal.example.com")
    visitor = app.test_client()
    assert (
        fresh(
            visitor, path, "post", data={"password": "mailed new password", "confirm": "mailed new password"}
        ).status_code
        == 302
    )


def test_forgot_password_mails_a_link_and_says_the_same_for_unknown_addresses(app, inbox, client, staff_user):
    page = client.get("/auth/forgot").get_data(as_text=True)
    assert "Send me a link" in page
    unknown = client.post("/auth/forgot", data={"email": "nobody@example.com"}, follow_redirects=True)
    assert db.session.query(PasswordReset).count() == 0
    known = client.post("/auth/forgot", data={"email": "Staff@Example.com"}, follow_redirects=True)
    assert unknown.status_code == known.status_code == 200
    assert unknown.get_data(as_text=True) == known.get_data(as_text=True)
    assert "If that address belongs to an account, a reset link is on its way." in known.get_data(as_text=True)
    message = inbox.wait()
    assert message["To"] == "staff@example.com"
    path = link_in(message).removeprefix("https://portal.example.com")
    assert fresh(app.test_client(), path).status_code == 200


def test_forgot_password_mails_one_link_per_quarter_hour(app, inbox, client, staff_user):
    client.post("/auth/forgot", data={"email": staff_user.email})
    inbox.wait()
    client.post("/auth/forgot", data={"email": staff_user.email})
    assert db.session.query(PasswordReset).count() == 1


def test_a_mail_server_that_is_down_still_shows_the_link(admin_client, staff_user):
    # No inbox fixture: nothing listens on the port.
    page = admin_client.post(f"/admin/users/{staff_user.id}/reset-link").get_data(as_text=True)
    assert "It could not be mailed" in page and 'value="https://portal.example.com/reset/' in page


def test_sign_in_still_works_with_mail_configured(auth, staff_user):
    assert auth.login(password=PASSWORD).status_code == 302
