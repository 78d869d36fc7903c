"""Pages of rows to show: the documents list (one search box, filters, sorting) and a document's attachments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from flask_sqlalchemy.pagination import Pagination, SelectPagination
from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.orm import lazyload, selectinload

from portal.extensions import db
from portal.file_types import BY_SLUG
from portal.folding import fold
from portal.models import Attachment, Document, User

#: sortable columns of the documents list, by the name the page's links use
SORTS = ("added", "title", "date", "attachments")
DEFAULT_SORT = ("added", "desc")
#: attachments not in the trash (trashed documents are left out of the list on their own)
LIVE_ATTACHMENT = Attachment.deleted_at.is_(None)
MAX_TERMS = 8  # words in one search; more only slow the query without narrowing it
COUNT_CAP = 1000  # matches counted at most; beyond, the page says "more than 1,000"


@dataclass(frozen=True)
class DocumentQuery:
    """What the list is asked for: words, filters, order and page. Built by ``parse_query`` from the URL."""

    q: str = ""
    uploader: int | None = None
    added_from: date | None = None
    added_to: date | None = None
    file_type: str = ""
    sort: str = DEFAULT_SORT[0]
    direction: str = DEFAULT_SORT[1]
    page: int = 1
    #: what was wrong in the URL and therefore left out, one sentence each, for the page to show
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def terms(self) -> list[str]:
        return fold(self.q).split()[:MAX_TERMS]

    @property
    def filtered(self) -> bool:
        return bool(self.terms or self.uploader or self.added_from or self.added_to or self.file_type)

    def args(self, **changes) -> dict:
        """The URL arguments that ask for this query again (with ``changes``), defaults left out."""
        values = {
            "q": self.q,
            "uploader": self.uploader,
            "from": self.added_from,
            "to": self.added_to,
            "type": self.file_type,
            "sort": self.sort,
            "dir": self.direction,
            "page": self.page,
        }
        values.update(changes)
        if (values["sort"], values["dir"]) == DEFAULT_SORT:
            values["sort"] = values["dir"] = None
        if values["page"] == 1:
            values["page"] = None
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in values.items()
            if value not in (None, "")
        }


def _date(args: Mapping[str, str], name: str, label: str, problems: list[str]) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"“{raw}” is not a date ({label}); use YYYY-MM-DD. That filter was left out.")
        return None


def parse_query(args: Mapping[str, str], page: int = 1) -> DocumentQuery:
    """Read the list's URL arguments (``page`` is checked by the route); a value that makes no sense is left
    out and named in ``problems``."""
    problems: list[str] = []
    uploader_raw = (args.get("uploader") or "").strip()
    uploader = int(uploader_raw) if uploader_raw.isdigit() and len(uploader_raw) < 10 else None
    if uploader_raw and uploader is None:
        problems.append("That uploader is not known. The filter was left out.")
    added_from = _date(args, "from", "added from", problems)
    added_to = _date(args, "to", "added until", problems)
    if added_from and added_to and added_from > added_to:
        problems.append("The date range ends before it starts, so it was turned round.")
        added_from, added_to = added_to, added_from
    file_type = (args.get("type") or "").strip()
    if file_type and file_type not in BY_SLUG:
        problems.append(f"“{file_type}” is not a file type this list knows. The filter was left out.")
        file_type = ""
    sort = args.get("sort") or DEFAULT_SORT[0]
    direction = args.get("dir") or ("asc" if sort == "title" else "desc")
    if sort not in SORTS or direction not in ("asc", "desc"):
        sort, direction = DEFAULT_SORT
    return DocumentQuery(
        q=(args.get("q") or "").strip()[:200],
        uploader=uploader,
        added_from=added_from,
        added_to=added_to,
        file_type=file_type,
        sort=sort,
        direction=direction,
        page=page,
        problems=tuple(problems),
    )


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _filtered(query: DocumentQuery) -> Select:
    statement = select(Document).where(Document.deleted_at.is_(None))
    for term in query.terms:  # served by one trigram index on PostgreSQL, whatever the term matched
        statement = statement.where(Document.search_text.like(_like(term), escape="\\"))
    if query.uploader:
        statement = statement.where(
            or_(
                Document.created_by == query.uploader,
                exists().where(
                    and_(
                        Attachment.document_id == Document.id, Attachment.uploaded_by == query.uploader, LIVE_ATTACHMENT
                    )
                ),
            )
        )
    if query.added_from:
        statement = statement.where(Document.created_at >= _start_of(query.added_from))
    if query.added_to:
        statement = statement.where(Document.created_at < _start_of(query.added_to + timedelta(days=1)))
    if query.file_type:
        patterns = BY_SLUG[query.file_type].mime_types
        statement = statement.where(
            exists().where(
                and_(
                    Attachment.document_id == Document.id,
                    LIVE_ATTACHMENT,
                    or_(
                        *(
                            Attachment.content_type.like(pattern[:-1] + "%")
                            if pattern.endswith("/*")
                            else Attachment.content_type == pattern
                            for pattern in patterns
                        )
                    ),
                )
            )
        )
    return statement


def attachment_count():
    """The number of a document's attachments, as a correlated subquery (one index probe per row)."""
    return (
        select(func.count(Attachment.id))
        .where(Attachment.document_id == Document.id, LIVE_ATTACHMENT)
        .scalar_subquery()
    )


def _ordered(statement: Select, query: DocumentQuery) -> Select:
    column = {
        "added": Document.created_at,
        "title": Document.title_folded,
        "date": Document.document_date,
        "attachments": attachment_count(),
    }[query.sort]
    if query.direction == "asc":
        order = column.asc().nulls_last() if query.sort == "date" else column.asc()
    else:
        order = column.desc().nulls_last() if query.sort == "date" else column.desc()
    tiebreak = Document.id.asc() if query.direction == "asc" else Document.id.desc()
    return statement.order_by(order, tiebreak)


class CappedPagination(SelectPagination):
    """A page whose count stops at COUNT_CAP + 1 matches (``more`` is then true): counting every one of
    30,000 documents that contain a common word would cost more than finding the page itself."""

    @property
    def more(self) -> bool:
        return self.total is not None and self.total > COUNT_CAP

    def _query_count(self) -> int:
        matches = self._query_args["select"].options(lazyload("*")).order_by(None).limit(COUNT_CAP + 1)
        return self._query_args["session"].execute(select(func.count()).select_from(matches.subquery())).scalar()


def search_documents(query: DocumentQuery, per_page: int) -> Pagination:
    """One page of the documents ``query`` asks for, each with ``attachment_total`` set, and the total count
    (capped at COUNT_CAP + 1 for searches and filters, exact for the whole list)."""
    statement = _ordered(_filtered(query), query).options(selectinload(Document.creator))
    kind = CappedPagination if query.filtered else SelectPagination
    page = kind(select=statement, session=db.session(), page=query.page, per_page=per_page, error_out=False)
    ids = [document.id for document in page.items]
    counts = (
        dict(
            db.session.execute(
                select(Attachment.document_id, func.count(Attachment.id))
                .where(Attachment.document_id.in_(ids), LIVE_ATTACHMENT)
                .group_by(Attachment.document_id)
            ).all()
        )
        if ids
        else {}
    )
    for document in page.items:
        document.attachment_total = counts.get(document.id, 0)
    return page


def uploaders() -> list[User]:
    """Everyone who may appear in the uploader filter: every account, by name."""
    return list(db.session.scalars(select(User).order_by(User.name, User.id)))


#: sortable columns of a document's attachments; newest first unless asked otherwise
ATTACHMENT_SORTS = {
    "added": Attachment.created_at,
    "name": func.lower(Attachment.filename),
    "size": Attachment.size,
    "type": Attachment.content_type,
}


def attachment_order(args: Mapping[str, str]) -> tuple[str, str]:
    """The (column, direction) a document page's URL asks for; anything unknown is newest first."""
    sort, direction = args.get("sort") or "added", args.get("dir") or ""
    if sort not in ATTACHMENT_SORTS:
        return "added", "desc"
    if direction not in ("asc", "desc"):
        direction = "asc" if sort in ("name", "type") else "desc"
    return sort, direction


def attachments_page(
    document: Document,
    page: int,
    per_page: int,
    order: tuple[str, str] = ("added", "desc"),
) -> Pagination:
    """One page of ``document``'s attachments, newest first by default (so a file just uploaded is on page 1)."""
    column = ATTACHMENT_SORTS[order[0]]
    ordering = (column.asc(), Attachment.id.asc()) if order[1] == "asc" else (column.desc(), Attachment.id.desc())
    statement = select(Attachment).where(Attachment.document_id == document.id, LIVE_ATTACHMENT).order_by(*ordering)
    return db.paginate(statement, page=page, per_page=per_page, error_out=False)


@dataclass(frozen=True)
class SavedFiles:
    """What a page says after an upload: the new files, and which of them share a name with an older one."""

    names: tuple[str, ...]
    ids: frozenset[int]
    beside: tuple[str, ...]


def saved_files(document: Document, raw_ids: str | None) -> SavedFiles | None:
    """The files named by a page's ``new=1,2,3`` argument that really are new files of ``document``."""
    wanted = {int(part) for part in (raw_ids or "").split(",")[:100] if part.isdigit() and len(part) < 10}
    if not wanted:
        return None
    rows = list(
        db.session.scalars(
            select(Attachment)
            .where(Attachment.document_id == document.id, Attachment.id.in_(wanted))
            .order_by(Attachment.id)
        )
    )
    if not rows:
        return None
    names = [row.filename for row in rows]
    older = set(
        db.session.scalars(
            select(Attachment.filename).where(
                Attachment.document_id == document.id, Attachment.filename.in_(names), Attachment.id.not_in(wanted)
            )
        )
    )
    return SavedFiles(tuple(names), frozenset(row.id for row in rows), tuple(name for name in names if name in older))
