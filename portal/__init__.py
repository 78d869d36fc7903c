"""Document Portal: the application factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import SETTINGS, ConfigError, load_settings
from portal.database import engine_options

__all__ = ["create_app", "ConfigError"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Build the portal. ``config`` overrides settings (tests); ``environ`` replaces os.environ + .env.

    Raises ConfigError with one line naming the bad variable.
    """
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    configure(app, config, environ)
    register_metrics(app)
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def configure(app: Flask, config: Mapping[str, Any] | None, environ: Mapping[str, str] | None) -> None:
    """Load and validate settings into app.config, then derive Flask's own keys from them."""
    from portal.audit.logs import configure_logging

    overrides = dict(config or {})
    instance_path = overrides.pop("INSTANCE_PATH", app.instance_path)
    app.instance_path = str(instance_path)
    if environ is None:
        environ = {**dotenv_values(PROJECT_ROOT / ".env"), **os.environ}
    settings = load_settings(environ, app.instance_path, overrides)
    app.config.update(settings)
    production = settings["PORTAL_ENV"] == "production"
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings["DATABASE_URL"],
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings["DATABASE_URL"]),
        MAX_CONTENT_LENGTH=settings["MAX_UPLOAD_MB"] * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=production,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
    )
    # Tests may also override Flask's own keys (TESTING, WTF_CSRF_ENABLED, ...).
    names = {setting.name for setting in SETTINGS}
    app.config.update({k: v for k, v in overrides.items() if k not in names})
    configure_logging(settings["LOG_LEVEL"], settings["LOG_FORMAT"])
    if settings["PROXY_FIX_X_FOR"]:
        hops = settings["PROXY_FIX_X_FOR"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)


def register_metrics(app: Flask) -> None:
    """Request counters and /metrics; first, so its hooks time everything and /metrics skips the login guard."""
    from portal.metrics.hooks import init_metrics

    init_metrics(app)


def register_extensions(app: Flask) -> None:
    """Bind the unbound extensions of portal.extensions to this app, with every model registered."""
    from portal import models  # noqa: F401  (registers the models with SQLAlchemy)
    from portal.auth.session import init_login
    from portal.cleanup import models as cleanup_models  # noqa: F401  (the cleanup outbox)
    from portal.documents.search_index import init_search_index
    from portal.extensions import csrf, db, migrate, storage
    from portal.migration import models as migration_models  # noqa: F401  (the run tables)
    from portal.upkeep import models as upkeep_models  # noqa: F401  (the maintenance jobs)

    db.init_app(app)
    init_search_index()
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    # The login guard and the small-form limit run before CSRF parses a body: an anonymous request
    # is turned away unread.
    init_login(app)
    csrf.init_app(app)
    storage.init_app(app)


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint: auth, documents, admin, health."""
    from portal.admin import bp as admin_bp
    from portal.auth.routes import bp as auth_bp
    from portal.documents.attachment_routes import bp as attachments_bp
    from portal.documents.routes import bp as documents_bp
    from portal.documents.trash_routes import bp as trash_bp
    from portal.health import bp as health_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(attachments_bp)
    app.register_blueprint(trash_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(health_bp)


def register_template_helpers(app: Flask) -> None:
    """Filters (file sizes, dates) and globals (admin navigation) for the templates; page headers; unread bodies."""
    from portal.headers import init_headers
    from portal.templating import init_templating
    from portal.unread_body import init_unread_body

    init_templating(app)
    init_headers(app)
    init_unread_body(app)


def register_errorhandlers(app: Flask) -> None:
    """Turn HTTP errors, CSRF failures and the storage error family into friendly pages."""
    from portal.errors import init_errors

    init_errors(app)


def register_commands(app: Flask) -> None:
    """`flask users ...`, `flask storage ...` (the migration's commands included) and `flask audit ...`."""
    from portal.audit.cli import audit_cli
    from portal.cli import storage_cli, users_cli
    from portal.migration.cli import COMMANDS as migration_commands
    from portal.upkeep.cli import maintain_command, scrub_command

    for command in migration_commands:
        storage_cli.add_command(command)
    storage_cli.add_command(maintain_command)
    storage_cli.add_command(scrub_command)
    app.cli.add_command(users_cli)
    app.cli.add_command(storage_cli)
    app.cli.add_command(audit_cli)
