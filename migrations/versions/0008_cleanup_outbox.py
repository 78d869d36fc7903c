"""cleanup outbox: object deletions a store refused, kept until `flask storage maintain` gets them confirmed

Revision ID: 0008_cleanup_outbox
Revises: 0007_trash
Create Date: 2026-11-29
"""
import sqlalchemy as sa
from alembic import op

revision = "0008_cleanup_outbox"
down_revision = "0007_trash"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cleanup_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("storage_type", sa.String(50), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_cleanup_outbox_next_attempt_at", "cleanup_outbox", ["next_attempt_at"])
    op.create_index("ix_cleanup_outbox_storage_type_key", "cleanup_outbox", ["storage_type", "key"])


def downgrade():
    op.drop_index("ix_cleanup_outbox_storage_type_key", table_name="cleanup_outbox")
    op.drop_index("ix_cleanup_outbox_next_attempt_at", table_name="cleanup_outbox")
    op.drop_table("cleanup_outbox")
