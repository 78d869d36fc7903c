"""Runs started from the dashboard work in a detached process, so no request, worker timeout or restart ends them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from flask import Flask

from portal.config import SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
#: the child's instance folder (create_app's INSTANCE_PATH), passed through the environment
INSTANCE_ENV = "PORTAL_INSTANCE_PATH"
#: the app factory a launched worker runs under (`flask --app ...`)
WORKER_APP = "portal.migration.worker_app:worker_app"


def _as_text(value) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(sorted(str(item) for item in value) if isinstance(value, (set, frozenset)) else value)
    return "" if value is None else str(value)


def worker_environment(config: Mapping, instance_path: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that must see exactly this app's settings: every setting of
    portal.config.SETTINGS written back as the text it parses from, over ``base`` (default os.environ)."""
    env = dict(os.environ if base is None else base)
    for setting in SETTINGS:
        if setting.name in config:
            env[setting.name] = _as_text(config[setting.name])
    env[INSTANCE_ENV] = str(instance_path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def worker_command(*args: str) -> list[str]:
    """``python -m flask --app portal.migration.worker_app:worker_app <args>``, with this interpreter."""
    return [sys.executable, "-m", "flask", "--app", WORKER_APP, *args]


def log_path(app: Flask, run_id: int) -> Path:
    """Where the output of run ``run_id``'s launched processes goes: instance/logs/migration-run-<id>.log."""
    return Path(app.instance_path) / "logs" / f"migration-run-{run_id}.log"


def launch(app: Flask, run_id: int, args: list[str]) -> int:
    """Start ``flask <args>`` for run ``run_id`` in its own session (so a signal to the web worker's group
    does not reach it), output appended to instance/logs/migration-run-<id>.log; returns its pid.

    Raises OSError when the process cannot be started.
    """
    path = log_path(app, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    env = worker_environment(app.config, app.instance_path)
    with open(path, "ab") as log:
        process = subprocess.Popen(
            worker_command(*args),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    # Reap it when it ends so it does not linger as a zombie while this web worker lives on.
    threading.Thread(target=process.wait, name=f"reap-run-{run_id}", daemon=True).start()
    return process.pid
