"""The app factory of a launched worker process (`flask --app portal.migration.worker_app:worker_app ...`)."""

from __future__ import annotations

import os

from flask import Flask

from portal import create_app
from portal.migration.launch import INSTANCE_ENV


def worker_app() -> Flask:
    """The portal with settings from the environment only (launch.worker_environment wrote them all) and the
    instance folder named there too."""
    config = {"INSTANCE_PATH": os.environ[INSTANCE_ENV]} if os.environ.get(INSTANCE_ENV) else None
    return create_app(config, environ=os.environ)
