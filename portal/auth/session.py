"""Flask-Login wiring and the one guard that makes every page require a login."""
from __future__ import annotations

from flask import Flask, redirect, request, url_for
from flask_login import current_user

from portal.auth.signed_in import SignedInUser, signed_in_user
from portal.extensions import db, login_manager
from portal.models import User

# Endpoints reachable without signing in; everything else redirects to the login page.
PUBLIC_ENDPOINTS = {"auth.login", "auth.setup", "health.healthz", "static", "storage_files.download"}


def init_login(app: Flask) -> None:
    """Bind Flask-Login and install the login guard."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    app.before_request(require_login)


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    try:
        ident = int(user_id)
    except ValueError:  # a session signed with our key but not by this code
        return None
    return signed_in_user(ident)


def require_login():
    """Send anonymous visitors to sign in, or to first-run setup while no user exists."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if current_user.is_authenticated:
        return None
    if db.session.query(User.id).first() is None:
        return redirect(url_for("auth.setup"))
    return login_manager.unauthorized()
