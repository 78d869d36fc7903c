"""Migration runs, the processes working on them, and one record per row a run claimed."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.models import aware, utcnow  # noqa: F401  (the migration modules import both from here)

#: statuses of a run that holds the single "active" slot
ACTIVE_STATUSES = ("running", "cancelling", "failing")
#: statuses of a finished run
FINISHED_STATUSES = ("completed", "failed", "cancelled")


class MigrationRun(db.Model):
    """One migration (from one store to another) or verification run, with its options and counters.

    ``active`` is 1 while the run is running (or cancelling, or failing) and NULL afterwards; its unique constraint
    is what lets the database, not a process, decide that only one run is active at a time.
    """

    __tablename__ = "migration_run"
    __table_args__ = (UniqueConstraint("active", name="uq_migration_run_active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="migrate")  # 'migrate' or 'verify'
    target: Mapped[str] = mapped_column(String(50), default="")
    #: the store files are moved from: 'local' (legacy paths and the local store), 's3' or 'minio'
    source: Mapped[str] = mapped_column(String(50), default="local", server_default="local")
    status: Mapped[str] = mapped_column(String(20), default="running")
    active: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[str] = mapped_column(Text, default="{}")
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("migration_run.id"))
    items_total: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    items_claimed: Mapped[int] = mapped_column(BigInteger, default=0)
    items_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    items_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    items_skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_from: Mapped[str] = mapped_column(String(20), default="cli")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def option_values(self) -> dict:
        return json.loads(self.options or "{}")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def label(self) -> str:
        """'migration to s3' (from the local disk), 'migration from s3 to minio', 'deep verification': how
        messages name the run."""
        if self.kind == "verify":
            return "deep verification" if self.option_values.get("deep") else "verification"
        if self.source and self.source != "local":
            return f"migration from {self.source} to {self.target}"
        return f"migration to {self.target}"


class MigrationWorker(db.Model):
    """A process working on a run: where it runs and when it last showed signs of life."""

    __tablename__ = "migration_worker"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_run.id"), index=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


#: how an item's error begins when the row's bytes were not where the row says (a migration's source, a
#: verification's object): what /admin/storage/missing lists
SOURCE_MISSING = "source missing"
OBJECT_MISSING = "object missing from the store"
MISSING_ERRORS = (SOURCE_MISSING, OBJECT_MISSING)


class MigrationItem(db.Model):
    """One row a run claimed (status 'claimed'), moved ('done'), failed, skipped, or found wrong ('mismatch').

    The unique (run, table, row) is the claim: two processes can never both own a row in one run.
    """

    __tablename__ = "migration_item"
    __table_args__ = (
        UniqueConstraint("run_id", "table_name", "row_id", name="uq_migration_item_row"),
        Index("ix_migration_item_run_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("migration_run.id"))
    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="claimed")
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("migration_worker.id"))
    source: Mapped[str | None] = mapped_column(String(500))
    object_key: Mapped[str | None] = mapped_column(String(500))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


#: the Core tables, for the statements that run outside the ORM session
RUN = MigrationRun.__table__
WORKER = MigrationWorker.__table__
ITEM = MigrationItem.__table__
