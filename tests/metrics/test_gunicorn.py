"""Two real gunicorn workers (gunicorn.conf.py): one scrape sums both, and a killed worker's live gauge goes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from portal.config import SETTINGS
from tests.support.metrics import parse, requests_counted, value

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
HELD_BODY = b"email=a%40b.c&password=x&padding="


class Server:
    """gunicorn in a subprocess; its stderr is read on a thread (a full pipe would stall the server)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.url = ""
        self.held: list[socket.socket] = []
        self.process = subprocess.Popen(
            [
                str(GUNICORN),
                "--config",
                "gunicorn.conf.py",
                "--no-control-socket",
                "--workers",
                "2",
                "--timeout",
                "120",
                "--bind",
                "127.0.0.1:0",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if line.startswith("Document Portal is ready: "):
                self.url = line.split(": ", 1)[1].strip()
                self.ready.set()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", int(self.url.rstrip("/").rsplit(":", 1)[1])), timeout=30)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def stop(self) -> None:
        for held in self.held:
            held.close()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=30)
        self.process.stderr.close()


def _serving_pid(server: Server, client: socket.socket) -> int:
    """The worker that accepted ``client``'s connection: the one holding the socket /proc/net/tcp pairs with it."""
    server_port, client_port = client.getpeername()[1], client.getsockname()[1]
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == server_port and int(fields[2].split(":")[1], 16) == client_port:
            inode = fields[9]
    assert inode is not None
    for pid in server.worker_pids():
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
            except FileNotFoundError:
                continue
    raise AssertionError("no worker holds the connection")


def _hold(server: Server) -> socket.socket:
    """A sign-in with one byte of its body still to come: the worker waits for it inside the request."""
    held = server.connect()
    held.sendall(
        b"POST /auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
        % (len(HELD_BODY) + 1, HELD_BODY)
    )
    server.held.append(held)
    return held


def _wait_until(condition, what: str, attempts: int = 300) -> None:
    for _ in range(attempts):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture
def server(app, tmp_path):
    env = {key: val for key, val in os.environ.items() if key not in {s.name for s in SETTINGS}}
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(
        HOME=str(tmp_path / "home"),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        SECRET_KEY="gunicorn-test-secret",
        LOCAL_STORAGE_PATH=app.config["LOCAL_STORAGE_PATH"],
        LOG_LEVEL="warning",
    )
    (tmp_path / "home").mkdir()
    server = Server(env)
    try:
        if not server.ready.wait(timeout=120):
            raise AssertionError("gunicorn never said it was ready:\n" + "".join(server.lines))
        yield server
    finally:
        server.stop()


def test_two_workers_add_up_and_a_dead_workers_request_is_no_longer_in_progress(server, tmp_path):
    assert server.url.startswith("http://127.0.0.1:")
    assert sum(line.startswith("Document Portal is ready") for line in server.lines) == 1
    assert not (tmp_path / "home" / ".gunicorn").exists()  # no control socket shared with other gunicorns

    # A sign-in whose body never finishes keeps one sync worker busy: everything else goes to the other.
    held = _hold(server)
    _wait_until(lambda: _held_in_progress(server) == 2, "the held request to be in progress")
    busy = _serving_pid(server, held)
    assert busy in server.worker_pids()

    for _ in range(5):
        assert server.get("/healthz")[0] == 200
    assert server.get("/no-such-page")[0] == 404
    samples = parse(server.get("/metrics")[1])
    assert value(samples, "portal_http_requests_in_progress") == 2  # the held request and this scrape

    held.sendall(b"x")
    answer = held.recv(65536).decode(errors="replace")
    held_status = int(answer.split()[1])

    samples = parse(server.get("/metrics")[1])
    assert requests_counted(samples, "health.healthz", "GET", 200) == 5
    assert requests_counted(samples, "unmatched", "GET", 404) == 1
    assert requests_counted(samples, "auth.login", "POST", held_status) == 1  # counted by the other worker
    assert value(samples, "portal_http_requests_in_progress") == 1
    counted_by = {
        name.split("_")[-1].removesuffix(".db")
        for name in os.listdir(tmp_path / "prometheus")
        if name.startswith("counter_")
    }
    assert {str(pid) for pid in server.worker_pids()} <= counted_by and len(counted_by) >= 2

    # Hold the busy worker again, then kill it: child_exit drops its live gauge, counts stay.
    held = _hold(server)
    _wait_until(lambda: _held_in_progress(server) == 2, "the second held request to be in progress")
    victim = _serving_pid(server, held)
    os.kill(victim, signal.SIGKILL)
    _wait_until(lambda: victim not in server.worker_pids() and len(server.worker_pids()) == 2, "a new worker")
    samples = parse(server.get("/metrics")[1])
    assert value(samples, "portal_http_requests_in_progress") == 1
    assert requests_counted(samples, "health.healthz", "GET", 200) == 5
    assert requests_counted(samples, "auth.login", "POST", held_status) == 1  # the dead worker's count stays


def _held_in_progress(server: Server) -> float:
    return value(parse(server.get("/metrics")[1]), "portal_http_requests_in_progress")
