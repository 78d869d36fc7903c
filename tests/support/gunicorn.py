"""A test's portal served by a real gunicorn master with one gthread worker, on a free port of 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from portal.migration.launch import PROJECT_ROOT, worker_environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served_by_gunicorn(app, *, threads: int = 2, log: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start gunicorn on ``app``'s settings, wait until /healthz answers, yield (base URL, master); stop it after.

    ``log``: a file that gets gunicorn's and the portal's log lines (standard error), else they are dropped.
    """
    port = free_port()
    output = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115  (closed below)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            "1",
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--control-socket",
            f"{app.instance_path}/gunicorn.ctl",
            "portal.migration.worker_app:worker_app()",
        ],
        cwd=PROJECT_ROOT,
        env=worker_environment(app.config, app.instance_path),
        stdout=subprocess.DEVNULL,
        stderr=output,
    )
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    try:
        while True:
            try:
                requests.get(base + "/healthz", timeout=10)
                break
            except requests.RequestException:  # not listening yet, or a busy machine answering slowly
                assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        if log is not None:
            output.close()
