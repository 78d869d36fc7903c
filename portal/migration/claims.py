"""Which rows a run moves (those on the local disk, or in one object store), read in keyset batches, and how a run claims them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, Table, and_, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from portal.migration.models import ITEM, RUN, utcnow
from portal.migration.transactions import writing
from portal.models import Attachment, AttachmentStaging
from portal.storage.crypto import ciphertext_size

#: the file tables, in the order a run works through them
TABLES: dict[str, Table] = {"attachment": Attachment.__table__, "attachment_staging": AttachmentStaging.__table__}
SNAPSHOT_COLUMNS = (
    "id",
    "filename",
    "content_type",
    "size",
    "sha256",
    "filepath",
    "storage_path",
    "storage_type",
    "encryption",
)


@dataclass(frozen=True)
class RowSnapshot:
    """A file row as read when it was claimed; the switch only happens if the row still looks like this.

    It has the attributes DocumentStorageService.locate() reads, so it can stand in for the row.
    """

    table: str
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str | None
    filepath: str | None
    storage_path: str | None
    storage_type: str
    encryption: str | None
    item_id: int | None = None

    @property
    def source(self) -> str:
        """Where the bytes are read from, as shown in reports: the legacy path or the local key."""
        return self.storage_path or self.filepath or ""

    @property
    def is_legacy(self) -> bool:
        return not self.storage_path

    @property
    def stored_size(self) -> int:
        """The byte count the store holds: the ciphertext's for an encrypted row."""
        return ciphertext_size(self.size) if self.encryption else self.size


def pending(table: Table, source_types: tuple[str, ...] | None = None):
    """Rows a run from ``source_types`` moves: with None (the local disk), legacy rows (no storage_path) and
    local-store rows; else rows kept in an object store under one of those storage types."""
    if source_types is None:
        return or_(table.c.storage_path.is_(None), table.c.storage_type == "local")
    return and_(table.c.storage_path.is_not(None), table.c.storage_type.in_(source_types))


def stored(table: Table):
    """Rows kept in a store under a key: object stores and the local store alike (legacy rows, known only by
    their filepath, are not)."""
    return table.c.storage_path.is_not(None)


def tables_for(include_staging: bool) -> list[str]:
    return ["attachment", "attachment_staging"] if include_staging else ["attachment"]


def _columns(table: Table):
    return [table.c[name] for name in SNAPSHOT_COLUMNS]


def snapshot(table_name: str, row, item_id: int | None = None) -> RowSnapshot:
    """The RowSnapshot of ``row`` (a result row or a model instance) of table ``table_name``."""
    return RowSnapshot(table_name, *(getattr(row, name) for name in SNAPSHOT_COLUMNS), item_id=item_id)


def count_pending(
    engine: Engine,
    include_staging: bool,
    limit: int | None = None,
    retry_of: int | None = None,
    source_types: tuple[str, ...] | None = None,
) -> tuple[int, int]:
    """(rows, bytes recorded in their size column) a run with these options would move."""
    items = size = 0
    with engine.connect() as conn:
        for name in tables_for(include_staging):
            table = TABLES[name]
            query = select(func.count(), func.coalesce(func.sum(table.c.size), 0)).where(pending(table, source_types))
            if retry_of is not None:
                query = query.where(_failed_in(retry_of, name, table))
            count, total = conn.execute(query).one()
            items, size = items + count, size + int(total)
    if limit is not None and items > limit:
        # Sizes are not known per row without reading them all; scale to the limit.
        size, items = size * limit // max(items, 1), limit
    return items, size


def iter_pending(
    engine: Engine, table_name: str, batch_size: int = 500, source_types: tuple[str, ...] | None = None
) -> Iterator[RowSnapshot]:
    """Every pending row of one table, in id order, read batch by batch (never all at once)."""
    table = TABLES[table_name]
    return _by_batches(engine, table_name, pending(table, source_types), batch_size)


def iter_stored(
    engine: Engine, table_name: str, batch_size: int = 500, storage_types: tuple[str, ...] | None = None
) -> Iterator[RowSnapshot]:
    """Every row of one table kept in a store under a key (not legacy), in id order, by batches; with
    ``storage_types``, only the rows kept under those names."""
    table = TABLES[table_name]
    where = stored(table) if storage_types is None else and_(stored(table), table.c.storage_type.in_(storage_types))
    return _by_batches(engine, table_name, where, batch_size)


def _by_batches(engine: Engine, table_name: str, where, batch_size: int) -> Iterator[RowSnapshot]:
    """Rows matching ``where`` by keyset pagination on id: one short connection per batch."""
    table = TABLES[table_name]
    after = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                select(*_columns(table)).where(where, table.c.id > after).order_by(table.c.id).limit(batch_size)
            ).all()
        if not rows:
            return
        for row in rows:
            yield snapshot(table_name, row)
        after = rows[-1].id


def _failed_in(run_id: int, table_name: str, table: Table):
    return exists().where(
        ITEM.c.run_id == run_id, ITEM.c.table_name == table_name, ITEM.c.row_id == table.c.id, ITEM.c.status == "failed"
    )


def claim_batch(
    engine: Engine,
    run_id: int,
    worker_id: int,
    table_name: str,
    after: int,
    size: int,
    *,
    limit: int | None = None,
    retry_of: int | None = None,
    source_types: tuple[str, ...] | None = None,
) -> list[RowSnapshot]:
    """Claim up to ``size`` pending rows of ``table_name`` with id > ``after`` for this worker.

    On PostgreSQL the candidates are locked with FOR UPDATE SKIP LOCKED, so concurrent workers take
    different rows; the unique (run, table, row) of migration_item makes a claim exclusive in any case.
    Returns the snapshots this worker now owns (empty when nothing is left or the limit is reached).
    """
    table = TABLES[table_name]
    postgres = engine.dialect.name == "postgresql"
    claimed_already = exists().where(
        ITEM.c.run_id == run_id, ITEM.c.table_name == table_name, ITEM.c.row_id == table.c.id
    )
    with writing(engine) as conn:
        if limit is not None:
            run_row = select(RUN.c.items_claimed).where(RUN.c.id == run_id)
            claimed = conn.execute(run_row.with_for_update() if postgres else run_row).scalar_one()
            size = min(size, limit - claimed)
            if size <= 0:
                return []
        query = (
            select(*_columns(table))
            .where(pending(table, source_types), table.c.id > after, ~claimed_already)
            .order_by(table.c.id)
            .limit(size)
        )
        if retry_of is not None:
            query = query.where(_failed_in(retry_of, table_name, table))
        if postgres:
            query = query.with_for_update(skip_locked=True, of=table)
        rows = conn.execute(query).all()
        if not rows:
            return []
        now = utcnow()
        dialect_insert = postgresql.insert if postgres else sqlite.insert
        # One statement with a parameter list: compiled once and cached, where a VALUES list built per
        # batch would be compiled anew every time.
        statement = (
            dialect_insert(ITEM)
            .on_conflict_do_nothing(index_elements=["run_id", "table_name", "row_id"])
            .returning(ITEM.c.row_id, ITEM.c.id)
        )
        owned = dict(
            conn.execute(
                statement,
                [
                    dict(
                        run_id=run_id,
                        table_name=table_name,
                        row_id=row.id,
                        status="claimed",
                        worker_id=worker_id,
                        source=(row.storage_path or row.filepath or "")[:500],
                        updated_at=now,
                    )
                    for row in rows
                ],
            ).all()
        )
        if owned:
            conn.execute(update(RUN).where(RUN.c.id == run_id).values(items_claimed=RUN.c.items_claimed + len(owned)))
    return [snapshot(table_name, row, owned[row.id]) for row in rows if row.id in owned]
