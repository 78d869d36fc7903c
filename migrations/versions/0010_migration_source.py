"""migration source: a run records the store it moves files from (any direction between local, s3, minio)

Revision ID: 0010_migration_source
Revises: 0009_scrub_and_upkeep
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_migration_source"
down_revision = "0009_scrub_and_upkeep"
branch_labels = None
depends_on = None


def upgrade():
    # Runs made before this revision all moved files off the local disk.
    with op.batch_alter_table("migration_run") as batch:
        batch.add_column(sa.Column("source", sa.String(50), nullable=False, server_default="local"))


def downgrade():
    with op.batch_alter_table("migration_run") as batch:
        batch.drop_column("source")
