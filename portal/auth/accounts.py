"""Changing accounts: one's own password and profile, an administrator's edits, sign-in counters."""

from __future__ import annotations

from sqlalchemy import select, update

from portal import audit
from portal.auth import throttle
from portal.auth.service import MIN_PASSWORD_LENGTH, AccountError, normalize_email
from portal.auth.sessions import end_sessions
from portal.auth.signed_in import forget_signed_in_user
from portal.extensions import db
from portal.models import PasswordReset, User, utcnow


def check_new_password(password: str) -> None:
    """Raises AccountError for a password the portal does not accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")


def set_password(
    user: User, password: str, *, keep_token: str | None = None, event: str = "account.password_set", **detail
) -> int:
    """Give ``user`` a new password and commit; every session but ``keep_token``'s ends and unused reset
    links die. Returns how many sessions ended. Raises AccountError for a short password."""
    check_new_password(password)
    user.set_password(password)
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=utcnow()),
        execution_options={"synchronize_session": False},
    )
    audit.record(event, object_type="user", object_id=user.id, detail={"email": user.email, **detail}, commit=False)
    ended = end_sessions(user.id, keep_token=keep_token)
    forget_signed_in_user(user.id)
    return ended


def change_own_password(user: User, current: str, new: str, *, token: str) -> int:
    """The signed-in user's new password; raises AccountError unless ``current`` is right."""
    if not user.check_password(current):
        audit.record(
            "account.password_change",
            outcome="failure",
            object_type="user",
            object_id=user.id,
            detail={"reason": "wrong current password"},
        )
        raise AccountError("The current password is not right.")
    return set_password(user, new, keep_token=token, event="account.password_change")


def _check_email_free(user: User, email: str) -> str:
    email = normalize_email(email)
    if "@" not in email or len(email) > 255:
        raise AccountError(f"{email!r} is not an email address.")
    taken = db.session.scalar(select(User.id).where(User.email == email, User.id != user.id))
    if taken is not None:
        raise AccountError(f"A user with the email {email} already exists.")
    return email


def update_profile(user: User, name: str, email: str, current: str) -> None:
    """Change one's own name and email (an email change needs the current password); commits."""
    email = _check_email_free(user, email)
    if email != user.email and not user.check_password(current or ""):
        raise AccountError("Enter your current password to change your email address.")
    changes = _changes(user, name=name.strip()[:120] or user.name, email=email)
    if changes:
        audit.record("account.profile_change", object_type="user", object_id=user.id, detail=changes, commit=False)
    db.session.commit()
    forget_signed_in_user(user.id)


def update_user(user: User, *, name: str, email: str, is_admin: bool, is_active: bool, changed_by: int) -> dict:
    """An administrator's edit of ``user``; commits and returns what changed.

    Raises AccountError for a taken email, or for an administrator demoting or deactivating themselves.
    Deactivation ends every session of the account.
    """
    email = _check_email_free(user, email)
    if user.id == changed_by and not is_admin:
        raise AccountError("You cannot remove your own administrator role.")
    if user.id == changed_by and not is_active:
        raise AccountError("You cannot deactivate your own account.")
    changes = _changes(user, name=name.strip()[:120] or user.name, email=email, is_admin=is_admin, is_active=is_active)
    if changes:
        audit.record("user.update", object_type="user", object_id=user.id, detail=changes, commit=False)
    if "is_active" in changes and not is_active:
        end_sessions(user.id)  # commits
    db.session.commit()
    forget_signed_in_user(user.id)
    return changes


def _changes(user: User, **values) -> dict:
    """Apply ``values`` to ``user``; returns {field: [old, new]} for those that differ."""
    changed = {}
    for field, value in values.items():
        if getattr(user, field) != value:
            changed[field] = [getattr(user, field), value]
            setattr(user, field, value)
    return changed


def sign_out_everywhere(user_id: int) -> int:
    """End every session of the user, this one included; returns how many."""
    audit.record("auth.logout_everywhere", object_type="user", object_id=user_id, commit=False)
    return end_sessions(user_id)


def unlock_sign_in(user: User) -> int:
    """Forget the failed sign-ins of ``user`` from every address (an administrator's unlock); returns counters cleared."""
    cleared = throttle.clear(f"account:{user.email}", prefix=f"pair:{user.email}|")
    audit.record("user.unlock", object_type="user", object_id=user.id, detail={"counters": cleared})
    return cleared


def sign_in_paused(user: User) -> int:
    """How many of ``user``'s counters (account, or account and address pairs) refuse attempts now."""
    return throttle.blocked(f"account:{user.email}", prefix=f"pair:{user.email}|")
