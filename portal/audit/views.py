"""Administrator pages of the audit trail: /admin/audit (filters, pages) and its CSV export."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from flask import Response, abort, render_template, request, stream_with_context

from portal import audit
from portal.audit.query import AuditFilter, csv_lines, event_names, events_page
from portal.paging import page_argument

PER_PAGE = 50


def filter_from_request() -> AuditFilter:
    """The filter in the query string; aborts with 400 for a date that is not YYYY-MM-DD."""
    since, until = _day("from"), _day("to")
    return AuditFilter(
        event=request.args.get("event", "").strip()[:64],
        email=request.args.get("user", "").strip()[:255],
        since=since,
        until=until + timedelta(days=1) if until else None,  # "to" includes that whole day
    )


def _day(name: str) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), time(), tzinfo=UTC)
    except ValueError:
        abort(400, description=f"The {name!r} date must be written like 2026-01-31.")


def audit_list():
    where = filter_from_request()
    events = events_page(where, page_argument(), PER_PAGE)
    return render_template(
        "admin/audit.html",
        events=events,
        names=event_names(),
        where=where,
        args={k: v for k, v in request.args.items() if k != "page" and v},
    )


def audit_csv():
    """The filtered trail as CSV, streamed: no request holds the whole export."""
    where = filter_from_request()
    audit.record("audit.export", detail={k: v for k, v in request.args.items() if v})
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        stream_with_context(csv_lines(where)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
