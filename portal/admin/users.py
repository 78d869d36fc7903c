"""Account administration pages: list, create, edit, deactivate, issue reset links, unlock sign-in."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.auth.accounts import sign_in_paused, unlock_sign_in, update_user
from portal.auth.forms import ConfirmForm, EditUserForm, UserForm
from portal.auth.mail import MailError, mail_configured, reset_message, send
from portal.auth.resets import issue_reset_link, reset_url
from portal.auth.service import AccountError, create_user, set_active
from portal.confirmation import Question, ask, confirmed
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
    """Deactivate (once confirmed) or reactivate an account; an admin cannot lock themselves out.

    The form posts the state it asks for (``active``), so a second confirmed post (a double click, two admins
    at once) changes nothing instead of flipping the account back.
    """
    user = db.get_or_404(User, user_id)
    wanted = request.form.get("active", "0" if user.is_active else "1") == "1"
    if user.id == current_user.id:
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for("admin.users"))
    if wanted == user.is_active:
        flash(f"{user.email} is already {'active' if user.is_active else 'deactivated'}.", "info")
        return redirect(url_for("admin.users"))
    if not wanted and not confirmed():
        return ask(
            Question(
                question=f"Deactivate {user.name} ({user.email})?",
                note="Every session of the account ends at once and it cannot sign in until it is reactivated. "
                "Its documents and files stay.",
                button="Deactivate",
                label=f"Deactivate {user.email}",
                action=url_for("admin.toggle_user", user_id=user.id),
                cancel=url_for("admin.users"),
                fields=(("active", "0"),),
            )
        )
    try:
        set_active(user, wanted, changed_by=current_user.id)
    except AccountError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.email} is now {'active' if user.is_active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))


def edit_user(user_id: int):
    """Name, email, role and status; a change of role or status must be confirmed."""
    user = db.get_or_404(User, user_id)
    form = EditUserForm(obj=user)
    status = 200
    if form.validate_on_submit():
        risky = form.is_admin.data != user.is_admin or form.is_active.data != user.is_active
        if risky and not form.confirm.data:
            form.confirm.errors = ["Tick this to change the role or the status of the account."]
            status = 400
        else:
            try:
                changes = update_user(
                    user,
                    name=form.name.data,
                    email=form.email.data,
                    is_admin=form.is_admin.data,
                    is_active=form.is_active.data,
                    changed_by=current_user.id,
                )
            except AccountError as exc:
                flash(str(exc), "error")
                status = 400
            else:
                flash(f"{user.email} is saved." if changes else "Nothing changed.", "success")
                return redirect(url_for("admin.edit_user", user_id=user.id))
    elif form.is_submitted():
        status = 400
    return render_template(
        "admin/users_edit.html",
        user=user,
        form=form,
        action=ConfirmForm(),
        paused=sign_in_paused(user),
        mail=mail_configured(),
    ), status


def reset_link(user_id: int):
    """Issue a one-time reset link, show it for copying, and mail it when mail is configured."""
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        token = issue_reset_link(user, issued_by=current_user.id, via="admin")
    except AccountError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    url, mailed, problem = reset_url(token), False, None
    if mail_configured():
        try:
            send(reset_message(user.email, user.name, url, current_app.config["RESET_LINK_HOURS"]))
            mailed = True
        except MailError as exc:
            problem = str(exc)
    # The link is shown once, on this answer only: never cached, never in a redirect's address.
    page = render_template(
        "admin/users_reset_link.html",
        user=user,
        url=url,
        mailed=mailed,
        problem=problem,
        hours=current_app.config["RESET_LINK_HOURS"],
    )
    return page, 200, {"Cache-Control": "no-store"}


def unlock_user(user_id: int):
    user = db.get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    unlock_sign_in(user)
    flash(f"Sign-in for {user.email} is unlocked from every address.", "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))
