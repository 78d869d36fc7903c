"""Keeping ``document.search_text`` in step: whenever a flush changes what a document is found by."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

from sqlalchemy import Connection, bindparam, event, inspect, select, union, update
from sqlalchemy.orm import Session

from portal.folding import document_search_text
from portal.models import Attachment, Document, User

BATCH = 500


def refresh(connection: Connection, document_ids: Iterable[int]) -> None:
    """Rewrite the search text of these documents from their rows (title, description, files, people)."""
    ids = sorted({document_id for document_id in document_ids if document_id is not None})
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        files: dict[int, list[tuple[str, str | None]]] = {document_id: [] for document_id in batch}
        for document_id, filename, uploader in connection.execute(
            select(Attachment.document_id, Attachment.filename, User.name)
            .outerjoin(User, User.id == Attachment.uploaded_by)
            .where(Attachment.document_id.in_(batch), Attachment.deleted_at.is_(None))
        ):
            files[document_id].append((filename, uploader))
        documents = connection.execute(
            select(Document.id, Document.title, Document.description, User.name)
            .outerjoin(User, User.id == Document.created_by)
            .where(Document.id.in_(batch))
        ).all()
        if documents:
            connection.execute(
                update(Document.__table__)
                .where(Document.__table__.c.id == bindparam("document_id"))
                .values(search_text=bindparam("text")),
                [
                    {
                        "document_id": row.id,
                        "text": document_search_text(row.title, row.description, row.name, files[row.id]),
                    }
                    for row in documents
                ],
            )


def _changed(obj, *names: str) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _touched_documents(session: Session) -> set[int]:
    """Documents whose search text this flush makes stale: new or edited documents, files added, renamed,
    moved or removed, and everything a renamed person created or uploaded."""
    documents: set[int] = set()
    renamed: set[int] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Attachment):
            searched = ("filename", "uploaded_by", "document_id", "deleted_at")
            if obj in session.new or obj in session.deleted or _changed(obj, *searched):
                documents.add(obj.document_id)
        elif isinstance(obj, Document) and obj not in session.deleted:
            if obj in session.new or _changed(obj, "title", "description", "created_by"):
                documents.add(obj.id)
        elif isinstance(obj, User) and obj not in session.new and _changed(obj, "name"):
            renamed.add(obj.id)
    if renamed:
        documents.update(
            session.connection().scalars(
                union(
                    select(Document.id).where(Document.created_by.in_(renamed)),
                    select(Attachment.document_id).where(Attachment.uploaded_by.in_(renamed)),
                )
            )
        )
    return documents


def _after_flush(session: Session, flush_context) -> None:
    documents = _touched_documents(session)
    if documents:
        refresh(session.connection(), documents)


def init_search_index() -> None:
    """Listen to every session's flushes (once per process)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
