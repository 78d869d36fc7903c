"""Account administration pages: list and create users, deactivate and reactivate them."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.auth.forms import UserForm
from portal.auth.service import AccountError, create_user, set_active
from portal.extensions import db
from portal.models import User


def require_admin():
    """Answer 403 to anyone signed in who is not an administrator."""
    if not current_user.is_authenticated:
        return None  # the app-wide login guard has already redirected
    if not current_user.is_admin:
        abort(403)
    return None


def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.email.data, form.name.data, form.password.data, is_admin=form.is_admin.data)
        except AccountError as exc:
            flash(str(exc), "error")
        else:
            flash(f"{user.email} can now sign in as {user.role}.", "success")
            return redirect(url_for("admin.users"))
    everyone = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=everyone, form=form)


def toggle_user(user_id: int):
    """Deactivate or reactivate an account; an admin cannot lock themselves out."""
    user = db.get_or_404(User, user_id)
    try:
        set_active(user, not user.is_active, changed_by=current_user.id)
    except AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.email} is now {'active' if user.is_active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))
