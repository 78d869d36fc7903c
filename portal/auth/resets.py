"""One-time password reset links: issued by an administrator (or mailed on request), used once, then dead."""

from __future__ import annotations

import secrets
from datetime import timedelta

from flask import current_app, has_request_context, url_for
from sqlalchemy import select, update

from portal import audit
from portal.auth.accounts import check_new_password, set_password
from portal.auth.service import AccountError
from portal.auth.sessions import token_hash
from portal.extensions import db
from portal.models import PasswordReset, User, aware, utcnow


class ResetLinkInvalid(AccountError):
    """The link is unknown, used, expired, or its account is deactivated."""

    def __init__(self) -> None:
        super().__init__(
            "This reset link is not valid any more: it was used, it expired, or a newer one was issued. "
            "Ask an administrator for a new one."
        )


def issue_reset_link(user: User, *, issued_by: int | None, via: str) -> str:
    """A new link token for ``user`` (earlier unused links die); commits. ``via`` says how: admin, cli, mail."""
    if not user.is_active:
        raise AccountError(f"{user.email} is deactivated; reactivate the account first.")
    now = utcnow()
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    )
    token = secrets.token_urlsafe(32)
    db.session.add(
        PasswordReset(
            token_hash=token_hash(token),
            user_id=user.id,
            created_by=issued_by,
            created_at=now,
            expires_at=now + timedelta(hours=current_app.config["RESET_LINK_HOURS"]),
        )
    )
    audit.record(
        "account.reset_issued",
        object_type="user",
        object_id=user.id,
        detail={"email": user.email, "via": via},
        commit=False,
    )
    db.session.commit()
    return token


def reset_url(token: str) -> str:
    """The link as people follow it: under PORTAL_URL when set, else this request's own address, else a path."""
    base = current_app.config["PORTAL_URL"]
    if base:
        return f"{base}/reset/{token}"
    if has_request_context():
        return url_for("auth.reset", token=token, _external=True)
    return f"/reset/{token}"


def find_reset(token: str) -> PasswordReset:
    """The live reset for ``token``; raises ResetLinkInvalid."""
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == token_hash(token)))
    if reset is None or reset.used_at is not None or aware(reset.expires_at) <= utcnow() or not reset.user.is_active:
        raise ResetLinkInvalid()
    return reset


def use_reset(token: str, password: str) -> User:
    """Set the password through the link, once: the first of two uses at once wins; commits.

    Every session of the account ends. Raises ResetLinkInvalid, or AccountError for a short password.
    """
    reset = find_reset(token)
    check_new_password(password)
    now = utcnow()
    taken = db.session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.id == reset.id,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now),
        execution_options={"synchronize_session": False},
    )
    if taken.rowcount != 1:
        db.session.rollback()
        raise ResetLinkInvalid()
    user = reset.user
    set_password(user, password, event="account.reset_used", reset_id=reset.id)
    return user


def recently_mailed(user: User, within: timedelta) -> bool:
    """True when a link was mailed to ``user`` on request within ``within`` and is still unused."""
    return (
        db.session.scalar(
            select(PasswordReset.id).where(
                PasswordReset.user_id == user.id,
                PasswordReset.created_by.is_(None),
                PasswordReset.used_at.is_(None),
                PasswordReset.created_at > utcnow() - within,
            )
        )
        is not None
    )
