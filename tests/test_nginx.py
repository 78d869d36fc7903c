"""docs/ops/nginx.conf in front of a real gunicorn: slow anonymous bodies no longer starve the portal.

Ten connections trickle a sign-in form at one byte a second. Straight at gunicorn (two threads) they
hold every thread, so /healthz gets no answer while they last; through nginx, which reads whole
bodies before it asks gunicorn, /healthz answers as usual and the ten stay parked in nginx.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditEvent
from tests.support.gunicorn import served_by_gunicorn
from tests.support.nginx import nginx_in_front

pytestmark = pytest.mark.nginx

SLOW_CLIENTS = 10
THREADS = 2
#: the declared body: at one byte a second, over an hour to arrive
BODY_LENGTH = 4096
CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@pytest.fixture
def app_config():
    return {"PROXY_FIX_X_FOR": 1}


@pytest.fixture
def gunicorn(app):
    with served_by_gunicorn(app, threads=THREADS) as (base, _):
        yield base


@pytest.fixture
def nginx(gunicorn, tmp_path):
    with nginx_in_front(gunicorn, tmp_path / "nginx") as running:
        yield running


class SlowClients:
    """Connections that each send a sign-in POST's headers, then its body one byte a second."""

    def __init__(self, connect) -> None:
        self.sockets = [connect() for _ in range(SLOW_CLIENTS)]
        self.stop = threading.Event()
        self.failures: list[str] = []
        head = (
            "POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {BODY_LENGTH}\r\n\r\n"
        ).encode()
        for sock in self.sockets:  # one after another: the server takes them in this order
            sock.sendall(head + b"e")
        self.thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(1.0):
            for number, sock in enumerate(self.sockets):
                try:
                    sock.sendall(b"m")
                except OSError as exc:
                    self.failures.append(f"slow client {number}: {exc}")

    def unanswered(self) -> list[int]:
        """The clients still connected with no answer yet (stops the trickle)."""
        self.stop.set()
        self.thread.join(10)
        waiting = []
        for number, sock in enumerate(self.sockets):
            sock.settimeout(0.5)
            try:
                answered = sock.recv(1)
            except (TimeoutError, ssl.SSLWantReadError):
                waiting.append(number)
            except OSError:
                continue
            else:
                if not answered:
                    continue
        return waiting

    def close(self) -> None:
        self.stop.set()
        for sock in self.sockets:
            sock.close()


@contextmanager
def slow_clients(connect) -> Iterator[SlowClients]:
    clients = SlowClients(connect)
    try:
        yield clients
    finally:
        clients.close()


def plain(port: int):
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=30)


def tls(port: int, context: ssl.SSLContext):
    return lambda: context.wrap_socket(
        socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="127.0.0.1"
    )


def test_slow_anonymous_bodies_do_not_starve_the_portal_behind_nginx(nginx, staff_user):
    context = ssl.create_default_context(cafile=str(nginx.certificate))
    with slow_clients(tls(nginx.port, context)) as clients:
        health = requests.get(f"{nginx.base}/healthz", verify=str(nginx.certificate), timeout=60)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        page = requests.get(f"{nginx.base}/auth/login", verify=str(nginx.certificate), timeout=60)
        assert page.status_code == 200 and "Sign in" in page.text
        assert clients.unanswered() == list(range(SLOW_CLIENTS)), "the slow clients were not all still sending"
        assert clients.failures == []


def test_the_same_clients_straight_at_gunicorn_leave_healthz_unanswered(gunicorn):
    """The contrast: without nginx, every thread waits on a slow body and /healthz waits behind them.

    Not a timing claim: the only way /healthz could be answered here is for a body of BODY_LENGTH
    bytes to finish arriving at one byte a second.
    """
    port = int(gunicorn.rsplit(":", 1)[1])
    with slow_clients(plain(port)) as clients:
        with pytest.raises(requests.Timeout):
            requests.get(f"{gunicorn}/healthz", timeout=(10, 5))
        assert clients.unanswered() == list(range(SLOW_CLIENTS))
    assert requests.get(f"{gunicorn}/healthz", timeout=60).status_code == 200  # free again once they are gone


def test_through_nginx_the_portal_records_the_address_nginx_saw(nginx, staff_user):
    """X-Forwarded-For as the shipped file sets it, read with PROXY_FIX_X_FOR=1: a client cannot pick its address."""
    session, trust = (
        requests.Session(),
        str(nginx.certificate),
    )  # verify per request: REQUESTS_CA_BUNDLE beats session.verify
    token = CSRF.search(session.get(f"{nginx.base}/auth/login", verify=trust, timeout=60).text).group(1)
    refused = session.post(
        f"{nginx.base}/auth/login",
        data={"email": staff_user.email, "password": "not the password", "csrf_token": token},
        headers={"X-Forwarded-For": "203.0.113.50", "Referer": f"{nginx.base}/auth/login"},
        verify=trust,
        timeout=60,
    )
    assert refused.status_code == 401
    db.session.expire_all()
    [failure] = db.session.scalars(select(AuditEvent).where(AuditEvent.event == "auth.login")).all()
    assert (failure.outcome, failure.remote_addr) == ("failure", "127.0.0.1")
