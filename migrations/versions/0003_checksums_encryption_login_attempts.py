"""checksums, encryption envelopes and sign-in attempts

Adds sha256 and encryption (the hybrid-encryption envelope) to attachment and attachment_staging,
and the login_attempt table that limits repeated failed sign-ins.

Revision ID: 0003_checksums_encryption
Revises: 0002_add_object_storage_columns
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_checksums_encryption"
down_revision = "0002_add_object_storage_columns"
branch_labels = None
depends_on = None

TABLES = ("attachment", "attachment_staging")


def _schema():
    # The document tables live in schema `document` on PostgreSQL; SQLite has no schemas.
    return "document" if op.get_bind().dialect.name == "postgresql" else None


def upgrade():
    schema = _schema()
    for table in TABLES:
        op.add_column(table, sa.Column("sha256", sa.String(64), nullable=True), schema=schema)
        op.add_column(table, sa.Column("encryption", sa.Text, nullable=True), schema=schema)
    op.create_table(
        "login_attempt",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(255), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=False),
        sa.Column("succeeded", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    for column in ("email", "remote_addr", "created_at"):
        op.create_index(f"ix_login_attempt_{column}", "login_attempt", [column])


def downgrade():
    schema = _schema()
    op.drop_table("login_attempt")
    for table in TABLES:
        op.drop_column(table, "encryption", schema=schema)
        op.drop_column(table, "sha256", schema=schema)
