"""/reset/<token> (choose a new password through a one-time link) and /auth/forgot (ask for one by mail)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.auth.forms import ForgotForm, ResetForm
from portal.auth.mail import mail_configured, reset_message, send_later
from portal.auth.resets import ResetLinkInvalid, find_reset, issue_reset_link, recently_mailed, reset_url, use_reset
from portal.auth.service import AccountError, normalize_email
from portal.auth.session import sign_out
from portal.extensions import db
from portal.models import User

# One mailed link per account in this time, however often the form is sent (no mail flooding).
MAIL_INTERVAL = timedelta(minutes=15)


def reset(token: str):
    """A form for the new password while the link is live; the same 'not valid' page otherwise."""
    try:
        link = find_reset(token)
    except ResetLinkInvalid as exc:
        return render_template("auth/reset.html", form=None, problem=str(exc)), 410
    form = ResetForm()
    if form.validate_on_submit():
        try:
            user = use_reset(token, form.password.data)
        except ResetLinkInvalid as exc:  # used by another request meanwhile
            return render_template("auth/reset.html", form=None, problem=str(exc)), 410
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            if current_user.is_authenticated:
                sign_out()
            flash(f"The password of {user.email} is set. Sign in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, email=link.user.email, problem=None)


def forgot():
    """Mail a link when mail is configured; the answer is the same whether or not the address has an account."""
    if not mail_configured():
        return render_template("auth/forgot.html", form=None)
    form = ForgotForm()
    if form.validate_on_submit():
        email = normalize_email(form.email.data)
        user = db.session.scalar(select(User).where(User.email == email))
        if user is not None and user.is_active and not recently_mailed(user, MAIL_INTERVAL):
            token = issue_reset_link(user, issued_by=None, via="mail")
            send_later(reset_message(user.email, user.name, reset_url(token), current_app.config["RESET_LINK_HOURS"]))
        flash("If that address belongs to an account, a reset link is on its way. It works once.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)
