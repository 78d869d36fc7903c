"""Who is signed in: a small read-only snapshot of the user, kept for a few seconds per process.

Every request needs it, and loading it from the database each time was the largest single cost of
the download redirect. A snapshot lives for LOGIN_CACHE_SECONDS (0 turns this off): a deactivation
or a change of role made by another process takes effect within that many seconds, and at once in
the process that made it (the account service forgets the snapshot).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import current_app

from portal.expiring_cache import recent
from portal.extensions import db
from portal.models import User

_KEPT = "signed_in_users"


@dataclass(frozen=True)
class SignedInUser:
    """What the pages and services need of the signed-in user (the Flask-Login user protocol)."""

    id: int
    email: str
    name: str
    is_admin: bool
    is_active: bool
    #: the token of this browser's session (see sessions.py); Flask-Login keeps it as the "user id"
    token: str = ""

    is_authenticated = True
    is_anonymous = False

    @classmethod
    def of(cls, user: User) -> SignedInUser:
        return cls(user.id, user.email, user.name, bool(user.is_admin), bool(user.is_active))

    @property
    def role(self) -> str:
        return "admin" if self.is_admin else "staff"

    def get_id(self) -> str:
        return self.token

    def in_session(self, token: str) -> SignedInUser:
        """This snapshot as the user of the session holding ``token``."""
        return replace(self, token=token)


def signed_in_user(user_id: int) -> SignedInUser | None:
    """The active user ``user_id`` as a snapshot, or None for an unknown or deactivated account."""
    kept = recent(_KEPT)
    found = kept.get(user_id)
    if found is not None:
        return found
    since = kept.stamp()
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    found = SignedInUser.of(user)
    kept.put(user_id, found, current_app.config["LOGIN_CACHE_SECONDS"], loaded_since=since)
    return found


def forget_signed_in_user(user_id: int) -> None:
    """Drop this process's snapshot of ``user_id``: the next request loads the account afresh."""
    recent(_KEPT).forget(user_id)
