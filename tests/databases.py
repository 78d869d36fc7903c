"""Scratch databases for tests: SQLite files, or throwaway PostgreSQL databases when TEST_DATABASE_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
ENGINE = "postgresql" if TEST_DATABASE_URL else "sqlite"


def _admin_engine():
    return create_engine(TEST_DATABASE_URL, isolation_level="AUTOCOMMIT")


@contextmanager
def scratch_database(folder: Path, engine: str = ENGINE) -> Iterator[str]:
    """Yield the URL of an empty database of ``engine`` that is dropped afterwards."""
    if engine == "sqlite":
        folder.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{folder / f'scratch-{uuid.uuid4().hex[:8]}.db'}"
        return
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(TEST_DATABASE_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def engines() -> list[str]:
    """The engines a both-engines test runs on here: SQLite always, PostgreSQL when configured."""
    return ["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"]
