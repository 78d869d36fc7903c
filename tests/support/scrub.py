"""Scrub test helpers: a clock that moves only when slept on, rows read fresh, verification stamps set by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from portal.extensions import db
from portal.models import Attachment


class FakeTime:
    """A monotonic clock that moves only when slept on: budgets and rates are checked by count, not by waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def attachment(row_id: int) -> Attachment:
    db.session.expire_all()
    return db.session.get(Attachment, row_id)


def verified_order() -> list[int]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(Attachment.id).order_by(Attachment.last_verified_at.is_(None), Attachment.last_verified_at)
        )
    )


def stamp(row_id: int, days_ago: float, outcome: str = "ok") -> None:
    """Pretend the scrub checked the row ``days_ago`` days ago and found ``outcome``."""
    db.session.execute(
        Attachment.__table__.update()
        .where(Attachment.id == row_id)
        .values(last_verified_at=datetime.now(UTC) - timedelta(days=days_ago), verify_outcome=outcome)
    )
    db.session.commit()
