"""add_object_storage_columns: storage_path and storage_type on attachment and attachment_staging

Existing rows read as storage_type 'local' (server default) with no storage_path, so they keep
being served from their legacy filepath until migrated.

Revision ID: 0002_add_object_storage_columns
Revises: 0001_baseline
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_add_object_storage_columns"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None

TABLES = ("attachment", "attachment_staging")


def _schema():
    # The document tables live in schema `document` on PostgreSQL; SQLite has no schemas.
    return "document" if op.get_bind().dialect.name == "postgresql" else None


def upgrade():
    schema = _schema()
    for table in TABLES:
        op.add_column(table, sa.Column("storage_path", sa.String(500), nullable=True), schema=schema)
        op.add_column(
            table,
            sa.Column("storage_type", sa.String(50), nullable=False, server_default="local"),
            schema=schema,
        )
        op.create_index(f"ix_{table}_storage_path", table, ["storage_path"], schema=schema)
        op.create_index(f"ix_{table}_storage_type", table, ["storage_type"], schema=schema)


def downgrade():
    schema = _schema()
    for table in TABLES:
        op.drop_index(f"ix_{table}_storage_type", table_name=table, schema=schema)
        op.drop_index(f"ix_{table}_storage_path", table_name=table, schema=schema)
        op.drop_column(table, "storage_type", schema=schema)
        op.drop_column(table, "storage_path", schema=schema)
