"""Server-side sign-ins: a random token in the cookie, its hash and its end in user_session.

Flask-Login keeps the token as the "user id" of the session and of the remember cookie, so both
die with the row. Who holds which token is looked up at most every LOGIN_CACHE_SECONDS per
process (like the user snapshot in signed_in.py); ending sessions forgets them here at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select

from portal.expiring_cache import recent
from portal.extensions import db
from portal.models import User, UserSession, aware, utcnow

# The same per-process map as the user snapshots (one clock, one capacity), under keys of their own.
_KEPT = "signed_in_users"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _kept_key(hashed: str) -> tuple[str, str]:
    return ("session", hashed)


def start_session(user: User, *, remember: bool, remote_addr: str, user_agent: str) -> str:
    """Record a new sign-in of ``user`` and commit; returns the token for the cookie."""
    config = current_app.config
    lasts = timedelta(days=config["REMEMBER_DAYS"]) if remember else timedelta(hours=config["SESSION_HOURS"])
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.execute(delete(UserSession).where(UserSession.expires_at < now))
    db.session.add(
        UserSession(
            token_hash=token_hash(token),
            user_id=user.id,
            remember=remember,
            remote_addr=remote_addr[:64],
            user_agent=user_agent[:255],
            created_at=now,
            expires_at=now + lasts,
        )
    )
    db.session.commit()
    return token


def session_user_id(token: str) -> int | None:
    """The id of the user signed in with ``token``, or None once the session has ended or expired."""
    key = token_hash(token)
    kept = recent(_KEPT)
    found = kept.get(_kept_key(key))
    if found is None:
        since = kept.stamp()
        row = db.session.execute(
            select(UserSession.user_id, UserSession.expires_at).where(UserSession.token_hash == key)
        ).first()
        if row is None:
            return None
        found = (row.user_id, aware(row.expires_at))
        kept.put(_kept_key(key), found, current_app.config["LOGIN_CACHE_SECONDS"], loaded_since=since)
    user_id, expires_at = found
    return user_id if expires_at > utcnow() else None


def end_session(token: str) -> None:
    """End the one session holding ``token`` (sign-out) and commit."""
    key = token_hash(token)
    db.session.execute(delete(UserSession).where(UserSession.token_hash == key))
    db.session.commit()
    recent(_KEPT).forget(_kept_key(key))


def end_sessions(user_id: int, *, keep_token: str | None = None) -> int:
    """End every session of ``user_id`` (but ``keep_token``'s) and commit, with whatever the caller
    has pending; returns how many ended."""
    kept_hash = token_hash(keep_token) if keep_token else None
    condition = [UserSession.user_id == user_id]
    if kept_hash:
        condition.append(UserSession.token_hash != kept_hash)
    hashes = list(db.session.scalars(select(UserSession.token_hash).where(*condition)))
    db.session.execute(delete(UserSession).where(*condition))
    db.session.commit()
    kept = recent(_KEPT)
    for key in hashes:
        kept.forget(_kept_key(key))
    return len(hashes)


def count_sessions(user_id: int) -> int:
    """Live sessions of ``user_id``."""
    return len(
        db.session.scalars(
            select(UserSession.id).where(UserSession.user_id == user_id, UserSession.expires_at > utcnow())
        ).all()
    )
