"""Account rules: creating users, checking passwords under the failed sign-in counters, deactivating."""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import select, text
from werkzeug.security import check_password_hash, generate_password_hash

from portal import audit, metrics
from portal.auth import throttle
from portal.auth.sessions import end_sessions
from portal.auth.signed_in import forget_signed_in_user
from portal.extensions import db
from portal.models import LoginAttempt, User, utcnow

MIN_PASSWORD_LENGTH = 10
# An address may fail this many times the per-account limit (several people can share one address).
ADDRESS_ALLOWANCE = 4


class AccountError(Exception):
    """A user cannot be created or signed in; the message is safe to show."""


class TooManyAttempts(AccountError):
    """Raised while sign-in is paused for this account and address; ``seconds`` is the real time left."""

    def __init__(self, seconds: int):
        super().__init__(f"Too many failed sign-ins. Try again in {wait_text(seconds)}.")
        self.seconds = seconds


def wait_text(seconds: int) -> str:
    """45 -> '45 seconds', 600 -> '10 minutes' (rounded up: never less than the real wait)."""
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minutes"


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
    db.session.flush()
    audit.record(
        "user.create", object_type="user", object_id=user.id, detail={"email": email, "role": user.role}, commit=False
    )
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


def sign_in_rules(email: str, remote_addr: str) -> list[throttle.Rule]:
    """The counters a sign-in attempt for ``email`` from ``remote_addr`` claims, in order."""
    config = current_app.config
    window = timedelta(minutes=config["LOGIN_LOCKOUT_MINUTES"])
    slowest = timedelta(seconds=config["LOGIN_DELAY_MAX_SECONDS"])
    limit = config["LOGIN_MAX_ATTEMPTS"]
    return [
        throttle.Rule(f"pair:{email}|{remote_addr}", limit, window, lock=window),
        # Several people can share one address (an office, a proxy): more room, and a delay, never a lock.
        throttle.Rule(f"address:{remote_addr}", limit * ADDRESS_ALLOWANCE, window, max_delay=slowest),
        throttle.Rule(f"account:{email}", config["LOGIN_ACCOUNT_FAILURES"], window, max_delay=slowest),
    ]


def authenticate(email: str, password: str, remote_addr: str) -> User | None:
    """The active user with these credentials, or None; every checked attempt is recorded.

    Raises TooManyAttempts, without checking the password, while this account is locked for this
    address, or the account or the address is inside its delay (see throttle.py).
    """
    email = normalize_email(email)[:255]
    remote_addr = remote_addr[:64]
    rules = sign_in_rules(email, remote_addr)
    claimed: list[throttle.Rule] = []
    try:
        for rule in rules:
            throttle.claim(rule)
            claimed.append(rule)
    except throttle.Throttled as refused:
        for rule in claimed:
            throttle.give_back(rule)
        audit.record("auth.login", outcome="refused", email=email, detail={"retry_after": refused.seconds})
        metrics.lockout()
        raise TooManyAttempts(refused.seconds) from None
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None or not user.is_active:
        # Spend the same time as a real check, so response times reveal nothing about accounts.
        check_password_hash(_dummy_hash(), password)
        ok = False
    else:
        ok = user.check_password(password)
    if ok:
        throttle.clear(rules[0].key)
        for rule in rules[1:]:
            throttle.give_back(rule)
    elif throttle.lock_if_full(rules[0]):
        audit.record(
            "auth.lockout",
            outcome="refused",
            email=email,
            object_type="user",
            object_id=user.id if user else "",
            commit=False,
            detail={"minutes": current_app.config["LOGIN_LOCKOUT_MINUTES"]},
        )
    db.session.add(LoginAttempt(email=email, remote_addr=remote_addr, succeeded=ok))
    # Old attempts and quiet counters are no longer needed to decide anything.
    window = timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    db.session.execute(LoginAttempt.__table__.delete().where(LoginAttempt.created_at < utcnow() - 2 * window))
    throttle.purge(2 * window)
    audit.record(
        "auth.login",
        outcome="success" if ok else "failure",
        user=user if ok else None,
        email=email,
        object_type="user" if user else "",
        object_id=user.id if user else "",
    )
    if not ok:
        metrics.login_failed()
    return user if ok else None


def set_active(user: User, active: bool, *, changed_by: int) -> None:
    """Deactivate or reactivate ``user``; raises AccountError for one's own account.

    This process stops honouring the account's sessions at once; other processes within
    LOGIN_CACHE_SECONDS.
    """
    if user.id == changed_by:
        raise AccountError("You cannot deactivate your own account.")
    user.is_active = active
    audit.record(
        "user.activate" if active else "user.deactivate",
        object_type="user",
        object_id=user.id,
        detail={"email": user.email},
        commit=False,
    )
    # Reactivation revives nothing: the sessions end with the deactivation (and there are none after it).
    end_sessions(user.id)
    forget_signed_in_user(user.id)
