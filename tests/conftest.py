"""Fixtures shared by every test: a fresh app and database per test, clients, users, sign-in, a document."""

from __future__ import annotations

import shutil
import uuid

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from portal.auth.service import create_user
from portal.extensions import db, storage
from portal.models import Document
from tests.databases import ENGINE, scratch_database
from tests.support.accounts import PASSWORD, AuthActions, csrf_token_from
from tests.support.apps import fresh, make_app
from tests.support.heap import heap_frozen, thawing_what_it_froze

# Fixtures and hooks every suite shares live in these modules; helpers are plain imports from tests/support.
pytest_plugins = [
    "tests.support.moto_server",
    "tests.support.stores",
    "tests.support.browser",
    "tests.support.under_mutation",
]


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
        if (audit_rows := app.extensions.get("audit_buffer")) is not None:
            audit_rows.close()  # its writer must not reach the database after the dispose below
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def _heap_frozen_at_start():
    return heap_frozen()


@pytest.fixture(autouse=True)
def _thawed_heap(_heap_frozen_at_start):
    with thawing_what_it_froze(_heap_frozen_at_start):
        yield


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


@pytest.fixture
def document(app, staff_user):
    document = Document(title="Quarterly report", description="", created_by=staff_user.id)
    db.session.add(document)
    db.session.commit()
    return document


@pytest.fixture
def s3_app_config(s3_server):
    """Settings that put new files in a fresh bucket on the test's S3 server (moto or the RGW, real HTTP)."""
    return {
        "STORAGE_TYPE": "s3",
        "S3_BUCKET": f"portal-{uuid.uuid4().hex[:12]}",
        "S3_ENDPOINT_URL": s3_server.endpoint,
        **s3_server.keys("testing-access", "testing-secret"),
        "S3_REGION": "us-east-1",
        "S3_MULTIPART_THRESHOLD_MB": 5,
        "S3_MULTIPART_CHUNK_MB": 5,
    }
