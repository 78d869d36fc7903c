"""Routes: /auth/login, /auth/logout and /setup."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from portal.auth.forms import LoginForm, UserForm
from portal.auth.service import AccountError, TooManyAttempts, authenticate, create_first_admin, has_users

bp = Blueprint("auth", __name__)


@bp.route("/auth/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("documents.index"))
    if not has_users():
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(form.email.data, form.password.data, request.remote_addr or "unknown")
        except TooManyAttempts as exc:
            flash(str(exc), "error")
            return render_template("auth/login.html", form=form), 429
        if user is not None:
            login_user(user, remember=form.remember.data)
            flash(f"Welcome, {user.name}.", "success")
            return redirect(_safe_next(request.args.get("next")))
        flash("That email and password do not match an active account.", "error")
        status = 401
    return render_template("auth/login.html", form=form), status


@bp.route("/auth/logout", methods=["POST"])
def logout():
    logout_user()
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
            login_user(user)
            flash("The administrator account is ready. Welcome to Document Portal.", "success")
            return redirect(url_for("documents.index"))
    return render_template("auth/setup.html", form=form)


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in, never another host."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("documents.index")
