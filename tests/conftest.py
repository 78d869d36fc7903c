"""Fixtures shared by every test: a fresh app and database per test, clients, users, sign-in."""

from __future__ import annotations

import contextvars
import gc
import shutil

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from portal import create_app
from portal.auth.service import create_user
from portal.extensions import db, storage
from tests.databases import ENGINE, scratch_database
from tests.support.moto_server import moto_endpoint  # noqa: F401  (fixtures for every suite)
from tests.support.stores import rgw_server, s3_server, server_params, skip_rgw_where_missing  # noqa: F401

PASSWORD = "correct horse battery"


def pytest_generate_tests(metafunc):
    """A test on ``s3_server`` runs on moto and on the RGW; one marked ``moto`` (or ``rgw``) on that one only."""
    if "s3_server" in metafunc.fixturenames:
        marked = {name for name in ("moto", "rgw") if metafunc.definition.get_closest_marker(name)}
        metafunc.parametrize("s3_server", server_params(marked), indirect=True)


def pytest_collection_modifyitems(config, items):
    skip_rgw_where_missing(items)


def make_app(tmp_path, database_url: str, **overrides):
    """A portal on ``database_url`` with its instance folder and local store under ``tmp_path``."""
    config = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key",
        "LOCAL_STORAGE_PATH": str(tmp_path / "storage"),
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        **overrides,
    }
    # environ={} keeps the developer's shell and .env out of the tests.
    return create_app(config, environ={})


@pytest.fixture(scope="session")
def database_at_head(tmp_path_factory):
    """A database migrated to head once per run; SQLite tests copy it, PostgreSQL tests truncate it."""
    folder = tmp_path_factory.mktemp("template")
    with scratch_database(folder) as url:
        app = make_app(folder, url)
        with app.app_context():
            upgrade()
            db.engine.dispose()
        yield url


def _truncate_all() -> None:
    names = ", ".join(
        f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"' for table in db.metadata.sorted_tables
    )
    db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app_config():
    """Per-test setting overrides; a test module overrides this fixture to change settings."""
    return {}


@pytest.fixture
def app(database_at_head, tmp_path, app_config):
    if ENGINE == "sqlite":
        path = tmp_path / "portal.db"
        shutil.copyfile(database_at_head.removeprefix("sqlite:///"), path)
        url = f"sqlite:///{path}"
    else:
        url = database_at_head
    app = make_app(tmp_path, url, **app_config)
    with app.app_context():
        storage.get("local").ensure_ready()
        if ENGINE != "sqlite":
            _truncate_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _thawed_heap():
    """`flask storage migrate|verify` freeze their process's heap (portal.migration.cli.settle_heap); run
    in-process by a test, they froze this one's: thaw it, or every later test's garbage in cycles would stay
    for good."""
    yield
    gc.unfreeze()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def admin_user(app):
    return create_user("admin@example.com", "Ada Admin", PASSWORD, is_admin=True)


@pytest.fixture
def staff_user(app):
    return create_user("staff@example.com", "Sam Staff", PASSWORD)


def csrf_token_from(page: str) -> str:
    """The CSRF token a rendered page carries (in its meta tag)."""
    return page.split('name="csrf-token" content="')[1].split('"')[0]


class AuthActions:
    """Sign in and out through the real forms."""

    def __init__(self, client):
        self._client = client

    def login(self, email: str = "staff@example.com", password: str = PASSWORD, **kwargs):
        data = {"email": email, "password": password}
        if self._client.application.config["WTF_CSRF_ENABLED"]:
            data["csrf_token"] = csrf_token_from(self._client.get("/auth/login").get_data(as_text=True))
        return self._client.post("/auth/login", data=data, **kwargs)

    def logout(self):
        data = {}
        if self._client.application.config["WTF_CSRF_ENABLED"]:
            data["csrf_token"] = csrf_token_from(self._client.get("/").get_data(as_text=True))
        return self._client.post("/auth/logout", data=data)


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def staff_client(client, auth, staff_user, admin_user):
    """A client signed in as staff (an admin exists too, as on any real install)."""
    auth.login(staff_user.email)
    return client


@pytest.fixture
def admin_client(client, auth, admin_user):
    auth.login(admin_user.email)
    return client


@pytest.fixture
def admin_view(app, admin_user):
    """A second client, signed in as the admin, beside a test's staff client: ``admin_view(path)`` is the
    page as the admin sees it (storage locations are shown to admins only)."""
    admin = app.test_client()
    data = {"email": admin_user.email, "password": PASSWORD}
    if app.config["WTF_CSRF_ENABLED"]:
        data["csrf_token"] = csrf_token_from(fresh(admin, "/auth/login").get_data(as_text=True))
    fresh(admin, "/auth/login", "post", data=data)
    return lambda path: fresh(admin, path).get_data(as_text=True)


def fresh(client, path: str, method: str = "get", **kwargs):
    """One request as a server runs it: in an app context of its own, so nothing carries over from
    earlier requests (the test's own context would share ``g`` with them) but what the process keeps."""
    return contextvars.Context().run(getattr(client, method), path, **kwargs)


class Clock:
    """A monotonic clock the test moves by hand (for the portal's short-lived caches)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
