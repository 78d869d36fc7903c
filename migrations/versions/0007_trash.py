"""trash: deleted_at and deleted_by on documents and attachments

A document or attachment with deleted_at set is in the trash: hidden from every list and download, kept
with its object until `flask storage purge-trash` removes both after TRASH_RETENTION_DAYS. Both columns
are nullable (existing rows are live) and deleted_at is indexed for the trash page and the purge.

Revision ID: 0007_trash
Revises: 0006_document_search
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0007_trash"
down_revision = "0006_document_search"
branch_labels = None
depends_on = None

TABLES = ("document", "attachment")


def _schema():
    # The document tables live in schema `document` on PostgreSQL; SQLite has no schemas.
    return "document" if op.get_bind().dialect.name == "postgresql" else None


def upgrade():
    schema = _schema()
    for table in TABLES:
        op.add_column(table, sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
        if schema is None:
            # SQLite adds a column with its REFERENCES clause in place; Alembic would ask for a table copy.
            op.execute(f'ALTER TABLE {table} ADD COLUMN deleted_by INTEGER REFERENCES "user" (id)')
        else:
            op.add_column(table, sa.Column("deleted_by", sa.Integer,
                                           sa.ForeignKey("user.id"), nullable=True), schema=schema)
        op.create_index(f"ix_{table}_deleted_at", table, ["deleted_at"], schema=schema)


def downgrade():
    schema = _schema()
    for table in TABLES:
        op.drop_index(f"ix_{table}_deleted_at", table_name=table, schema=schema)
    if schema is None:
        # SQLite drops a column that is in a foreign key only by copying the table, which it refuses while
        # foreign keys are enforced (other tables reference these); the copy keeps every id.
        op.execute("PRAGMA foreign_keys=OFF")
    for table in TABLES:
        with op.batch_alter_table(table, schema=schema) as batch:
            batch.drop_column("deleted_by")
            batch.drop_column("deleted_at")
    if schema is None:
        op.execute("PRAGMA foreign_keys=ON")
