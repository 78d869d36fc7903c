"""Reading the audit trail: filters, pages, and a CSV export streamed row by row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import Select, select

from portal.audit import pending
from portal.extensions import db
from portal.models import AuditEvent

CSV_COLUMNS = ("time", "event", "outcome", "user", "address", "object_type", "object_id", "detail")
# A spreadsheet runs a cell that starts with one of these as a formula (the emails of failed sign-ins are anyone's text).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilter:
    """Which events to show: an event name, a user's email (part of it), a time range [since, until)."""

    event: str = ""
    email: str = ""
    since: datetime | None = None
    until: datetime | None = None

    def statement(self) -> Select:
        """Matching events, newest first."""
        statement = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        if self.event:
            statement = statement.where(AuditEvent.event == self.event)
        if self.email:
            statement = statement.where(AuditEvent.actor_email.contains(self.email.strip().lower(), autoescape=True))
        if self.since is not None:
            statement = statement.where(AuditEvent.created_at >= self.since)
        if self.until is not None:
            statement = statement.where(AuditEvent.created_at < self.until)
        return statement


def events_page(where: AuditFilter, page: int, per_page: int) -> Pagination:
    pending().flush()  # this process's download events first (another worker's follow within a second)
    return db.paginate(where.statement(), page=page, per_page=per_page, error_out=False)


def event_names() -> list[str]:
    """Every event name recorded so far, for the filter's list."""
    return list(db.session.scalars(select(AuditEvent.event).distinct().order_by(AuditEvent.event)))


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(where: AuditFilter, batch: int = 500) -> Iterator[str]:
    """The header, then one CSV line per matching event, read from the database in batches."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(value) for value in values])
        return buffer.getvalue()

    yield line(CSV_COLUMNS)
    pending().flush()
    rows = db.session.execute(where.statement().execution_options(yield_per=batch)).scalars()
    for event in rows:
        yield line(
            (
                event.created_at.isoformat(),
                event.event,
                event.outcome,
                event.actor_email,
                event.remote_addr,
                event.object_type,
                event.object_id,
                event.detail,
            )
        )
