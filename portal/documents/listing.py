"""Pages of rows to show: the documents list (with search) and a document's attachments."""
from __future__ import annotations

from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import Attachment, Document


def search_documents(query: str, page: int, per_page: int) -> Pagination:
    """Documents whose title or description contains ``query`` (case-insensitive), newest first."""
    statement = select(Document).order_by(Document.created_at.desc(), Document.id.desc())
    query = query.strip()
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(Document.title.ilike(pattern, escape="\\"), Document.description.ilike(pattern, escape="\\"))
        )
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


def attachments_page(document: Document, page: int, per_page: int) -> Pagination:
    """One page of ``document``'s attachments, oldest first."""
    statement = (select(Attachment).where(Attachment.document_id == document.id)
                 .order_by(Attachment.created_at, Attachment.id))
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)
