"""Purging from the storage dashboard: the trash past its retention, the quarantine past an age; each asks first,
says exactly what would go, and is recorded (the same services as `flask storage purge-trash|purge-quarantine`)."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for

from portal.confirmation import Question, ask, confirmed
from portal.documents.trash import TrashService, record_purge, retention
from portal.formatting import format_size, parse_duration
from portal.migration.service import DocumentMigrationService

#: the quarantine age the dashboard offers first (files migrated more than this long ago)
QUARANTINE_AGE = "30d"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _documents_and_attachments(documents: int, attachments: int) -> str:
    """'2 documents and 5 attachments', leaving out a part that is zero ('3 attachments')."""
    parts = [_plural(count, word) for count, word in ((documents, "document"), (attachments, "attachment")) if count]
    return " and ".join(parts) or "nothing"


def trash_due() -> dict:
    """What a trash purge would remove now (a dry run): for the dashboard's card and its question."""
    report = TrashService().purge(retention(), dry_run=True)
    what = _documents_and_attachments(report.documents, report.attachments)
    one = report.documents + report.attachments == 1
    return {
        "documents": report.documents,
        "attachments": report.attachments,
        "bytes": report.bytes,
        "what": what,
        "question": f"Remove {what} ({format_size(report.bytes)}) for good?",
        "note": f"{'It has' if one else 'They have'} been in the trash for more than "
        f"{current_app.config['TRASH_RETENTION_DAYS']} days. {'Its files are' if one else 'Their files are'} "
        "deleted from storage; this cannot be undone.",
    }


def purge_trash():
    """Empty the trash of what has been there longer than TRASH_RETENTION_DAYS, once confirmed."""
    due = trash_due()
    if not (due["documents"] or due["attachments"]):
        flash("Nothing in the trash is older than its retention; nothing was removed.", "info")
        return redirect(url_for("admin.storage"))
    if not confirmed():
        return ask(
            Question(
                question=due["question"],
                note=due["note"],
                button="Remove for good",
                label="Remove the expired trash for good",
                action=url_for("admin.purge_trash"),
                cancel=url_for("admin.storage"),
            )
        )
    age = retention()
    report = TrashService().purge(age)
    record_purge(report, age, "dashboard")
    removed = _documents_and_attachments(report.documents, report.attachments)
    flash(f"Removed {removed} ({format_size(report.bytes)}) from the trash for good.", "success")
    if report.failed:
        flash(
            f"The store refused to delete the files of {_plural(len(report.failed), 'attachment')}: the deletions "
            "are owed (see Owed deletions) and `flask storage maintain` retries them.",
            "error",
        )
    if report.kept:
        flash(
            f"{_plural(len(report.kept), 'attachment')} stayed in the trash: "
            f"{'its legacy file' if len(report.kept) == 1 else 'their legacy files'} could not be deleted; "
            "the next purge tries again. The portal's log names them.",
            "error",
        )
    return redirect(url_for("admin.storage"))


def purge_quarantine():
    """Delete migrated local files that have waited in the quarantine longer than the age given, once confirmed."""
    text = (request.values.get("older_than") or "").strip()
    try:
        age = parse_duration(text, allow_zero=False)
    except ValueError as exc:
        flash(f"Quarantine: {exc}. Nothing was deleted.", "error")
        return redirect(url_for("admin.storage"))
    service = DocumentMigrationService()
    due = service.purge_quarantine(age, dry_run=True)
    for error in due.errors:
        flash(f"Not counted, try again later: {error}", "error")
    if not due.files and due.errors:
        return redirect(url_for("admin.storage"))
    if not due.files:
        flash(f"No quarantined file is older than {text}; nothing was deleted.", "info")
        return redirect(url_for("admin.storage"))
    if not confirmed():
        return ask(
            Question(
                question=f"Delete {_plural(due.files, 'quarantined file')} ({format_size(due.bytes)}) for good?",
                note=f"{'It was' if due.files == 1 else 'They were'} moved to the quarantine more than {text} ago, "
                "once the copies a run made of them were verified. Deleted, "
                f"{'it' if due.files == 1 else 'they'} cannot be restored from the quarantine.",
                button="Delete for good",
                label="Delete the quarantined files for good",
                action=url_for("admin.purge_quarantine", older_than=text),
                cancel=url_for("admin.storage"),
            )
        )
    report = service.purge_quarantine(age, source="dashboard")
    flash(f"Deleted {_plural(report.files, 'quarantined file')} ({format_size(report.bytes)}) for good.", "success")
    for error in report.errors:
        flash(f"Not purged, try again later: {error}", "error")
    return redirect(url_for("admin.storage"))
