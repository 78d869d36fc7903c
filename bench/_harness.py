"""Shared pieces of the portal benchmarks: servers on 127.0.0.1, a signed-in client, big files, worker RSS.

Every process started here gets its own session (process group) and is stopped by its own id;
every wait has a deadline, so nothing here can hang or outlive the benchmark that started it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin: gunicorn and flask live next to its python
MiB = 1024 * 1024
HOST = "127.0.0.1"
EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def setup_process() -> None:
    """Call first in a benchmark's main(): SIGTERM becomes SystemExit, so a killed benchmark still runs
    its clean-up (servers, temp files); and no proxy is used for 127.0.0.1 (requests, urllib and
    botocore here and in the servers started from here), so all traffic stays on this host."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    for name in ("NO_PROXY", "no_proxy"):
        os.environ[name] = ",".join(filter(None, [os.environ.get(name, ""), "127.0.0.1", "localhost"]))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_process(
    stack: ExitStack, args: list[str], *, env: dict | None = None, log: Path | None = None, cwd: Path = ROOT
) -> subprocess.Popen:
    """Start ``args`` in its own process group; ``stack`` stops it (and its children) on exit."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    if log:
        out.close()
    stack.callback(stop_process, process)
    return process


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM to the group we started (gunicorn's master and workers), SIGKILL after 10 s."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)  # the group id is the pid: start_new_session=True
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_http(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    """Poll ``url`` until it answers at all (any status); raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{process.args[0]} exited with {process.returncode} before answering {url}"
                ) from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:.0f} s") from None
            time.sleep(0.1)


def start_moto(stack: ExitStack, log: Path) -> tuple[subprocess.Popen, str]:
    """moto's S3 server in its own process (its memory and CPU are not the portal's); returns it and its endpoint."""
    port = free_port()
    process = start_process(stack, [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)], log=log)
    endpoint = f"http://{HOST}:{port}"
    wait_http(f"{endpoint}/moto-api/", process)
    return process, endpoint


STORES = ("moto", "rgw")


def start_store(stack: ExitStack, kind: str, log: Path) -> tuple[list[int], str]:
    """The S3 server a benchmark runs against, in processes of its own: moto's, or a throwaway Ceph RADOS
    Gateway (tests/support/rgw.py; apt-get install radosgw ceph-mon ceph-osd) whose user has the
    keys bench/bench. Returns the pids whose CPU is the store's, and the endpoint."""
    if kind == "moto":
        process, endpoint = start_moto(stack, log)
        return [process.pid], endpoint
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.rgw import running_rgw

    rgw = stack.enter_context(running_rgw(access_key="bench", secret_key="bench"))
    return list(rgw.pids), rgw.endpoint


def store_cpu(pids: list[int]) -> float:
    """CPU seconds the store's processes have used so far."""
    return sum(cpu_seconds(pid) for pid in pids)


def portal_env(folder: Path, endpoint: str, **settings: str | int) -> dict:
    """The environment of a portal on S3 (moto or the RGW) with its database and local files under ``folder``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("S3_", "STORAGE_", "AWS_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'portal.db'}",
        LOCAL_STORAGE_PATH=str(folder / "storage"),
        SECRET_KEY="bench",
        PORTAL_ENV="development",
        STORAGE_TYPE="s3",
        S3_BUCKET="bench",
        S3_ENDPOINT_URL=endpoint,
        S3_ACCESS_KEY="bench",
        S3_SECRET_KEY="bench",
        S3_REGION="us-east-1",
        MAX_UPLOAD_MB="1024",
        QUARANTINE_PATH=str(folder / "quarantine"),
        LOG_LEVEL="warning",
    )
    env.update({name: str(value) for name, value in settings.items()})
    return env


def prepare_portal(env: dict, log: Path) -> None:
    """Migrate the database, create the bucket and the admin user the benchmarks sign in as."""
    for args in (["db", "upgrade"], ["storage", "init"], ["users", "create", EMAIL, "--admin", "--password", PASSWORD]):
        with open(log, "ab") as out:
            done = subprocess.run(
                [str(BIN / "flask"), "--app", "wsgi", *args],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args[:2])} failed:\n{tail(log)}")


def start_gunicorn(
    stack: ExitStack, app: str, env: dict, log: Path, probe: str = "/healthz", extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen, str]:
    """gunicorn with the team's settings (1 worker, 4 threads) serving ``app``; returns it and its base URL."""
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "--workers",
        "1",
        "--threads",
        "4",
        "--bind",
        f"{HOST}:{port}",
        "--error-logfile",
        str(log),
        "--no-control-socket",
        *extra,
        app,
    ]
    process = start_process(stack, args, env=env, log=log)
    base = f"http://{HOST}:{port}"
    wait_http(base + probe, process)
    return process, base


def worker_pid(master: int, timeout: float = 10) -> int:
    """The pid of the single worker gunicorn ``master`` forked (not the master itself)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        except OSError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError(f"gunicorn master {master} has no worker")


def status_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` field (VmRSS, VmHWM) in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


class RssWatch:
    """Peak RSS of one process over a block: VmHWM reset at the start (Linux >= 4.0) and a 2 ms sampler.

    ``baseline`` is VmRSS right before the block; ``growth_mib`` the peak above it.
    """

    def __init__(self, pid: int, interval: float = 0.002, limit: float = 900):
        self.pid, self.interval, self.limit = pid, interval, limit
        self.baseline = self.peak = 0
        self.exact = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        deadline = time.monotonic() + self.limit  # bounded even if the caller forgets to stop it
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            except (OSError, RuntimeError):
                return
            time.sleep(self.interval)

    def __enter__(self) -> RssWatch:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.exact = True
        except OSError:
            self.exact = False
        self.baseline = self.peak = status_kib(self.pid, "VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self.exact:
            self.peak = max(self.peak, status_kib(self.pid, "VmHWM"))

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / 1024


def write_random_file(path: Path, size: int) -> None:
    """``size`` random bytes, one fresh MiB at a time (never the whole file in memory)."""
    with open(path, "wb") as out:
        left = size
        while left:
            step = min(left, MiB)
            out.write(os.urandom(step))
            left -= step


class MultipartBody:
    """A multipart/form-data body read from disk as it is sent: csrf_token field, then the file
    (after a ``size`` field with its byte count when ``declare_size``, as the page's script sends it).

    Has ``__len__``, so requests sends a Content-Length and streams it with read(); the client never
    holds more than one read's worth of the file.
    """

    def __init__(self, csrf_token: str, path: Path, filename: str, field: str = "files", declare_size: bool = False):
        self.boundary = "bench" + os.urandom(12).hex()
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        size_field = (
            (f'Content-Disposition: form-data; name="size"\r\n\r\n{path.stat().st_size}\r\n--{self.boundary}\r\n')
            if declare_size
            else ""
        )
        prefix = (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            f"{csrf_token}\r\n--{self.boundary}\r\n{size_field}"
            f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        suffix = f"\r\n--{self.boundary}--\r\n".encode()
        self._parts: list[bytes | BinaryIO] = [prefix.encode(), open(path, "rb"), suffix]
        self._length = len(self._parts[0]) + path.stat().st_size + len(self._parts[2])

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while self._parts and (size < 0 or len(out) < size):
            want = -1 if size < 0 else size - len(out)
            part = self._parts[0]
            if isinstance(part, bytes):
                piece = part if want < 0 else part[:want]
                self._parts[0] = part[len(piece) :]
                if not self._parts[0]:
                    self._parts.pop(0)
            else:
                piece = part.read(want)
                if not piece:
                    part.close()
                    self._parts.pop(0)
            out += piece
        return bytes(out)

    def close(self) -> None:
        for part in self._parts:
            if not isinstance(part, bytes):
                part.close()
        self._parts = []


def csrf_token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=30)
    page.raise_for_status()
    found = _CSRF.search(page.text)
    if not found:
        raise RuntimeError(f"no csrf-token meta tag on {url}")
    return found.group(1)


def sign_in(base: str) -> requests.Session:
    """A requests.Session signed in as the benchmark's admin."""
    session = requests.Session()
    token = csrf_token(session, f"{base}/auth/login")
    answer = session.post(
        f"{base}/auth/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302 or "/auth/login" in answer.headers.get("Location", ""):
        raise RuntimeError(f"sign-in failed ({answer.status_code})")
    return session


def create_document(session: requests.Session, base: str, title: str) -> int:
    """POST /documents/new; returns the new document's id (from its redirect)."""
    token = csrf_token(session, f"{base}/documents/new")
    answer = session.post(
        f"{base}/documents/new", data={"title": title, "csrf_token": token}, allow_redirects=False, timeout=30
    )
    found = re.search(r"/documents/(\d+)", answer.headers.get("Location", ""))
    if answer.status_code != 302 or not found:
        raise RuntimeError(f"creating a document failed ({answer.status_code})")
    return int(found.group(1))


def upload(
    session: requests.Session,
    base: str,
    document_id: int,
    path: Path,
    token: str,
    timeout: float = 600,
    declare_size: bool = False,
) -> dict:
    """Stream ``path`` to the document as a multipart upload (``token``: the session's CSRF token),
    like the page's script when ``declare_size``, else like a plain form; returns the 201 JSON's one file."""
    body = MultipartBody(token, path, path.name, declare_size=declare_size)
    try:
        answer = session.post(
            f"{base}/documents/{document_id}/attachments",
            data=body,
            timeout=timeout,
            headers={"Content-Type": body.content_type, "Accept": "application/json"},
        )
    finally:
        body.close()
    if answer.status_code != 201:
        raise RuntimeError(f"upload answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()["files"][0]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
