"""/account: one's own name, email and password, and "sign out everywhere"."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user, logout_user

from portal.auth.accounts import change_own_password, sign_out_everywhere, update_profile
from portal.auth.forms import ConfirmForm, PasswordChangeForm, ProfileForm
from portal.auth.service import AccountError
from portal.auth.sessions import count_sessions
from portal.extensions import db
from portal.models import User


def _page(profile: ProfileForm | None = None, password: PasswordChangeForm | None = None, status: int = 200):
    user = db.get_or_404(User, current_user.id)
    profile = profile or ProfileForm(obj=user, formdata=None)
    return render_template(
        "auth/account.html",
        user=user,
        profile=profile,
        password=password or PasswordChangeForm(formdata=None),
        everywhere=ConfirmForm(),
        sessions=count_sessions(user.id),
    ), status


def account():
    """Show the page; a POST saves the name and email."""
    form = ProfileForm()
    if not form.is_submitted():
        return _page()
    if form.validate():
        user = db.get_or_404(User, current_user.id)
        try:
            update_profile(user, form.name.data, form.email.data, form.confirm_password.data)
        except AccountError as exc:
            flash(str(exc), "error")
            return _page(profile=form, status=400)
        flash("Your name and email are saved.", "success")
        return redirect(url_for("auth.account"))
    return _page(profile=form, status=400)


def account_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = db.get_or_404(User, current_user.id)
        try:
            ended = change_own_password(user, form.current.data, form.password.data, token=current_user.get_id())
        except AccountError as exc:
            flash(str(exc), "error")
            return _page(password=form, status=400)
        elsewhere = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
        flash(f"Your password is changed.{elsewhere}", "success")
        return redirect(url_for("auth.account"))
    return _page(password=form, status=400)


def account_sign_out_everywhere():
    form = ConfirmForm()
    if not form.validate_on_submit():
        return _page(status=400)
    ended = sign_out_everywhere(current_user.id)
    logout_user()
    flash(f"You are signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended).", "info")
    return redirect(url_for("auth.login"))
