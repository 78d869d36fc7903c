"""scrub and upkeep: each attachment's last verification and its outcome; one row per `maintain` job

`last_verified_at`, `verify_outcome` and `verify_detail` on `attachment` record the last time
`flask storage scrub` re-hashed the row's object and what it found; the index on
(last_verified_at, id) serves the scrub's order (never verified first, then longest ago).
`maintenance_job` holds one row per job of `flask storage maintain`: a lease that keeps two hosts
from running the same job at once, when it last started and finished, and how that went.

Revision ID: 0009_scrub_and_upkeep
Revises: 0008_cleanup_outbox
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_scrub_and_upkeep"
down_revision = "0008_cleanup_outbox"
branch_labels = None
depends_on = None


def _schema():
    # The document tables live in schema `document` on PostgreSQL; SQLite has no schemas.
    return "document" if op.get_bind().dialect.name == "postgresql" else None


def upgrade():
    schema = _schema()
    op.add_column("attachment", sa.Column("last_verified_at", sa.DateTime(timezone=True), nullable=True), schema=schema)
    op.add_column("attachment", sa.Column("verify_outcome", sa.String(20), nullable=True), schema=schema)
    op.add_column("attachment", sa.Column("verify_detail", sa.String(500), nullable=True), schema=schema)
    op.create_index("ix_attachment_last_verified_at", "attachment", ["last_verified_at", "id"], schema=schema)
    op.create_index("ix_attachment_verify_outcome", "attachment", ["verify_outcome"], schema=schema)
    op.create_table(
        "maintenance_job",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("holder", sa.String(200), nullable=False, server_default=""),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(20), nullable=False, server_default=""),
        sa.Column("last_summary", sa.Text, nullable=False, server_default=""),
        sa.Column("items", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("problems", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade():
    schema = _schema()
    op.drop_table("maintenance_job")
    op.drop_index("ix_attachment_verify_outcome", table_name="attachment", schema=schema)
    op.drop_index("ix_attachment_last_verified_at", table_name="attachment", schema=schema)
    if schema is None:
        # SQLite drops columns by copying the table, which it refuses while other tables' foreign keys are enforced.
        op.execute("PRAGMA foreign_keys=OFF")
    with op.batch_alter_table("attachment", schema=schema) as batch:
        batch.drop_column("verify_detail")
        batch.drop_column("verify_outcome")
        batch.drop_column("last_verified_at")
    if schema is None:
        op.execute("PRAGMA foreign_keys=ON")
