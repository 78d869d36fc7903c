"""document search: one folded search text per document, the document date, and indexes for search and sorting

Adds document.search_text (title, description, file names and the names of the people who created the
document or uploaded its files; lower case, no accents, each word once), document.title_folded (for
sorting), document.document_date and user-facing btree indexes, fills the new columns for existing rows
in batches with the same folding the portal applies on every write, and on PostgreSQL indexes the search
text with a pg_trgm GIN index, which serves `LIKE '%term%'`.

Revision ID: 0006_document_search
Revises: 0005_accounts_sessions_audit
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

from portal.folding import document_search_text, fold

revision = "0006_document_search"
down_revision = "0005_accounts_sessions_audit"
branch_labels = None
depends_on = None

BATCH = 500
INDEXES = (("document", "ix_document_created_at", "created_at"),
           ("document", "ix_document_document_date", "document_date"),
           ("document", "ix_document_title_folded", "title_folded"),
           ("document", "ix_document_created_by", "created_by"),
           ("attachment", "ix_attachment_uploaded_by", "uploaded_by"))


def _schema():
    # The document tables live in schema `document` on PostgreSQL; SQLite has no schemas.
    return "document" if op.get_bind().dialect.name == "postgresql" else None


def _backfill(schema) -> None:
    """Fill search_text and title_folded document by document, in keyset batches (never a whole table)."""
    meta = sa.MetaData()
    user = sa.Table("user", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String))
    document = sa.Table("document", meta, sa.Column("id", sa.Integer), sa.Column("title", sa.String),
                        sa.Column("description", sa.Text), sa.Column("created_by", sa.Integer),
                        sa.Column("search_text", sa.Text), sa.Column("title_folded", sa.String), schema=schema)
    attachment = sa.Table("attachment", meta, sa.Column("document_id", sa.Integer), sa.Column("filename", sa.String),
                          sa.Column("uploaded_by", sa.Integer), schema=schema)
    bind, last = op.get_bind(), 0
    while True:
        rows = bind.execute(
            sa.select(document.c.id, document.c.title, document.c.description, user.c.name)
            .outerjoin(user, user.c.id == document.c.created_by)
            .where(document.c.id > last).order_by(document.c.id).limit(BATCH)).all()
        if not rows:
            return
        files = {row.id: [] for row in rows}
        for document_id, filename, uploader in bind.execute(
                sa.select(attachment.c.document_id, attachment.c.filename, user.c.name)
                .outerjoin(user, user.c.id == attachment.c.uploaded_by)
                .where(attachment.c.document_id.in_(list(files)))):
            files[document_id].append((filename, uploader))
        bind.execute(
            document.update().where(document.c.id == sa.bindparam("row_id"))
            .values(search_text=sa.bindparam("text"), title_folded=sa.bindparam("sort_title")),
            [{"row_id": row.id, "text": document_search_text(row.title, row.description, row.name, files[row.id]),
              "sort_title": fold(row.title)} for row in rows])
        last = rows[-1].id


def upgrade():
    schema = _schema()
    op.add_column("document", sa.Column("document_date", sa.Date, nullable=True), schema=schema)
    op.add_column("document", sa.Column("search_text", sa.Text, nullable=False, server_default=""), schema=schema)
    op.add_column("document", sa.Column("title_folded", sa.String(200), nullable=False, server_default=""),
                  schema=schema)
    _backfill(schema)
    for table, name, column in INDEXES:
        op.create_index(name, table, [column], schema=schema)
    if schema:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index("ix_document_search_text_trgm", "document", ["search_text"], schema=schema,
                        postgresql_using="gin", postgresql_ops={"search_text": "gin_trgm_ops"})


def downgrade():
    schema = _schema()
    if schema:
        op.drop_index("ix_document_search_text_trgm", table_name="document", schema=schema)
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table, schema=schema)
    op.drop_column("document", "title_folded", schema=schema)
    op.drop_column("document", "search_text", schema=schema)
    op.drop_column("document", "document_date", schema=schema)
