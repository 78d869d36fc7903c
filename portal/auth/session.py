"""Flask-Login wiring: sessions backed by user_session rows, sign-in and sign-out, the request guards."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_url, login_user, logout_user, user_loaded_from_cookie

from portal.auth.sessions import end_session, session_user_id, start_session
from portal.auth.signed_in import SignedInUser, signed_in_user
from portal.extensions import db, login_manager
from portal.models import User

# Endpoints reachable without signing in; everything else redirects to the login page.
PUBLIC_ENDPOINTS = {
    "auth.login",
    "auth.setup",
    "auth.forgot",
    "auth.reset",
    "health.healthz",
    "static",
    "storage_files.download",
}
# Forms of a few fields: their bodies are limited to FORM_MAX_KB before anything reads them.
SMALL_FORM_ENDPOINTS = {
    "auth.login",
    "auth.logout",
    "auth.setup",
    "auth.forgot",
    "auth.reset",
    "auth.account",
    "auth.account_password",
    "auth.account_sign_out_everywhere",
    "admin.users",
    "admin.edit_user",
    "admin.toggle_user",
    "admin.reset_link",
    "admin.unlock_user",
}


def init_login(app: Flask) -> None:
    """Bind Flask-Login and install the guards; call before CSRFProtect, so they run before it reads a body."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    app.config["REMEMBER_COOKIE_DURATION"] = timedelta(days=app.config["REMEMBER_DAYS"])
    app.before_request(limit_small_forms)
    app.before_request(require_login)
    user_loaded_from_cookie.connect(_bind_restored_session, app)


@login_manager.user_loader
def load_user(token: str) -> SignedInUser | None:
    """The user of the session holding ``token`` (the session's or the remember cookie's), or None."""
    user_id = session_user_id(token)
    if user_id is None:
        return None
    user = signed_in_user(user_id)
    return user.in_session(token) if user is not None else None


def _bind_restored_session(app: Flask, user: SignedInUser) -> None:
    # Flask-Login restores from the remember cookie without the browser identifier that "strong"
    # protection checks on the next request, which would then drop the session and the cookie.
    session["_id"] = login_manager._session_identifier_generator()


def sign_in(user: User, *, remember: bool) -> None:
    """Start a new session for ``user``: nothing from before (CSRF token included) survives into it."""
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF's copy of this request's token
    token = start_session(
        user,
        remember=remember,
        remote_addr=request.remote_addr or "unknown",
        user_agent=request.user_agent.string or "",
    )
    login_user(
        SignedInUser.of(user).in_session(token),
        remember=remember,
        duration=timedelta(days=current_app.config["REMEMBER_DAYS"]),
    )


def sign_out() -> None:
    """End this browser's session (its row, so the session and remember cookies die wherever they are)."""
    if current_user.is_authenticated and current_user.get_id():
        end_session(current_user.get_id())
    logout_user()


@login_manager.unauthorized_handler
def sign_in_first():
    """To the sign-in page, coming back to this one after. The "please sign in" note is queued once
    however many refused requests come before a page shows it (each would grow the session cookie)."""
    note = [login_manager.login_message_category, login_manager.login_message]
    if not any(list(queued) == note for queued in session.get("_flashes", [])):
        flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def limit_small_forms():
    """A small form's body is refused (413) past FORM_MAX_KB, before CSRF or the form reads it."""
    if request.endpoint in SMALL_FORM_ENDPOINTS:
        request.max_content_length = current_app.config["FORM_MAX_KB"] * 1024


def require_login():
    """Send anonymous visitors to sign in, or to first-run setup while no user exists, unread bodies and all."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if current_user.is_authenticated:
        return None
    if db.session.query(User.id).first() is None:
        return redirect(url_for("auth.setup"))
    return login_manager.unauthorized()
