"""/admin/storage/missing: rows whose bytes runs found missing, paged, each checked again; "mark as lost" settles one."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from sqlalchemy import func, select

from portal import audit
from portal.admin.missing import inspect, lost_detail, remove_lost, reported_missing
from portal.admin.names import store_name
from portal.confirmation import Question, ask, confirmed
from portal.extensions import db
from portal.migration.models import MigrationItem
from portal.paging import page_argument

PER_PAGE = 25
LOST_NOTE = (
    "Its bytes are not where the row says and not in the quarantine, so nobody can download it. "
    "The row is removed for good; the audit trail keeps its name, size, SHA-256 and where it was, "
    "so it can be put back if the file turns up."
)
#: why a row cannot be marked lost, by what inspect() found
NOT_LOST = {
    "present": "{name} is not lost: its bytes are back where the row says. Nothing was removed.",
    "quarantined": "{name} is not lost: a copy waits in the quarantine at {where}. Move it back instead. "
    "Nothing was removed.",
    "unknown": "{name} was not removed: {where}. Try again when the store answers.",
}


def missing_count() -> int:
    """How many rows runs found without their bytes (not checked again: the list does that)."""
    return db.session.scalar(select(func.count()).select_from(reported_missing().subquery()))


def missing_files():
    """The rows runs found without their bytes, newest report first, each checked again now."""
    page = page_argument()
    pagination = db.paginate(reported_missing(), page=page, per_page=PER_PAGE, error_out=False)
    found = [entry for entry in (inspect(item) for item in pagination.items) if entry is not None]
    return render_template(
        "admin/storage_missing.html", pagination=pagination, found=found, page=page, lost_note=LOST_NOTE
    )


def mark_lost(item_id: int):
    """Remove the row of a file whose bytes are missing everywhere, once confirmed, and record it."""
    item = db.get_or_404(MigrationItem, item_id)
    found = inspect(item)
    back = redirect(url_for("admin.missing_files"))
    if found is None:
        flash("That row no longer exists; nothing was removed.", "info")
        return back
    name = found.row.filename
    if found.state != "missing":
        flash(NOT_LOST[found.state].format(name=name, where=found.where), "error")
        return back
    if not confirmed():
        return ask(
            Question(
                question=f"Mark {name} as lost and remove its row?",
                note=LOST_NOTE,
                button="Mark as lost",
                label=f"Mark {name} as lost",
                action=url_for("admin.mark_lost", item_id=item.id),
                cancel=url_for("admin.missing_files"),
            )
        )
    detail, row_id = lost_detail(found), found.row.id
    where = store_name(found.row.storage_type if found.row.storage_path else "legacy")
    remove_lost(found)
    audit.record("file.lost", object_type=found.table, object_id=row_id, detail=detail)
    flash(
        f"{name} is marked as lost and its row is removed (its bytes were missing from {where} and the quarantine). "
        "The audit trail keeps its details.",
        "success",
    )
    return back
