"""Routes: /auth/login, /auth/logout, /setup, and the URL table of /account, /reset and /auth/forgot."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from portal import audit
from portal.auth import account_views, reset_views
from portal.auth.forms import LoginForm, UserForm
from portal.auth.mail import mail_configured
from portal.auth.service import AccountError, TooManyAttempts, authenticate, create_first_admin, has_users
from portal.auth.session import sign_in, sign_out

bp = Blueprint("auth", __name__)
log = logging.getLogger("portal.auth")

bp.add_url_rule("/account", view_func=account_views.account, methods=["GET", "POST"])
bp.add_url_rule("/account/password", view_func=account_views.account_password, methods=["POST"])
bp.add_url_rule("/account/sign-out-everywhere", view_func=account_views.account_sign_out_everywhere, methods=["POST"])
bp.add_url_rule("/reset/<token>", view_func=reset_views.reset, methods=["GET", "POST"])
bp.add_url_rule("/auth/forgot", view_func=reset_views.forgot, methods=["GET", "POST"])


@bp.route("/auth/login", methods=["GET", "POST"])
def login():
    target = safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(url_for("documents.index"))
    if not has_users():
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        _warn_of_an_unconfigured_proxy()
        try:
            user = authenticate(form.email.data, form.password.data, request.remote_addr or "unknown")
        except TooManyAttempts as exc:
            flash(str(exc), "error")
            page = render_template("auth/login.html", form=form, mail=mail_configured())
            return page, 429, {"Retry-After": str(exc.seconds)}
        if user is not None:
            sign_in(user, remember=form.remember.data)
            flash(f"Welcome, {user.name}.", "success")
            return redirect(target)
        flash("That email and password do not match an active account.", "error")
        status = 401
    return render_template("auth/login.html", form=form, mail=mail_configured()), status


@bp.route("/auth/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        audit.record("auth.logout", object_type="user", object_id=current_user.id)
    sign_out()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """Create the first administrator; gone (404) as soon as any user exists."""
    if has_users():
        abort(404)
    form = UserForm()
    del form.is_admin
    if form.validate_on_submit():
        try:
            user = create_first_admin(form.email.data, form.name.data, form.password.data)
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            sign_in(user, remember=False)
            flash("The administrator account is ready. Welcome to Document Portal.", "success")
            return redirect(url_for("documents.index"))
    return render_template("auth/setup.html", form=form)


def _warn_of_an_unconfigured_proxy() -> None:
    """Once per process: sign-ins arrive through a proxy whose X-Forwarded-For the portal does not trust."""
    if current_app.config["PROXY_FIX_X_FOR"] or "X-Forwarded-For" not in request.headers:
        return
    if not current_app.extensions.setdefault("proxy_warning_logged", False):
        current_app.extensions["proxy_warning_logged"] = True
        log.warning(
            "sign-ins arrive with X-Forwarded-For but PROXY_FIX_X_FOR=0: every visitor is counted as "
            "the proxy's address %s for failed sign-ins; set PROXY_FIX_X_FOR to the number of proxies",
            request.remote_addr,
        )


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in, never another host; a control character is a 400."""
    if target and any(ord(character) < 32 or ord(character) == 127 for character in target):
        abort(400, description="The address to return to after signing in is malformed.")
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and not urlsplit(target).netloc:
        return target
    return url_for("documents.index")
