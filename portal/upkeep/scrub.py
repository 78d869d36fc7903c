"""The continuous integrity scrub: re-hash the attachments verified longest ago, record what each held.

Rows are taken never-verified first (by id), then by ``last_verified_at``; each check stamps its row, so
the next pass starts where this one stopped. The check is the migration's deep verification
(portal.migration.verify.RowChecker): the bytes read back and hashed, never the ETag; an encrypted row is
decrypted, every segment authenticated, and the plaintext hashed. A pass ends when its time budget is
spent (checked between objects) or when it reaches rows it has itself checked.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update

from portal.migration.claims import SNAPSHOT_COLUMNS, RowSnapshot, snapshot
from portal.migration.verify import RowChecker
from portal.models import Attachment
from portal.storage.base import StorageError, StorageProvider, StorageUnavailable
from portal.storage.encryption import StorageEncryption
from portal.upkeep.throttle import ByteRate, Throttled

log = logging.getLogger("portal.upkeep")

ATTACHMENT = Attachment.__table__
#: the storage_type a legacy row (only a filepath, read under LEGACY_FILES_ROOT) is checked under
LEGACY = "legacy"
PROBLEM_OUTCOMES = ("mismatch", "missing", "unreadable")
BATCH = 100
DETAIL_MAX = 500


@dataclass
class ScrubReport:
    """One pass: rows checked and their bytes, the count per outcome, the problems found, and why it stopped."""

    checked: int = 0
    bytes: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("ok", *PROBLEM_OUTCOMES), 0))
    problems: list[str] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    stopped: str = "done"  # 'done' (every row checked once), 'budget' (time ran out)

    @property
    def problem_count(self) -> int:
        return sum(self.outcomes[name] for name in PROBLEM_OUTCOMES)

    @property
    def passed(self) -> bool:
        return not self.problem_count and not self.unavailable


class Scrubber:
    """Checks attachment rows in scrub order within ``budget`` (None: no limit), reading at most ``rate``
    bytes a second (None: as fast as the stores answer).

    ``provider_for`` maps a row's storage_type to its provider; ``legacy`` (portal.documents.service.LegacyFiles)
    reads rows that only have a filepath. ``clock`` (monotonic seconds), ``sleep`` and ``now`` are injectable.
    """

    def __init__(
        self,
        engine: Engine,
        provider_for: Callable[[str], StorageProvider],
        encryption: StorageEncryption,
        legacy,
        *,
        budget: timedelta | None = None,
        rate: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.engine, self.legacy = engine, legacy
        self.budget, self.clock, self.now = budget, clock, now
        limit = ByteRate(rate, clock=clock, sleep=sleep) if rate else None
        self._providers: dict[str, StorageProvider] = {}
        self._trouble: dict[str, str | None] = {}
        self._provider_for, self._limit = provider_for, limit
        self.checker = RowChecker(self.provider, deep=True, encryption=encryption)

    def provider(self, storage_type: str):
        """The provider of ``storage_type`` (the legacy folder for LEGACY), paced when a rate is set."""
        if storage_type not in self._providers:
            found = self.legacy.provider if storage_type == LEGACY else self._provider_for(storage_type)
            self._providers[storage_type] = Throttled(found, self._limit) if self._limit else found
        return self._providers[storage_type]

    def run(self, on_row: Callable[[RowSnapshot, str, str | None], None] | None = None) -> ScrubReport:
        """One pass; ``on_row(row, outcome, reason)`` after each recorded check. Raises SQLAlchemyError."""
        report, started, began = ScrubReport(), self.clock(), self.now()
        for row in self._rows(began):
            if self.budget is not None and self.clock() - started >= self.budget.total_seconds():
                report.stopped = "budget"
                break
            if row.storage_type in report.unavailable:
                continue
            outcome, reason = self._check(row)
            if outcome is None:
                report.unavailable[row.storage_type] = reason or "unavailable"
                log.warning("scrub: %s cannot be used, its rows wait for the next pass: %s", row.storage_type, reason)
                continue
            if not self._record(row, outcome, reason):
                continue  # the row changed (moved, restored, purged) while it was checked: its check says nothing
            report.checked += 1
            report.bytes += row.size or 0
            report.outcomes[outcome] += 1
            if outcome != "ok":
                report.problems.append(f"attachment #{row.id} {row.storage_type}:{row.storage_path}: {reason}")
                log.error(
                    "scrub: attachment #%s %s:%s %s: %s", row.id, row.storage_type, row.storage_path, outcome, reason
                )
            if on_row is not None:
                on_row(row, outcome, reason)
        return report

    def _check(self, row: RowSnapshot) -> tuple[str | None, str | None]:
        """(outcome, reason), or (None, why) when the row's store cannot be used in this pass."""
        trouble = self._store_trouble(row.storage_type)
        if trouble is not None:
            return None, trouble
        try:
            return self.checker.outcome(row)
        except StorageUnavailable as exc:
            return None, str(exc)

    def _store_trouble(self, storage_type: str) -> str | None:
        """Why ``storage_type``'s store cannot be scrubbed now (checked once a pass), or None.

        A store that is down or misconfigured (no bucket, refused credentials, a missing folder) says nothing
        about its objects: their rows keep their last finding and their place instead of all becoming 'unreadable'.
        """
        if storage_type not in self._trouble:
            try:
                found = self.legacy.provider if storage_type == LEGACY else self._provider_for(storage_type)
                found.check(write=False)  # a scrub only reads: a read-only mount is fine
            except StorageError as exc:
                self._trouble[storage_type] = str(exc)
            else:
                self._trouble[storage_type] = None
        return self._trouble[storage_type]

    def _rows(self, began: datetime) -> Iterator[RowSnapshot]:
        """Never-verified rows by id, then rows verified before ``began`` oldest first (keyset batches)."""
        columns = [ATTACHMENT.c[name] for name in SNAPSHOT_COLUMNS]
        verified = ATTACHMENT.c.last_verified_at
        has_bytes = or_(ATTACHMENT.c.storage_path.is_not(None), ATTACHMENT.c.filepath.is_not(None))
        last_id = 0
        while True:
            batch = self._read(
                select(*columns)
                .where(has_bytes, verified.is_(None), ATTACHMENT.c.id > last_id)
                .order_by(ATTACHMENT.c.id)
            )
            if not batch:
                break
            for row in batch:
                yield self._located(row)
            last_id = batch[-1].id
        after: tuple[datetime, int] | None = None
        while True:
            query = select(*columns, verified).where(has_bytes, verified < began)
            if after is not None:
                query = query.where(or_(verified > after[0], and_(verified == after[0], ATTACHMENT.c.id > after[1])))
            batch = self._read(query.order_by(verified, ATTACHMENT.c.id))
            if not batch:
                return
            for row in batch:
                yield self._located(row)
            after = (batch[-1].last_verified_at, batch[-1].id)

    def _read(self, query) -> list:
        with self.engine.connect() as conn:
            return conn.execute(query.limit(BATCH)).all()

    def _located(self, row) -> RowSnapshot:
        found = snapshot("attachment", row)
        if found.storage_path:
            return found
        try:
            key = self.legacy.key_for(found.filepath)
        except StorageError:
            key = found.filepath  # refused by the legacy folder's guard, as its check will say
        return dataclasses.replace(found, storage_type=LEGACY, storage_path=key)

    def _record(self, row: RowSnapshot, outcome: str, reason: str | None) -> bool:
        """Stamp the row if it still points where it was checked; False when it changed meanwhile."""
        if row.storage_type == LEGACY:
            where = and_(ATTACHMENT.c.storage_path.is_(None), ATTACHMENT.c.filepath == row.filepath)
        else:
            where = and_(ATTACHMENT.c.storage_type == row.storage_type, ATTACHMENT.c.storage_path == row.storage_path)
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(ATTACHMENT)
                    .where(ATTACHMENT.c.id == row.id, where)
                    .values(
                        last_verified_at=self.now(),
                        verify_outcome=outcome,
                        verify_detail=(reason or "")[:DETAIL_MAX] or None,
                    )
                ).rowcount
            )
