"""What the dashboard and /metrics say about upkeep: how recently every object was proven, and each job's last run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, or_, select

from portal.models import Attachment, aware
from portal.upkeep.scrub import PROBLEM_OUTCOMES

ATTACHMENT = Attachment.__table__
PROBLEMS_LISTED = 50


@dataclass
class Integrity:
    """Attachments by what the scrub last found, against the promise "every object re-hashed within ``days``"."""

    days: int
    total: int = 0
    proven: int = 0  # outcome 'ok' within the last ``days``
    never: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    oldest: datetime | None = None  # the oldest proof still standing (never-verified rows count from their upload)
    problems: list = field(default_factory=list)

    @property
    def problem_count(self) -> int:
        return sum(self.outcomes.get(name, 0) for name in PROBLEM_OUTCOMES)

    @property
    def stale(self) -> int:
        """Rows neither proven within ``days`` nor known to be wrong: never checked, or checked too long ago."""
        return self.total - self.proven - self.problem_count

    @property
    def all_proven(self) -> bool:
        return self.total == self.proven


def integrity(conn: Connection, now: datetime, days: int, *, problems: bool = True) -> Integrity:
    """Count attachments that hold bytes by outcome and by age of their last check; list the problems (unless
    ``problems`` is False: a metrics scrape wants the counts only)."""
    has_bytes = or_(ATTACHMENT.c.storage_path.is_not(None), ATTACHMENT.c.filepath.is_not(None))
    verified, outcome = ATTACHMENT.c.last_verified_at, ATTACHMENT.c.verify_outcome
    found = Integrity(days)
    for name, count in conn.execute(select(outcome, func.count()).where(has_bytes).group_by(outcome)).all():
        found.total += count
        if name is None:
            found.never += count
        else:
            found.outcomes[name] = count
    found.proven = conn.execute(
        select(func.count()).where(has_bytes, outcome == "ok", verified >= now - timedelta(days=days))
    ).scalar_one()
    # Two minimums instead of one over coalesce(): the first is read off the (last_verified_at, id) index.
    oldest_check = aware(conn.execute(select(func.min(verified)).where(has_bytes)).scalar())
    oldest_unchecked = aware(
        conn.execute(select(func.min(ATTACHMENT.c.created_at)).where(has_bytes, verified.is_(None))).scalar()
    )
    found.oldest = min((value for value in (oldest_check, oldest_unchecked) if value is not None), default=None)
    if not problems:
        return found
    found.problems = conn.execute(
        select(
            ATTACHMENT.c.id,
            ATTACHMENT.c.document_id,
            ATTACHMENT.c.filename,
            ATTACHMENT.c.storage_type,
            ATTACHMENT.c.storage_path,
            outcome,
            ATTACHMENT.c.verify_detail,
            verified,
        )
        .where(outcome.in_(PROBLEM_OUTCOMES))
        .order_by(verified.desc(), ATTACHMENT.c.id)
        .limit(PROBLEMS_LISTED)
    ).all()
    return found


@dataclass(frozen=True)
class JobLine:
    """One job as the dashboard lists it: its title, state ('never', 'running', 'interrupted', 'ok', 'failed'), row."""

    name: str
    title: str
    state: str
    row: object | None


def upkeep(engine, now: datetime, days: int) -> tuple[Integrity, list[JobLine]]:
    """The dashboard's upkeep section: the integrity promise and every maintain job's last run."""
    from portal.upkeep.jobs import JOBS
    from portal.upkeep.leases import jobs

    with engine.connect() as conn:
        found = integrity(conn, now, days)
    rows = jobs(engine)
    lines = [
        JobLine(job.name, job.title, rows[job.name].state(now) if job.name in rows else "never", rows.get(job.name))
        for job in JOBS
    ]
    return found, lines
