"""One row's move: copy under a deterministic key, verify what the store holds, switch the row, quarantine."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy import Engine, select, update

from portal.cleanup.drain import discard_unrecorded
from portal.cleanup.outbox import OUTBOX, forget
from portal.extensions import storage
from portal.migration.claims import TABLES, RowSnapshot
from portal.migration.lifecycle import add_counts
from portal.migration.models import ITEM, SOURCE_MISSING, utcnow
from portal.migration.quarantine import ObjectQuarantine, Quarantine, other_references
from portal.migration.sources import copy_inside, object_metadata, plan_inside_copy, read_small
from portal.migration.transactions import writing
from portal.migration.verify import verify_copy
from portal.object_keys import migrated_key
from portal.storage.base import (
    SMALL_OBJECT_MAX,
    ObjectNotFound,
    StorageError,
    StorageIntegrityError,
    StorageProvider,
    StoredObject,
)
from portal.storage.encryption import CIPHERTEXT_TYPE, EncryptedObject
from portal.storage.streams import open_regular_file

log = logging.getLogger("portal.migration")


class ChunkStream(io.RawIOBase):
    """A readable stream over a provider's chunks, for sources that are not files on this disk."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._buffer = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def read(self, amount: int | None = -1) -> bytes:
        if amount is None or amount < 0:
            data = self._buffer + b"".join(self._chunks)
            self._buffer = b""
        else:
            while len(self._buffer) < amount:
                chunk = next(self._chunks, b"")
                if not chunk:
                    break
                self._buffer += chunk
            data, self._buffer = self._buffer[:amount], self._buffer[amount:]
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()
        super().close()


@dataclass(frozen=True)
class Upload:
    """What to send for a row: the stream, the SHA-256 it must have (None when unknown before sending),
    the key, and the row's encryption column (an encrypted row's bytes go up as they are)."""

    stream: BinaryIO
    key: str
    expected_sha256: str | None
    encryption: str | None
    metadata: dict
    #: a plaintext row encrypted as it is copied (STORAGE_ENCRYPTION=hybrid), and the hash its plaintext must have
    encrypt: bool = False
    plain_sha256: str | None = None
    #: the whole source, already read, when it is a small file going up as it is (see _small_file)
    body: bytes | None = None


@dataclass(frozen=True)
class ItemResult:
    """How one row's move ended: 'done', 'failed' or 'skipped' (the row changed or vanished meanwhile)."""

    table: str
    row_id: int
    status: str
    key: str | None = None
    size: int = 0
    sha256: str | None = None
    checked_by: str | None = None
    error: str | None = None
    source_kept: str | None = None


def describe(exc: BaseException, phase: str) -> str:
    """A one-line reason for the failures list; ``phase`` is 'source' (reading the source), 'copy' (a copy
    inside the store, which reads the source and writes the target) or 'target'.

    Storage messages are safe to show (they name no credential).
    """
    if isinstance(exc, StorageIntegrityError):
        text = str(exc)
        return text if text.startswith("checksum mismatch") else f"checksum mismatch: {text}"
    if isinstance(exc, OSError):
        return f"cannot read source: {exc.strerror or exc}"
    if phase in ("source", "copy") and isinstance(exc, ObjectNotFound):  # a copy inside the store reads the source
        return f"{SOURCE_MISSING}: {exc}"
    if phase == "source" and isinstance(exc, StorageError):
        return f"source unreadable: {exc}"
    if isinstance(exc, ObjectNotFound):
        return f"store lost the object right after writing it: {exc}"
    if isinstance(exc, StorageError):
        return f"store refused: {exc}"
    return f"unexpected error: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Copied:
    """A row whose bytes are in the store under ``key`` and proven there; its row is not switched yet."""

    row: RowSnapshot
    key: str
    size: int
    sha256: str
    checked_by: str
    #: the envelope of a row encrypted during this copy (its size and sha256 above are the plaintext's)
    encryption: str | None = None


class _Statements:
    """The few statements a commit runs, built once with bind parameters (building them per row costs
    more CPU than running them)."""

    def __init__(self, target_name: str):
        from sqlalchemy import bindparam

        item = ITEM
        self.item = (
            update(item)
            .where(
                item.c.id == bindparam("b_item"), item.c.status == "claimed", item.c.worker_id == bindparam("b_worker")
            )
            .values(
                status=bindparam("b_status"),
                object_key=bindparam("b_key"),
                size=bindparam("b_size"),
                sha256=bindparam("b_sha"),
                error=bindparam("b_error"),
                updated_at=bindparam("b_now"),
            )
        )
        self.item_skipped = (
            update(item)
            .where(item.c.id == bindparam("b_item"))
            .values(status="skipped", error=bindparam("b_error"), updated_at=bindparam("b_now"))
        )
        self.switch: dict[tuple[str, bool], object] = {}
        for name, table in TABLES.items():
            unchanged = (
                table.c.id == bindparam("b_id"),
                table.c.storage_path.is_not_distinct_from(bindparam("b_old_path")),
                table.c.storage_type == bindparam("b_old_type"),
                table.c.filepath.is_not_distinct_from(bindparam("b_old_filepath")),
            )
            # Plaintext rows take the object's size and hash (they are the file's); encrypted rows keep theirs.
            self.switch[name, False] = (
                update(table)
                .where(*unchanged, table.c.encryption.is_(None))
                .values(
                    storage_path=bindparam("b_key"),
                    storage_type=target_name,
                    size=bindparam("b_size"),
                    sha256=bindparam("b_sha"),
                )
            )
            self.switch[name, "encrypt"] = (
                update(table)
                .where(*unchanged, table.c.encryption.is_(None))
                .values(
                    storage_path=bindparam("b_key"),
                    storage_type=target_name,
                    size=bindparam("b_size"),
                    sha256=bindparam("b_sha"),
                    encryption=bindparam("b_encryption"),
                )
            )
            self.switch[name, True] = (
                update(table)
                .where(*unchanged, table.c.encryption == bindparam("b_old_encryption"))
                .values(storage_path=bindparam("b_key"), storage_type=target_name)
            )


class ItemMigrator:
    """Moves rows to ``target`` in two steps: copy() (thread-safe: upload and proof, no database write)
    and commit() (one short transaction switching a group of copied rows, each only if unchanged)."""

    def __init__(
        self,
        engine: Engine,
        documents,
        target: StorageProvider,
        *,
        verify: str = "auto",
        quarantine: Quarantine | None = None,
        source: StorageProvider | None = None,
        source_types: tuple[str, ...] | None = None,
    ):
        self.engine, self.documents, self.target = engine, documents, target
        self.verify, self.quarantine = verify, quarantine
        #: the object store rows are moved from, and the storage types its rows carry (None: the local disk)
        self.source, self.source_types = source, source_types
        # Two buckets one set of credentials reaches on one endpoint: objects are copied inside the store.
        shares = getattr(target, "shares_account_with", None)
        self.server_side = source is not None and shares is not None and shares(source)
        self._sql = _Statements(target.name)
        # With STORAGE_ENCRYPTION=hybrid, plaintext rows are encrypted as they are copied.
        self.encryption = storage.encryption if storage.encryption.enabled else None

    # -- the copy -------------------------------------------------------------------------------

    @contextmanager
    def upload_source(self, row: RowSnapshot) -> Iterator[Upload]:
        """What the migration sends to the store for ``row``: its bytes as they are (plaintext,
        or an encrypted row's ciphertext), or plaintext to be encrypted on the way (_send).

        The key needs the SHA-256 of the source up front: known from the row for plaintext rows, read
        from the file first otherwise. Raises ObjectNotFound when the source file is gone.
        """
        provider, key = self.documents.locate(row)
        as_is = row.encryption or self.encryption is None
        expected = row.sha256 if not row.encryption else None
        on_disk = provider.local_path(key) is not None
        if not on_disk:
            # An object store: the row says size and envelope, so no HEAD; a small object is read whole.
            metadata = object_metadata(row)
            body = read_small(provider, key) if as_is and row.stored_size <= SMALL_OBJECT_MAX else None
            if expected is None:
                expected = hashlib.sha256(body).hexdigest() if body is not None else _hash(provider, key)
            stream = io.BytesIO(body) if body is not None else ChunkStream(provider.open(key))
        else:
            metadata = {}
            if not row.is_legacy:
                metadata = dict(provider.stat(key).metadata)  # e.g. the envelope mirrored in a local sidecar
            stream = _open_source(provider, key)
        try:
            if on_disk:
                # A small file going up as it is is read once: the same bytes give the key's SHA-256 and go up
                # whole, with their size, so the target can take them in one request (S3: a direct PUT).
                body = _small_file(stream) if as_is else None
                if expected is None:
                    expected = hashlib.sha256(body).hexdigest() if body is not None else _hash(provider, key)
            if as_is:
                yield Upload(
                    stream, migrated_key(row.table, row.id, expected), expected, row.encryption, metadata, body=body
                )
            else:
                yield Upload(
                    stream,
                    migrated_key(row.table, row.id, expected),
                    None,
                    None,
                    metadata,
                    encrypt=True,
                    plain_sha256=expected,
                )
        finally:
            stream.close()

    def copy(self, row: RowSnapshot) -> Copied | ItemResult:
        """Upload ``row``'s bytes under its deterministic key and prove the store holds them.

        Returns Copied, or a 'failed' ItemResult (not yet recorded) for the row's own problems.
        """
        key, phase = None, "source"
        try:
            if self.server_side and (row.encryption or self.encryption is None):
                provider, source_key = self.documents.locate(row)
                planned = plan_inside_copy(row, provider, source_key)
                if planned is not None:
                    key, phase = planned[0], "copy"
                    self._withdraw_deletion(key)
                    inside = copy_inside(self.target, row, provider, source_key, planned)
                    phase = "target"
                    checked_by = verify_copy(
                        self.target, inside.key, inside.size, inside.sha256, self.verify, inside.store_sha256
                    )
                    return Copied(row, inside.key, inside.size, inside.sha256, checked_by)
            with self.upload_source(row) as upload:
                key, phase = upload.key, "target"
                self._withdraw_deletion(key)
                stored, sealed = self._send(row, upload)
            # The provider hashed exactly the bytes it sent; they must be the source's.
            if upload.expected_sha256 is not None and stored.sha256 != upload.expected_sha256:
                raise StorageIntegrityError("checksum mismatch: the bytes sent differ from the source's SHA-256")
            if sealed is not None and sealed.sha256 != upload.plain_sha256:
                raise StorageIntegrityError("checksum mismatch: the file changed while it was being encrypted")
            checked_by = verify_copy(
                self.target, upload.key, stored.size, stored.sha256, self.verify, stored.store_sha256
            )
        except Exception as exc:  # one row's trouble is recorded; the run goes on
            if not isinstance(exc, (StorageError, OSError)):
                log.exception("copying %s #%s failed", row.table, row.id)
            if key is not None:
                self._discard(row, key)
            error = describe(exc, phase)
            log.warning("%s #%s not migrated: %s", row.table, row.id, error)
            return ItemResult(row.table, row.id, "failed", key=key, error=error)
        if sealed is not None:
            return Copied(row, upload.key, sealed.size, sealed.sha256, checked_by, sealed.envelope)
        return Copied(row, upload.key, stored.size, stored.sha256, checked_by)

    def _send(self, row: RowSnapshot, upload: Upload) -> tuple[StoredObject, EncryptedObject | None]:
        """Through the target's save(): a small source already read (upload_source) with its size, which
        lets the target send it in one request (most of a migration's files are small, and an SDK's
        per-call work would cost more than the request); anything else streamed, encrypted on the way
        when asked. Returns what the store holds, and what was encrypted (None when nothing was)."""
        if upload.encrypt:
            sealed = self.encryption.save(self.target, upload.key, upload.stream, metadata=upload.metadata)
            return sealed.stored, sealed
        content_type = CIPHERTEXT_TYPE if row.encryption else row.content_type
        if upload.body is not None:
            return self.target.save(
                upload.key,
                io.BytesIO(upload.body),
                content_type=content_type,
                metadata=upload.metadata,
                expected_sha256=upload.expected_sha256,
                size=len(upload.body),
            ), None
        return self.target.save(
            upload.key,
            upload.stream,
            content_type=content_type,
            metadata=upload.metadata,
            expected_sha256=upload.expected_sha256,
        ), None

    def migrate(
        self, row: RowSnapshot, *, run_id: int | None = None, worker_id: int | None = None, delete_source: bool = False
    ) -> ItemResult:
        """copy() then commit() one row."""
        return self.commit([(row, self.copy(row))], run_id=run_id, worker_id=worker_id, delete_source=delete_source)[0]

    # -- the switch -----------------------------------------------------------------------------

    def commit(
        self,
        outcomes: list[tuple[RowSnapshot, Copied | ItemResult]],
        *,
        run_id: int | None,
        worker_id: int | None,
        delete_source: bool = False,
    ) -> list[ItemResult]:
        """Record failures and switch copied rows, all in one short transaction; then remove objects of
        rows that changed meanwhile, and quarantine sources of switched rows (``delete_source``).

        A row is switched only if its claim is still this worker's and it still looks as it did when
        claimed (storage_path, storage_type, filepath, encryption). Raises only for database errors,
        after which nothing of the group was recorded (the objects stay, under keys a retry reuses).
        """
        results: list[ItemResult] = []
        counts = {"items_done": 0, "bytes_done": 0, "items_failed": 0, "items_skipped": 0}
        now = utcnow()
        with writing(self.engine) as conn:
            for row, outcome in outcomes:
                result = self._commit_one(conn, row, outcome, worker_id, now)
                results.append(result)
                counter = {"done": "items_done", "failed": "items_failed", "skipped": "items_skipped"}[result.status]
                counts[counter] += 1
                if result.status == "done":
                    counts["bytes_done"] += result.size
            if run_id is not None:
                add_counts(conn, run_id, **counts)
        final = []
        for (row, _), result in zip(outcomes, results, strict=True):
            if result.status == "skipped" and result.key:
                self._discard(row, result.key)
            if result.status == "done" and delete_source:
                result = dataclasses.replace(result, source_kept=self._quarantine(row))
            final.append(result)
        return final

    def _commit_one(self, conn, row: RowSnapshot, outcome: Copied | ItemResult, worker_id, now) -> ItemResult:
        copied = isinstance(outcome, Copied)
        if row.item_id is not None:
            status = "done" if copied else outcome.status
            owned = conn.execute(
                self._sql.item,
                {
                    "b_item": row.item_id,
                    "b_worker": worker_id,
                    "b_status": status,
                    "b_now": now,
                    "b_key": outcome.key,
                    "b_size": outcome.size if copied else None,
                    "b_sha": outcome.sha256 if copied else None,
                    "b_error": None if copied else outcome.error[:2000],
                },
            ).rowcount
            if owned != 1:
                reason = "the claim was released (this worker was taken for dead); another worker moves the row"
                return ItemResult(row.table, row.id, "skipped", outcome.key, error=reason)
        if not copied:
            return outcome
        params = {
            "b_id": row.id,
            "b_old_path": row.storage_path,
            "b_old_type": row.storage_type,
            "b_old_filepath": row.filepath,
            "b_key": outcome.key,
        }
        if row.encryption:
            params["b_old_encryption"] = row.encryption
        else:
            params.update(b_size=outcome.size, b_sha=outcome.sha256)
        if outcome.encryption:
            params["b_encryption"] = outcome.encryption
        statement = self._sql.switch[row.table, "encrypt" if outcome.encryption else bool(row.encryption)]
        if conn.execute(statement, params).rowcount != 1:
            reason = self._why_changed(conn, row)
            if row.item_id is not None:
                conn.execute(self._sql.item_skipped, {"b_item": row.item_id, "b_error": reason, "b_now": now})
            return ItemResult(row.table, row.id, "skipped", outcome.key, error=reason)
        return ItemResult(row.table, row.id, "done", outcome.key, outcome.size, outcome.sha256, outcome.checked_by)

    def _why_changed(self, conn, row: RowSnapshot) -> str:
        table = TABLES[row.table]
        current = conn.execute(select(table.c.storage_path).where(table.c.id == row.id)).first()
        if current is None:
            return "the row was deleted during the copy"
        return "the row changed during the copy; the next run moves it as it is now"

    def _discard(self, row: RowSnapshot, key: str) -> None:
        """Delete an object this attempt wrote through the cleanup outbox: recorded first, deleted unless a row
        points at it (then it is not ours to delete); one the store refuses waits for `flask storage maintain`.
        When the database cannot record it, it is left (`flask storage orphans` finds it)."""
        discard_unrecorded(
            self.engine, lambda _name: self.target, [(self.target.name, key)], "migration", delete_unrecorded=False
        )

    def _withdraw_deletion(self, key: str) -> None:
        """Before writing ``key`` again (keys are deterministic, so a retry reuses the key an earlier attempt's
        cleanup may still owe a deletion): withdraw that deletion, waiting for a drain deleting it right now,
        so what this attempt writes is never deleted under it."""
        with self.engine.connect() as conn:
            owed = conn.execute(
                select(OUTBOX.c.id).where(OUTBOX.c.storage_type == self.target.name, OUTBOX.c.key == key).limit(1)
            ).first()
        if owed is not None:
            with self.engine.begin() as conn:
                forget(conn, self.target.name, key)

    # -- the source -----------------------------------------------------------------------------

    def _quarantine(self, row: RowSnapshot) -> str | None:
        """Move the row's source file (or object) to quarantine, after the switch committed; returns why it
        stayed, if it did."""
        if self.quarantine is None and self.source is None:
            return "no quarantine folder configured"
        try:
            holder = other_references(self.engine, row, self.source_types or ("local",))
            if holder:
                return f"kept: {holder} still reads the same file"
            provider, key = self.documents.locate(row)
            path = provider.local_path(key)
            if path is None:
                if self.source is None:  # a local run never moves objects
                    return f"kept: the {provider.name} store keeps no file on this host to quarantine"
                ObjectQuarantine(provider).move(key)
                return None
            if self.quarantine is None:
                return "no quarantine folder configured"
            self.quarantine.move(row, path, key)
        except (OSError, StorageError) as exc:
            log.warning("could not quarantine the source of %s #%s: %s", row.table, row.id, exc)
            return f"kept: {exc}"
        return None


def _open_source(provider: StorageProvider, key: str) -> BinaryIO:
    """The source as an open file where it is one (the S3 provider then reads large files in place)."""
    path = provider.local_path(key)
    if path is None:
        return ChunkStream(provider.open(key))
    try:
        return open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise ObjectNotFound(f"no file at {key!r}") from None


def _small_file(stream: BinaryIO) -> bytes | None:
    """The rest of ``stream`` when it is an open regular file with at most SMALL_OBJECT_MAX bytes left;
    else None, the stream where it was."""
    opened = open_regular_file(stream)
    if opened is None or opened[2].st_size - opened[1] > SMALL_OBJECT_MAX:
        return None
    body = stream.read(SMALL_OBJECT_MAX + 1)
    if len(body) > SMALL_OBJECT_MAX:  # it grew since: stream it after all
        stream.seek(opened[1])
        return None
    return body


def _hash(provider: StorageProvider, key: str) -> str:
    """The SHA-256 of the source's bytes, read through once before it goes up (the key needs it first)."""
    return provider.read_back(key)[1]
