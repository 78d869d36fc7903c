"""A run's failures as the dashboard lists them: staff-facing names, the file's name and a link to its document."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from portal.admin.names import table_name
from portal.extensions import db
from portal.migration.models import MISSING_ERRORS
from portal.models import Attachment, AttachmentStaging

#: an item's status, as its badge says it, and the badge's colour family
ITEM_STATUSES = {"failed": ("Failed", "bad"), "mismatch": ("Mismatch", "bad"), "skipped": ("Skipped", "warn")}


def failure_rows(items) -> list[dict]:
    """One dict per failed, skipped or mismatched item (JSON-ready, also what the page renders)."""
    wanted: dict[str, list[int]] = {"attachment": [], "attachment_staging": []}
    for item in items:
        wanted.setdefault(item.table_name, []).append(item.row_id)
    attachments = {}
    if wanted["attachment"]:
        attachments = {
            row.id: row
            for row in db.session.execute(
                select(Attachment.id, Attachment.filename, Attachment.document_id, Attachment.deleted_at).where(
                    Attachment.id.in_(wanted["attachment"])
                )
            )
        }
    staged = {}
    if wanted["attachment_staging"]:
        staged = dict(
            db.session.execute(
                select(AttachmentStaging.id, AttachmentStaging.filename).where(
                    AttachmentStaging.id.in_(wanted["attachment_staging"])
                )
            ).all()
        )
    rows = []
    for item in items:
        label, tone = ITEM_STATUSES.get(item.status, (item.status, "neutral"))
        row = {
            "table": table_name(item.table_name),
            "row_id": item.row_id,
            "filename": None,
            "where": item.source or item.object_key or "",
            "status": label,
            "tone": tone,
            "error": item.error or "",
            "document_url": None,
            "note": "",
            "missing": (item.error or "").startswith(MISSING_ERRORS),
        }
        if item.table_name == "attachment" and item.row_id in attachments:
            found = attachments[item.row_id]
            row["filename"] = found.filename
            if found.deleted_at is None:
                row["document_url"] = url_for("documents.view", document_id=found.document_id)
            else:
                row["note"] = "in the trash"
        elif item.table_name == "attachment_staging" and item.row_id in staged:
            row["filename"] = staged[item.row_id]
            row["note"] = "staged upload, not saved to a document yet"
        else:
            row["note"] = "the row no longer exists"
        rows.append(row)
    return rows
