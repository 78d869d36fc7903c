"""Account rules: creating users, checking passwords, limiting repeated failed sign-ins."""
from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import func, select, text
from werkzeug.security import check_password_hash, generate_password_hash

from portal.auth.signed_in import forget_signed_in_user
from portal.extensions import db
from portal.models import LoginAttempt, User, utcnow

MIN_PASSWORD_LENGTH = 10
# An address may fail this many times the per-account limit (several people can share one address).
ADDRESS_ALLOWANCE = 4


class AccountError(Exception):
    """A user cannot be created or signed in; the message is safe to show."""


class TooManyAttempts(AccountError):
    """Raised when an account or address has failed too often; retry_after is in minutes."""

    def __init__(self, minutes: int):
        super().__init__(f"Too many failed sign-ins. Try again in {minutes} minutes.")
        self.minutes = minutes


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


def normalize_email(email: str) -> str:
    return email.strip().lower()


def create_user(email: str, name: str, password: str, *, is_admin: bool = False) -> User:
    """Create and commit a user; raises AccountError for a taken email or a short password."""
    email = normalize_email(email)
    if "@" not in email or len(email) > 255:
        raise AccountError(f"{email!r} is not an email address.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"A user with the email {email} already exists.")
    user = User(email=email, name=(name.strip() or email.split("@")[0])[:120], is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def has_users() -> bool:
    return db.session.query(User.id).first() is not None


def create_first_admin(email: str, name: str, password: str) -> User:
    """Create the first administrator; AccountError when an account exists by then.

    Two first visits at once cannot both succeed: the check and the insert run while this
    transaction holds the user table for writing (PostgreSQL: a table lock; SQLite: its one write
    lock, taken by a write that changes nothing), so the second waits and then finds the first.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text('LOCK TABLE "user" IN SHARE ROW EXCLUSIVE MODE'))
    else:
        db.session.execute(text('UPDATE "user" SET id = id WHERE 1 = 0'))
    if has_users():
        db.session.rollback()
        raise AccountError("The portal is already set up. Sign in instead.")
    return create_user(email, name, password, is_admin=True)


def authenticate(email: str, password: str, remote_addr: str) -> User | None:
    """The active user with these credentials, or None; every attempt is recorded.

    Raises TooManyAttempts while the email or the address has LOGIN_MAX_ATTEMPTS recent failures,
    without checking the password, so guessing gains nothing during the pause.
    """
    email = normalize_email(email)
    window = timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    since = utcnow() - window
    def failures(*where) -> int:
        return db.session.scalar(select(func.count(LoginAttempt.id)).where(
            LoginAttempt.succeeded.is_(False), LoginAttempt.created_at >= since, *where))

    limit = current_app.config["LOGIN_MAX_ATTEMPTS"]
    # Per account, and per address with more room: behind a proxy without PROXY_FIX_X_FOR every
    # visitor shares one address, and a few typos must not lock everyone out.
    if failures(LoginAttempt.email == email) >= limit or \
            failures(LoginAttempt.remote_addr == remote_addr) >= limit * ADDRESS_ALLOWANCE:
        raise TooManyAttempts(current_app.config["LOGIN_LOCKOUT_MINUTES"])
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        # Spend the same time as a real check, so response times reveal nothing about accounts.
        check_password_hash(_dummy_hash(), password)
        ok = False
    else:
        ok = user.check_password(password)
    db.session.add(LoginAttempt(email=email[:255], remote_addr=remote_addr[:64], succeeded=ok))
    # Old attempts are no longer needed to decide anything.
    db.session.execute(LoginAttempt.__table__.delete().where(LoginAttempt.created_at < utcnow() - 2 * window))
    db.session.commit()
    return user if ok else None


def set_active(user: User, active: bool, *, changed_by: int) -> None:
    """Deactivate or reactivate ``user``; raises AccountError for one's own account.

    This process stops honouring the account's sessions at once; other processes within
    LOGIN_CACHE_SECONDS.
    """
    if user.id == changed_by:
        raise AccountError("You cannot deactivate your own account.")
    user.is_active = active
    db.session.commit()
    forget_signed_in_user(user.id)
