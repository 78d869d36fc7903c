"""Flask-Login wiring and the one guard that makes every page require a login."""
from __future__ import annotations

from flask import Flask, flash, redirect, request, session, url_for
from flask_login import current_user, login_url

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


@login_manager.unauthorized_handler
def sign_in_first():
    """To the sign-in page, coming back to this one after. The "please sign in" note is queued once
    however many refused requests come before a page shows it (each would grow the session cookie)."""
    note = [login_manager.login_message_category, login_manager.login_message]
    if not any(list(queued) == note for queued in session.get("_flashes", [])):
        flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def require_login():
    """Send anonymous visitors to sign in, or to first-run setup while no user exists."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if current_user.is_authenticated:
        return None
    if db.session.query(User.id).first() is None:
        return redirect(url_for("auth.setup"))
    return login_manager.unauthorized()
