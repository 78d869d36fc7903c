"""document search: folded text columns, the document date, and the indexes that serve search and sorting

Adds document.search_text (title and description folded: lower case, no accents), document.title_folded
(for sorting), document.document_date,
attachment.filename_folded and user.name_folded, fills them for existing rows (in batches, with the
same folding the portal applies on every write), and indexes them: on PostgreSQL with pg_trgm GIN
indexes, which serve `LIKE '%term%'`; btree indexes for the sortable and filtered columns everywhere.

Revision ID: 0006_document_search
Revises: 0005_accounts_sessions_audit
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

from portal.folding import fold

revision = "0006_document_search"
down_revision = "0005_accounts_sessions_audit"
branch_labels = None
depends_on = None

TRIGRAM = (("document", "search_text"), ("attachment", "filename_folded"), ("user", "name_folded"))
BATCH = 1000


def _schema():
    # The document tables live in schema `document` on PostgreSQL; SQLite has no schemas.
    return "document" if op.get_bind().dialect.name == "postgresql" else None


def _backfill(table: sa.Table, key: str, target: str, source) -> None:
    """Fill ``target`` from ``source(row)`` in keyset batches, so a large table never sits in memory."""
    bind, last = op.get_bind(), 0
    while True:
        rows = bind.execute(sa.select(table).where(table.c[key] > last).order_by(table.c[key]).limit(BATCH)).all()
        if not rows:
            return
        bind.execute(table.update().where(table.c[key] == sa.bindparam("row_key")).values({target: sa.bindparam("value")}),
                     [{"row_key": row._mapping[key], "value": source(row._mapping)} for row in rows])
        last = rows[-1]._mapping[key]


def upgrade():
    schema = _schema()
    op.add_column("document", sa.Column("document_date", sa.Date, nullable=True), schema=schema)
    op.add_column("document", sa.Column("search_text", sa.Text, nullable=False, server_default=""), schema=schema)
    op.add_column("document", sa.Column("title_folded", sa.String(200), nullable=False, server_default=""),
                  schema=schema)
    op.add_column("attachment", sa.Column("filename_folded", sa.String(255), nullable=False, server_default=""),
                  schema=schema)
    op.add_column("user", sa.Column("name_folded", sa.String(120), nullable=False, server_default=""))

    meta = sa.MetaData()
    document = sa.Table("document", meta, sa.Column("id", sa.Integer), sa.Column("title", sa.String),
                        sa.Column("description", sa.Text), sa.Column("search_text", sa.Text),
                        sa.Column("title_folded", sa.String), schema=schema)
    attachment = sa.Table("attachment", meta, sa.Column("id", sa.Integer), sa.Column("filename", sa.String),
                          sa.Column("filename_folded", sa.String), schema=schema)
    user = sa.Table("user", meta, sa.Column("id", sa.Integer), sa.Column("name", sa.String),
                    sa.Column("name_folded", sa.String))
    _backfill(document, "id", "search_text", lambda row: fold(f"{row['title'] or ''} {row['description'] or ''}"))
    _backfill(document, "id", "title_folded", lambda row: fold(row["title"]))
    _backfill(attachment, "id", "filename_folded", lambda row: fold(row["filename"]))
    _backfill(user, "id", "name_folded", lambda row: fold(row["name"]))

    op.create_index("ix_document_created_at", "document", ["created_at"], schema=schema)
    op.create_index("ix_document_document_date", "document", ["document_date"], schema=schema)
    op.create_index("ix_document_title_folded", "document", ["title_folded"], schema=schema)
    op.create_index("ix_document_created_by", "document", ["created_by"], schema=schema)
    op.create_index("ix_attachment_uploaded_by", "attachment", ["uploaded_by"], schema=schema)
    if schema:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for table, column in TRIGRAM:
            op.create_index(f"ix_{table}_{column}_trgm", table, [column], schema=None if table == "user" else schema,
                            postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"})


def downgrade():
    schema = _schema()
    if schema:
        for table, column in TRIGRAM:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table, schema=None if table == "user" else schema)
    op.drop_index("ix_attachment_uploaded_by", table_name="attachment", schema=schema)
    op.drop_index("ix_document_created_by", table_name="document", schema=schema)
    op.drop_index("ix_document_title_folded", table_name="document", schema=schema)
    op.drop_index("ix_document_document_date", table_name="document", schema=schema)
    op.drop_index("ix_document_created_at", table_name="document", schema=schema)
    op.drop_column("user", "name_folded")
    op.drop_column("attachment", "filename_folded", schema=schema)
    op.drop_column("document", "title_folded", schema=schema)
    op.drop_column("document", "search_text", schema=schema)
    op.drop_column("document", "document_date", schema=schema)
