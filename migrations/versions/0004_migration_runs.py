"""migration runs: the run, the processes working on it, and one record per claimed row

Adds migration_run (options, counters, heartbeat; `active` is 1 while a run is running and its
unique constraint allows only one such run), migration_worker and migration_item (the claim of a
row by a run, then its outcome and error). The tables live in the default schema.

Revision ID: 0004_migration_runs
Revises: 0003_checksums_encryption
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_migration_runs"
down_revision = "0003_checksums_encryption"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "migration_run",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("active", sa.Integer, nullable=True),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("retry_of", sa.Integer, sa.ForeignKey("migration_run.id"), nullable=True),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in (
            "items_total", "bytes_total", "items_claimed", "items_done", "bytes_done", "items_failed",
            "items_skipped")),
        sa.Column("message", sa.Text, nullable=True),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("user.id"), nullable=True),
        sa.Column("created_from", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("active", name="uq_migration_run_active"),
    )
    op.create_table(
        "migration_worker",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("migration_run.id"), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_migration_worker_run_id", "migration_worker", ["run_id"])
    op.create_table(
        "migration_item",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("migration_run.id"), nullable=False),
        sa.Column("table_name", sa.String(40), nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("worker_id", sa.Integer, sa.ForeignKey("migration_worker.id"), nullable=True),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("object_key", sa.String(500), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("run_id", "table_name", "row_id", name="uq_migration_item_row"),
    )
    op.create_index("ix_migration_item_run_status", "migration_item", ["run_id", "status"])


def downgrade():
    op.drop_index("ix_migration_item_run_status", table_name="migration_item")
    op.drop_table("migration_item")
    op.drop_index("ix_migration_worker_run_id", table_name="migration_worker")
    op.drop_table("migration_worker")
    op.drop_table("migration_run")
