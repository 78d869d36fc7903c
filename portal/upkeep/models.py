"""MaintenanceJob: one row per job of `flask storage maintain`, its lease and how its last run went."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models import aware


class MaintenanceJob(db.Model):
    """A job (``name``) as the hosts share it: who holds it until when, and its last start, end and outcome."""

    __tablename__ = "maintenance_job"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    #: while set and in the future, ``holder`` is running the job and no other process starts it
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    holder: Mapped[str] = mapped_column(String(200), default="", server_default="")
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: 'running' from the start until the end, then 'ok' or 'failed'
    last_outcome: Mapped[str] = mapped_column(String(20), default="", server_default="")
    last_summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    items: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    problems: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def state(self, now: datetime) -> str:
        """'running', 'interrupted' (its holder died: the lease ran out with the run unfinished), 'ok', 'failed', 'never'."""
        if self.last_outcome == "running":
            lease = aware(self.lease_until)
            return "running" if lease is not None and lease > now else "interrupted"
        return self.last_outcome or "never"
